//! Lease scale with 1,000,000 active leases (token leases: a lease source
//! without a backend), each figure next to its limit or baseline from the
//! same run:
//!   - server RSS per lease (target <= 300 bytes): RSS with 1M leases minus
//!     RSS of an empty server, after unseal and after lookups;
//!   - time from process start to unsealed-and-serving, empty vs 1M
//!     (target < 1 s, flat in N);
//!   - lease lookup latency (p50, p99) over random leases;
//!   - revoke-prefix of 100,000 leases;
//!   - the stall of a storage checkpoint (see `storage::sled_store`): the
//!     slowest of 10,000 token creations, which cross at least one, next
//!     to their p50 and p99.
//!
//! Run: `cargo bench --bench lease_scale` (QM_SCALE_LEASES overrides 1M).

// A benchmark indexes its own fixtures and sums its own timings.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{
    env_count, import_leases, init, now_unix, open_store, percentile, start_and_unseal, token_lease,
};
use quartermaster::barrier::StorageView;
use quartermaster::lease::LeaseStore;
use reqwest::Client;
use serde_json::json;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Token creations timed to catch a storage checkpoint.
const CHECKPOINT_WRITES: usize = 10_000;

fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .unwrap_or(0)
        * 1024
}

fn lease_id(i: usize) -> String {
    format!("bench/scale/{:02}/{i:07}", i % 10)
}

/// Writes `count` token leases straight into the store, as the server would.
async fn seed(data_dir: &Path, key: &str, count: usize) {
    let barrier = open_store(data_dir, key).await;
    let leases = LeaseStore::new(StorageView::new(Arc::clone(&barrier), "sys/lease/"));
    let now = now_unix();
    let records =
        (0..count).map(|i| token_lease(lease_id(i), None, now, now + 86_400 + (i as i64 % 3600)));
    import_leases(&leases, records).await;
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let count = env_count("QM_SCALE_LEASES", 1_000_000);
    let http = Client::new();

    // Baseline: an empty server.
    let empty_dir = tempfile::tempdir().expect("dir");
    let (empty_config, empty_key, _) = init(&http, empty_dir.path()).await;
    let (empty, empty_start) = start_and_unseal(&http, &empty_config, &empty_key).await;
    let empty_rss = rss_bytes(empty.child.id());
    drop(empty);

    let dir = tempfile::tempdir().expect("dir");
    let (config, key, token) = init(&http, dir.path()).await;
    let seeding = Instant::now();
    seed(&dir.path().join("data"), &key, count).await;
    let seeded_in = seeding.elapsed();

    let (server, start) = start_and_unseal(&http, &config, &key).await;
    let pid = server.child.id();
    let rss_unsealed = rss_bytes(pid);
    let mut latencies = Vec::new();
    for n in 0..2_000usize {
        let i = (n * 7919 + 13) % count;
        let t = Instant::now();
        let response = http
            .put(format!("{}/v1/sys/leases/lookup", server.addr))
            .header("X-Vault-Token", &token)
            .json(&json!({ "lease_id": lease_id(i) }))
            .send()
            .await
            .expect("lookup");
        assert_eq!(response.status().as_u16(), 200);
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    let rss_after = rss_bytes(pid);

    // Enough writes to cross a storage checkpoint (each token with a TTL
    // writes its entry, its indexes and its lease).
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut creators = Vec::new();
    for _ in 0..16 {
        let (http, addr, token, created) = (
            http.clone(),
            server.addr.clone(),
            token.clone(),
            Arc::clone(&created),
        );
        creators.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while created.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < CHECKPOINT_WRITES {
                let t = Instant::now();
                let response = http
                    .post(format!("{addr}/v1/auth/token/create"))
                    .header("X-Vault-Token", &token)
                    .json(&json!({"ttl": "1h", "policies": ["default"]}))
                    .send()
                    .await
                    .expect("token create");
                assert_eq!(response.status().as_u16(), 200);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut create_latencies = Vec::new();
    for creator in creators {
        create_latencies.extend(creator.await.expect("creator"));
    }
    create_latencies.sort();

    let revoking = Instant::now();
    let response = http
        .put(format!(
            "{}/v1/sys/leases/revoke-prefix/bench/scale/03/",
            server.addr
        ))
        .header("X-Vault-Token", &token)
        .send()
        .await
        .expect("revoke-prefix");
    let revoked_in = revoking.elapsed();
    assert_eq!(
        response.status().as_u16(),
        204,
        "{:?}",
        response.text().await
    );
    let (status, _) = {
        let r = http
            .put(format!("{}/v1/sys/leases/lookup", server.addr))
            .header("X-Vault-Token", &token)
            .json(&json!({ "lease_id": lease_id(3) }))
            .send()
            .await
            .expect("lookup");
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 400, "revoked lease is gone");

    let per_lease = |rss: u64| rss.saturating_sub(empty_rss) as f64 / count as f64;
    println!(
        "== {count} active leases (seeded in {:.1} s)",
        seeded_in.as_secs_f64()
    );
    println!("{:<52} {:>12}", "measurement", "value");
    println!(
        "{:<52} {:>10.0} MB",
        "RSS, empty server (baseline)",
        empty_rss as f64 / 1e6
    );
    println!(
        "{:<52} {:>10.0} MB",
        "RSS with leases, after unseal",
        rss_unsealed as f64 / 1e6
    );
    println!(
        "{:<52} {:>10.0} MB",
        "RSS with leases, after 2,000 lookups",
        rss_after as f64 / 1e6
    );
    println!(
        "{:<52} {:>10.1} B",
        "RSS per lease after unseal (target <= 300)",
        per_lease(rss_unsealed)
    );
    println!(
        "{:<52} {:>10.1} B",
        "RSS per lease after lookups (target <= 300)",
        per_lease(rss_after)
    );
    println!(
        "{:<52} {:>10.0} ms",
        "start to unsealed-and-serving, empty",
        empty_start.as_secs_f64() * 1000.0
    );
    println!(
        "{:<52} {:>10.0} ms",
        "start to unsealed-and-serving, with leases (< 1000)",
        start.as_secs_f64() * 1000.0
    );
    println!(
        "{:<52} {:>7.2}/{:.2} ms",
        "lease lookup p50/p99",
        p(0.5),
        p(0.99)
    );
    println!(
        "{:<52} {:>10.2} s",
        &format!("revoke-prefix of {} leases", count / 10),
        revoked_in.as_secs_f64()
    );
    println!(
        "{:<52} {:>4.1}/{:.1}/{:.0} ms",
        &format!("token create p50/p99/max, {CHECKPOINT_WRITES} (max: checkpoint stall)"),
        percentile(&create_latencies, 0.5),
        percentile(&create_latencies, 0.99),
        percentile(&create_latencies, 1.0),
    );
}
