//! The identity inventory at scale: 100,000 tokens (each an identity, with
//! an owner) holding 1,000,000 leases, seeded straight into the store. In
//! one run it prints:
//!   - the first page (100 identities) of `sys/nhi/identities`: the first
//!     request after start (cold), then p50/p99 of 30 (target < 100 ms), next to the floor (a `sys/health` round trip) and
//!     to what a naive inventory reads first (`LIST auth/token/accessors`,
//!     every accessor);
//!   - a first page filtered by owner (read through the owner index), a
//!     first page sorted by risk (read through the risk index), and the
//!     full scan that building the risk index costs;
//!   - the web console in headless Chromium (when chromedriver is there):
//!     first contentful paint (target < 1 s) and the identities table's 100
//!     rows rendered (target < 100 ms), next to the API's own answer time.
//!
//! Run: `cargo bench --bench nhi_scale` (QM_SCALE_TOKENS overrides 100,000;
//! each token holds 10 leases).

// A benchmark indexes its own fixtures and sums its own timings.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{
    env_count, import_leases, init, now_unix, open_store, percentile, start_and_unseal, token_lease,
};
use futures::StreamExt;
use quartermaster::auth::token::store::{NewToken, TokenStore};
use quartermaster::barrier::StorageView;
use quartermaster::clock::SystemClock;
use quartermaster::lease::LeaseStore;
use reqwest::Client;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const LEASES_PER_TOKEN: usize = 10;

