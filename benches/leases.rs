//! Leases against a real Postgres, each figure next to its raw limit measured
//! in the same run (the same SQL sent straight to Postgres by this program):
//!   - credential issuance (`GET database/creds/ROLE`, leases fsync'd before
//!     the response) at 1, 8 and 32 clients: creds/s, p50, p99; raw: the
//!     role's creation statements in one transaction per user;
//!   - revoke-prefix of 5,000 leases: seconds until the last user is gone;
//!     raw: the same default revocation transaction at the same concurrency;
//!   - expiry: 10,000 token leases expiring in the same second: delay from
//!     that second to the last revocation.
//!
//! `QM_BENCH_STORAGE=postgresql` runs the server on postgresql storage (a
//! fresh database) instead of sled.
//!
//! Run: `cargo bench --bench leases` (Postgres from $QM_TEST_PG_URL, else
//! 127.0.0.1:5432; scripts/bench/leases.sh brings one up). QM_BENCH_SECS sets
//! the seconds per issuance run (default 5).

// A benchmark indexes its own fixtures and sums its own timings.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod common;

use common::{call, get_ok, load, pg, roles_with_prefix, start_server};
use reqwest::Client;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const PREFIX_LEASES: usize = 5_000;
const EXPIRING_TOKENS: usize = 10_000;
const REVOKE_CONCURRENCY: usize = 16;

fn creation_sql(name: &str, group: &str) -> String {
    format!(
        "CREATE ROLE \"{name}\" WITH LOGIN PASSWORD 'A1a-benchmarkpassword0000000000' VALID UNTIL '2100-01-01 00:00:00+0000';\
         GRANT {group} TO \"{name}\""
    )
}

fn revocation_sql(name: &str) -> String {
    format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{name}' AND pid <> pg_backend_pid();\
         REASSIGN OWNED BY \"{name}\" TO CURRENT_USER; DROP OWNED BY \"{name}\"; DROP ROLE IF EXISTS \"{name}\";"
    )
}

/// The statements as one implicit transaction in one round trip, as the
/// plugin sends them.
async fn in_transaction(client: &mut tokio_postgres::Client, sql: &str) -> Result<(), String> {
    client
        .batch_execute(sql)
        .await
        .map_err(|e| format!("{e:?}"))
}

