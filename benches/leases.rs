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
//! Run: `cargo bench --bench leases` (Postgres from $QM_TEST_PG_URL, else
//! 127.0.0.1:5432; scripts/bench/leases.sh brings one up). QM_BENCH_SECS sets
//! the seconds per issuance run (default 5).

use reqwest::Client;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

const PREFIX_LEASES: usize = 5_000;
const EXPIRING_TOKENS: usize = 10_000;
const REVOKE_CONCURRENCY: usize = 16;

struct Server {
    child: Child,
    addr: String,
    token: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_server(http: &Client) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("server.toml");
    std::fs::write(
        &config,
        format!(
            "log_level = \"warn\"\n[listener]\naddress = \"127.0.0.1:0\"\n[storage]\npath = \"{}\"\n",
            dir.path().join("data").display()
        ),
    )
    .expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["server", "--config", config.to_str().expect("path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qm");
    let stdout = child.stdout.take().expect("stdout");
    let mut addr = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(found) = line.trim().strip_prefix("Api Address: ") {
            addr = found.to_string();
        }
        if line.contains("server started") {
            break;
        }
    }
    let init: Value = http
        .put(format!("{addr}/v1/sys/init"))
        .json(&json!({"secret_shares": 1, "secret_threshold": 1}))
        .send()
        .await
        .expect("init")
        .json()
        .await
        .expect("init json");
    http.put(format!("{addr}/v1/sys/unseal"))
        .json(&json!({"key": init["keys"][0]}))
        .send()
        .await
        .expect("unseal");
    let token = init["root_token"].as_str().expect("token").to_string();
    Server {
        child,
        addr,
        token,
        _dir: dir,
    }
}

async fn call(
    http: &Client,
    server: &Server,
    method: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let response = http
        .request(
            method.parse().expect("method"),
            format!("{}/v1/{path}", server.addr),
        )
        .header("X-Vault-Token", &server.token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to Postgres");
    tokio::spawn(connection);
    client
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

/// Runs `clients` loops of `op` for `secs`; returns (ops/s, p50 ms, p99 ms).
async fn load<F, Fut>(clients: usize, secs: u64, op: F) -> (f64, f64, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let op = Arc::new(op);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for client in 0..clients {
        let (op, latencies) = (Arc::clone(&op), Arc::clone(&latencies));
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                if let Err(e) = op(client).await {
                    panic!("an operation failed during the benchmark: {e}");
                }
                mine.push(t.elapsed());
            }
            latencies.lock().await.extend(mine);
        }));
    }
    for task in tasks {
        task.await.expect("load task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut all = latencies.lock().await.clone();
    all.sort();
    (
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
    )
}

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

async fn in_transaction(client: &mut tokio_postgres::Client, sql: &str) -> Result<(), String> {
    let tx = client.transaction().await.map_err(|e| e.to_string())?;
    tx.batch_execute(sql).await.map_err(|e| format!("{e:?}"))?;
    tx.commit().await.map_err(|e| e.to_string())
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
            async move {
                let response = http
                    .get(format!("{}/v1/database/creds/{role}", server.addr))
                    .header("X-Vault-Token", &server.token)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if response.status().is_success() {
                    Ok(())
                } else {
                    Err(response.text().await.unwrap_or_default())
                }
            }
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
    println!("issuance at 32 clients / raw: {ratio_at_32:.2} (target >= 0.80)");

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
    let existing: Vec<String> = pg(&pg_url)
        .await
        .query(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)",
            &[&raw_prefix],
        )
        .await
        .expect("raw roles")
        .iter()
        .map(|r| r.get(0))
        .collect();
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
    loop {
        let (status, _) = call(
            &http,
            &server,
            "LIST",
            "sys/leases/lookup/auth/token/create/",
            json!({}),
        )
        .await;
        if status == 404 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let delay = std::time::SystemTime::now()
        .duration_since(expiry)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    println!("last of {EXPIRING_TOKENS} revoked {delay:.2} s after their expiry second (so p99 <= {delay:.2} s; target < 2 s)");
    let _ = pg(&pg_url)
        .await
        .batch_execute(&format!("DROP ROLE IF EXISTS {group}"))
        .await;
}