/// Creates `count` owned tokens and their leases in a stopped server's store.
async fn seed(data_dir: &Path, key: &str, count: usize) {
    let barrier = open_store(data_dir, key).await;
    let tokens = Arc::new(
        TokenStore::open(
            StorageView::new(Arc::clone(&barrier), "sys/token/"),
            Arc::new(SystemClock),
        )
        .await
        .expect("token store"),
    );
    let hashes: Vec<String> = futures::stream::iter(0..count)
        .map(|i| {
            let tokens = Arc::clone(&tokens);
            async move {
                let meta = BTreeMap::from([
                    ("owner".to_string(), format!("team-{:03}", i % 500)),
                    ("purpose".to_string(), "bench".to_string()),
                ]);
                let spec = NewToken {
                    parent_hash: None,
                    policies: vec!["default".into()],
                    meta,
                    display_name: format!("token-svc-{i}"),
                    num_uses: 0,
                    ttl: 86_400,
                    explicit_max_ttl: 0,
                    period: 0,
                    renewable: true,
                    path: "auth/token/create".into(),
                    role: None,
                    id: None,
                    bound_cidrs: Vec::new(),
                };
                tokens.create(spec).await.expect("token").1.id_hash
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let leases = LeaseStore::new(StorageView::new(Arc::clone(&barrier), "sys/lease/"));
    let now = now_unix();
    let records = hashes.iter().enumerate().flat_map(|(i, hash)| {
        (0..LEASES_PER_TOKEN).map(move |j| {
            token_lease(
                format!("bench/nhi/{i:06}/{j}"),
                Some(hash.clone()),
                now,
                now + 86_400 + (i as i64 % 3600),
            )
        })
    });
    import_leases(&leases, records).await;
}

/// Times `runs` GETs of `path`; returns sorted latencies and the last body.
async fn time_get(
    http: &Client,
    addr: &str,
    token: &str,
    path: &str,
    runs: usize,
) -> (Vec<Duration>, Value) {
    let mut latencies = Vec::with_capacity(runs);
    let mut last = Value::Null;
    for _ in 0..runs {
        let started = Instant::now();
        let response = http
            .get(format!("{addr}/v1/{path}"))
            .header("X-Vault-Token", token)
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        last = response.json().await.unwrap_or(Value::Null);
        latencies.push(started.elapsed());
    }
    latencies.sort();
    (latencies, last)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count = env_count("QM_SCALE_TOKENS", 100_000);
    let http = Client::new();
    let dir = tempfile::tempdir().expect("dir");
    let (config, key, root) = init(&http, dir.path()).await;
    // The console is served too, for its timings.
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("ui = true\n{text}")).expect("config");
    let seeding = Instant::now();
    seed(&dir.path().join("data"), &key, count).await;
    let seeded_in = seeding.elapsed();
    let (server, _) = start_and_unseal(&http, &config, &key).await;
    let unsealed = Instant::now();
    let addr = server.addr.clone();

    let (health, _) = time_get(&http, &addr, &root, "sys/health", 50).await;
    let (cold, _) = time_get(&http, &addr, &root, "sys/nhi/identities?limit=100", 1).await;
    let (page, body) = time_get(&http, &addr, &root, "sys/nhi/identities?limit=100", 30).await;
    assert_eq!(
        body["data"]["identities"].as_array().map(Vec::len),
        Some(100)
    );
    assert_eq!(
        body["data"]["identities"][5]["active_leases"],
        LEASES_PER_TOKEN
    );
    let (owner_page, _) = time_get(
        &http,
        &addr,
        &root,
        "sys/nhi/identities?limit=100&owner=team-007",
        5,
    )
    .await;
    let (accessors, _) = time_get(&http, &addr, &root, "auth/token/accessors?list=true", 5).await;
    // The risk index is built in the background after unseal: a full
    // scan, scoring every identity; then sort=risk reads it.
    let index_built = loop {
        let (_, body) = time_get(
            &http,
            &addr,
            &root,
            "sys/nhi/identities?limit=1&sort=risk",
            1,
        )
        .await;
        if body["data"]["ranked_by_index"] == true {
            break unsealed.elapsed();
        }
        assert!(
            unsealed.elapsed() < Duration::from_secs(900),
            "the risk index was never built"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (full, body) = time_get(
        &http,
        &addr,
        &root,
        "sys/nhi/identities?limit=100&sort=risk",
        30,
    )
    .await;
    assert_eq!(
        body["data"]["identities"].as_array().map(Vec::len),
        Some(100)
    );
    let console = common::console::identities_page(&addr, &root, 5).await;

    let ms = |d: &[Duration], p: f64| percentile(d, p);
    println!(
        "== {count} token identities with {} leases (seeded in {:.1} s)",
        count * LEASES_PER_TOKEN,
        seeded_in.as_secs_f64()
    );
    println!("{:<58} {:>9} {:>9}", "measurement", "p50 ms", "p99 ms");
    println!(
        "{:<58} {:>9.2} {:>9.2}",
        "floor: GET sys/health",
        ms(&health, 0.5),
        ms(&health, 0.99)
    );
    println!(
        "{:<58} {:>9.2} {:>9}",
        "first page, first request after start (cold cache)",
        ms(&cold, 0.5),
        "-"
    );
    println!(
        "{:<58} {:>9.2} {:>9.2}",
        "first page, 100 identities (target < 100 ms)",
        ms(&page, 0.5),
        ms(&page, 0.99)
    );
    println!(
        "{:<58} {:>9.2} {:>9.2}",
        "first page filtered by owner (200 match)",
        ms(&owner_page, 0.5),
        ms(&owner_page, 0.99)
    );
    println!(
        "{:<58} {:>9.2} {:>9.2}",
        "naive: LIST auth/token/accessors (every accessor)",
        ms(&accessors, 0.5),
        ms(&accessors, 0.99)
    );
    println!(
        "{:<58} {:>9.2} {:>9.2}",
        "first page sorted by risk, from the index (target < 100 ms)",
        ms(&full, 0.5),
        ms(&full, 0.99)
    );
    println!(
        "{:<58} {:>9.2} {:>9}",
        "full scan: the index's first build (every identity scored)",
        index_built.as_secs_f64() * 1000.0,
        "-"
    );
    match console {
        Some(mut runs) => {
            let median = |runs: &mut Vec<common::console::ConsoleTiming>,
                          f: fn(&common::console::ConsoleTiming) -> f64| {
                let mut v: Vec<f64> = runs.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            let paint = median(&mut runs, |t| t.first_paint);
            let render = median(&mut runs, |t| t.rows_render);
            let total = median(&mut runs, |t| t.ask_to_rows);
            println!("console, {} loads of #/identities (median ms)", runs.len());
            println!(
                "{:<58} {:>9.2}",
                "  first contentful paint (target < 1 s)", paint
            );
            println!(
                "{:<58} {:>9.2}",
                "  100 rows rendered after the answer (target < 100 ms)", render
            );
            println!(
                "{:<58} {:>9.2}",
                "  asked to rows shown (API + render)", total
            );
            println!(
                "{:<58} {:>9.2}",
                "  floor: the same API page straight (p50 above)",
                ms(&page, 0.5)
            );
        }
        None => println!("console: not measured (no chromedriver; scripts/test.sh installs it)"),
    }
    drop(server);
}