async fn count_roles(url: &str, prefix: &str) -> i64 {
    pg(url)
        .await
        .query_one(
            "SELECT count(*) FROM pg_roles WHERE starts_with(rolname, $1)",
            &[&prefix],
        )
        .await
        .expect("count")
        .get(0)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let pg_url = std::env::var("QM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into());
    let secs: u64 = std::env::var("QM_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let http = Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("http");
    let server = Arc::new(start_server(&http).await);
    let run = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
    let group = format!("bench_reader_{run}");
    pg(&pg_url)
        .await
        .batch_execute(&format!("CREATE ROLE {group} NOLOGIN"))
        .await
        .expect("group role");

    call(
        &http,
        &server,
        "POST",
        "sys/mounts/database",
        json!({"type": "database"}),
    )
    .await;
    let (status, body) = call(
        &http,
        &server,
        "POST",
        "database/config/pg",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg_url, "allowed_roles": "*", "max_open_connections": 32}),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let role = format!("bn{run}");
    let (status, body) = call(
        &http,
        &server,
        "POST",
        &format!("database/roles/{role}"),
        json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                format!("GRANT {group} TO \"{{{{name}}}}\""),
            ],
            "default_ttl": "1h",
        }),
    )
    .await;
    assert_eq!(status, 204, "{body}");

    println!(
        "== credential issuance, {secs} s per run (Postgres at {})",
        pg_url.split('@').next_back().unwrap_or("")
    );
    println!(
        "{:>8} {:>12} {:>9} {:>9} {:>12} {:>9} {:>9} {:>8}",
        "clients", "qm creds/s", "p50 ms", "p99 ms", "raw users/s", "p50 ms", "p99 ms", "ratio"
    );
    let mut ratio_at_32 = 0.0;
    for clients in [1usize, 8, 32] {
        let (http2, server2, role2) = (http.clone(), Arc::clone(&server), role.clone());
        let ours = load(clients, secs, move |_| {
            let (http, server, role) = (http2.clone(), Arc::clone(&server2), role2.clone());
            async move { get_ok(&http, &server, &format!("database/creds/{role}")).await }
        })
        .await;
        let mut connections = Vec::new();
        for _ in 0..clients {
            connections.push(Arc::new(Mutex::new(pg(&pg_url).await)));
        }
        let (group2, run2) = (group.clone(), run.clone());
        let counter = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let raw = load(clients, secs, move |client| {
            let connection = Arc::clone(&connections[client]);
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let sql = creation_sql(&format!("raw-{run2}-c{clients}-{n}"), &group2);
            async move { in_transaction(&mut *connection.lock().await, &sql).await }
        })
        .await;
        let ratio = ours.0 / raw.0;
        if clients == 32 {
            ratio_at_32 = ratio;
        }
        println!(
            "{clients:>8} {:>12.0} {:>9.1} {:>9.1} {:>12.0} {:>9.1} {:>9.1} {ratio:>8.2}",
            ours.0, ours.1, ours.2, raw.0, raw.1, raw.2
        );
        // Clean up between runs (not timed).
        call(
            &http,
            &server,
            "PUT",
            &format!("sys/leases/revoke-prefix/database/creds/{role}"),
            json!({}),
        )
        .await;
    }
    // The HA issue's target on postgresql storage, where every lease write
    // is a network round trip and a commit: 0.7x; on sled 0.8x.
    let target = match std::env::var("QM_BENCH_STORAGE").as_deref() {
        Ok("postgresql") => 0.7,
        _ => 0.8,
    };
    println!("issuance at 32 clients / raw: {ratio_at_32:.2} (target >= {target:.2})");

    // Raw users left from the issuance runs are dropped by the raw revocation
    // measurement below; first top them up to exactly PREFIX_LEASES.
    println!("\n== revoke-prefix of {PREFIX_LEASES} leases (concurrency {REVOKE_CONCURRENCY})");
    let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut issuers = Vec::new();
    for _ in 0..32 {
        let (http, server, role, issued) = (
            http.clone(),
            Arc::clone(&server),
            role.clone(),
            Arc::clone(&issued),
        );
        issuers.push(tokio::spawn(async move {
            while issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < PREFIX_LEASES {
                let (status, body) = call(
                    &http,
                    &server,
                    "GET",
                    &format!("database/creds/{role}"),
                    json!({}),
                )
                .await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    for issuer in issuers {
        issuer.await.expect("issuer");
    }
    let user_prefix = format!("v-root-{}", &role[..8.min(role.len())]);
    assert_eq!(
        count_roles(&pg_url, &user_prefix).await,
        PREFIX_LEASES as i64
    );
    let started = Instant::now();
    let (status, body) = call(
        &http,
        &server,
        "PUT",
        &format!("sys/leases/revoke-prefix/database/creds/{role}"),
        json!({}),
    )
    .await;
    let ours = started.elapsed().as_secs_f64();
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        count_roles(&pg_url, &user_prefix).await,
        0,
        "every user dropped"
    );

    let raw_prefix = format!("raw-{run}-");
    let existing = roles_with_prefix(&pg_url, &raw_prefix).await;
    let mut names: Vec<String> = existing.into_iter().take(PREFIX_LEASES).collect();
    let creator = pg(&pg_url).await;
    let mut n = 0;
    while names.len() < PREFIX_LEASES {
        let name = format!("raw-{run}-top-{n}");
        creator
            .batch_execute(&creation_sql(&name, &group))
            .await
            .expect("create raw");
        names.push(name);
        n += 1;
    }
    let queue = Arc::new(Mutex::new(names));
    let started = Instant::now();
    let mut droppers = Vec::new();
    for _ in 0..REVOKE_CONCURRENCY {
        let (queue, url) = (Arc::clone(&queue), pg_url.clone());
        droppers.push(tokio::spawn(async move {
            let mut client = pg(&url).await;
            loop {
                let Some(name) = queue.lock().await.pop() else {
                    break;
                };
                in_transaction(&mut client, &revocation_sql(&name))
                    .await
                    .expect("raw drop");
            }
        }));
    }
    for dropper in droppers {
        dropper.await.expect("dropper");
    }
    let raw = started.elapsed().as_secs_f64();
    let _ = pg(&pg_url).await.batch_execute(&format!(
        "DO $$DECLARE r text; BEGIN FOR r IN SELECT rolname FROM pg_roles WHERE starts_with(rolname, '{raw_prefix}') LOOP EXECUTE format('DROP ROLE %I', r); END LOOP; END$$;"
    )).await;
    println!(
        "{:<40} {:>8.2} s {:>8.0} users/s",
        "qm revoke-prefix",
        ours,
        PREFIX_LEASES as f64 / ours
    );
    println!(
        "{:<40} {:>8.2} s {:>8.0} users/s",
        "raw: same DROP transaction, same concurrency",
        raw,
        PREFIX_LEASES as f64 / raw
    );
    println!("revoke-prefix / raw: {:.2} (target >= 0.80)", raw / ours);

    println!("\n== expiry: {EXPIRING_TOKENS} token leases expiring in the same second");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    let target = now() + 30;
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut creators = Vec::new();
    for _ in 0..32 {
        let (http, server, created) = (http.clone(), Arc::clone(&server), Arc::clone(&created));
        creators.push(tokio::spawn(async move {
            while created.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < EXPIRING_TOKENS {
                let ttl = target.saturating_sub(now());
                let (status, body) = call(
                    &http,
                    &server,
                    "POST",
                    "auth/token/create",
                    json!({"ttl": format!("{ttl}s"), "policies": ["default"]}),
                )
                .await;
                assert_eq!(status, 200, "{body}");
            }
        }));
    }
    for creator in creators {
        creator.await.expect("creator");
    }
    assert!(
        now() < target,
        "creating the tokens took longer than the window"
    );
    let expiry = std::time::UNIX_EPOCH + Duration::from_secs(target);
    while std::time::SystemTime::now() < expiry {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let since_expiry = || {
        std::time::SystemTime::now()
            .duration_since(expiry)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    let mut p99 = None;
    loop {
        let (status, body) = call(
            &http,
            &server,
            "LIST",
            "sys/leases/lookup/auth/token/create/",
            json!({}),
        )
        .await;
        let remaining = if status == 404 {
            0
        } else {
            body["data"]["keys"].as_array().map_or(0, Vec::len)
        };
        if p99.is_none() && remaining <= EXPIRING_TOKENS / 100 {
            p99 = Some(since_expiry());
        }
        if remaining == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let last = since_expiry();
    println!(
        "after their common expiry second: 99% revoked within {:.2} s (target < 2 s), the last at {last:.2} s",
        p99.unwrap_or(last)
    );
    let _ = pg(&pg_url)
        .await
        .batch_execute(&format!("DROP ROLE IF EXISTS {group}"))
        .await;
}
