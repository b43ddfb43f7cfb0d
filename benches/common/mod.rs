//! Helpers shared by the benchmarks that drive a real `qm` server: start
//! one (release build, sled in a temp dir, initialized and unsealed), call
//! it, and run timed load with latency percentiles.

#![allow(dead_code, unreachable_pub)]

pub mod console;

use reqwest::Client;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A running `qm server`, killed on drop.
pub struct Process {
    pub child: Child,
    pub addr: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server config in `dir` (sled under `dir/data`, a free loopback port).
pub fn write_config(dir: &Path) -> PathBuf {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "log_level = \"warn\"\n[listener]\naddress = \"127.0.0.1:0\"\n[storage]\npath = \"{}\"\n",
            dir.join("data").display()
        ),
    )
    .expect("config");
    config
}

/// The benchmark's Postgres server URL.
pub fn pg_server_url() -> String {
    std::env::var("QM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

/// A plain connection to the benchmark's Postgres.
#[allow(dead_code)]
pub async fn pg(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("connect to Postgres");
    tokio::spawn(connection);
    client
}

/// The Postgres roles whose name starts with `prefix`.
#[allow(dead_code)]
pub async fn roles_with_prefix(url: &str, prefix: &str) -> Vec<String> {
    pg(url)
        .await
        .query(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)",
            &[&prefix],
        )
        .await
        .expect("roles")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// Creates an empty database named `PREFIX_<random>`; returns its URL.
pub async fn fresh_database(prefix: &str) -> String {
    let server = pg_server_url();
    let client = pg(&server).await;
    let name = format!(
        "{prefix}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create database");
    let (base, query) = server.split_once('?').unwrap_or((&server, ""));
    let base = base.rsplit_once('/').map(|(b, _)| b).unwrap_or(base);
    match query {
        "" => format!("{base}/{name}"),
        q => format!("{base}/{name}?{q}"),
    }
}

/// A config for a node of a cluster on `url` (a free loopback port).
pub fn write_cluster_config(dir: &Path, url: &str, lock_ttl: &str) -> PathBuf {
    let config = dir.join("server.toml");
    std::fs::write(
        &config,
        format!(
            "log_level = \"warn\"\n[listener]\naddress = \"127.0.0.1:0\"\n[storage]\ntype = \"postgresql\"\nha_enabled = true\nconnection_url = \"{url}\"\nha_lock_ttl = \"{lock_ttl}\"\n"
        ),
    )
    .expect("config");
    config
}

/// Starts `qm server --config` and waits for its banner.
pub fn spawn(config: &Path) -> Process {
    // QM_BENCH_BIN runs another build (an A/B against an older commit).
    let binary = std::env::var("QM_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_qm").into());
    let mut child = Command::new(binary)
        .args(["server", "--config", config.to_str().expect("path")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qm");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut addr = String::new();
    for line in lines.by_ref().map_while(Result::ok) {
        if let Some(found) = line.trim().strip_prefix("Api Address: ") {
            addr = found.to_string();
        }
        if line.contains("server started") {
            break;
        }
    }
    // Keep draining so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Process { child, addr }
}

/// An initialized, unsealed server with its root token.
pub struct Server {
    pub addr: String,
    pub token: String,
    _process: Option<Process>,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server this program did not start (a node of a cluster).
    #[allow(dead_code)]
    pub fn external(addr: &str, token: &str) -> Self {
        Self {
            addr: addr.to_string(),
            token: token.to_string(),
            _process: None,
            _dir: None,
        }
    }
}

/// Starts an initialized, unsealed server: on sled, or with
/// `QM_BENCH_STORAGE=postgresql` on a fresh database of the benchmark's
/// Postgres (`QM_TEST_PG_URL`, else 127.0.0.1:5432).
pub async fn start_server(http: &Client) -> Server {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = match std::env::var("QM_BENCH_STORAGE").as_deref() {
        Ok("postgresql") => {
            let url = fresh_database("qm_bench").await;
            write_cluster_config(dir.path(), &url, "10s")
        }
        _ => write_config(dir.path()),
    };
    let process = spawn(&config);
    let addr = process.addr.clone();
    let (key, token) = sys_init(http, &addr).await;
    http.put(format!("{addr}/v1/sys/unseal"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .expect("unseal");
    Server {
        addr,
        token,
        _process: Some(process),
        _dir: Some(dir),
    }
}

pub async fn call(
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

pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank].as_secs_f64() * 1000.0
}

/// Runs `clients` loops of `op` for `secs`; returns (ops/s, p50 ms, p99 ms).
pub async fn load<F, Fut>(clients: usize, secs: u64, op: F) -> (f64, f64, f64)
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

/// GETs `/v1/PATH` with the root token; an error carries the body.
pub async fn get_ok(http: &Client, server: &Server, path: &str) -> Result<(), String> {
    let response = http
        .get(format!("{}/v1/{path}", server.addr))
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

/// Starts the server on `config`, unseals it, and returns it with the time
/// from process start to the first 200 from sys/health.
pub async fn start_and_unseal(http: &Client, config: &Path, key: &str) -> (Process, Duration) {
    let started = Instant::now();
    let server = spawn(config);
    http.put(format!("{}/v1/sys/unseal", server.addr))
        .json(&json!({ "key": key }))
        .send()
        .await
        .expect("unseal");
    loop {
        let health = http
            .get(format!("{}/v1/sys/health", server.addr))
            .send()
            .await;
        if matches!(health, Ok(r) if r.status().as_u16() == 200) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (server, started.elapsed())
}

pub async fn init(http: &Client, dir: &Path) -> (std::path::PathBuf, String, String) {
    let config = write_config(dir);
    let server = spawn(&config);
    let (key, token) = sys_init(http, &server.addr).await;
    drop(server);
    (config, key, token)
}

/// Initializes the server at `addr` with one key share: (key, root token).
pub async fn sys_init(http: &Client, addr: &str) -> (String, String) {
    let body: Value = http
        .put(format!("{addr}/v1/sys/init"))
        .json(&json!({"secret_shares": 1, "secret_threshold": 1}))
        .send()
        .await
        .expect("init")
        .json()
        .await
        .expect("init json");
    let key = body["keys"][0].as_str().expect("key").to_string();
    let token = body["root_token"].as_str().expect("token").to_string();
    (key, token)
}

/// Opens a stopped server's store directly and unseals it with `key`, to
/// seed it faster than the API could.
pub async fn open_store(data_dir: &Path, key: &str) -> Arc<quartermaster::barrier::Barrier> {
    use quartermaster::barrier::{seal, Barrier};
    use quartermaster::storage::{SledStorage, Storage};
    let storage: Arc<dyn Storage> = Arc::new(SledStorage::open(data_dir).expect("open"));
    let barrier = Barrier::new(storage, Arc::new(quartermaster::clock::SystemClock));
    let share = seal::decode_share(key).expect("key");
    let kek = seal::combine(&[share], 1).expect("kek");
    barrier.unseal(&kek).await.expect("unseal");
    barrier
}

/// The current Unix time in seconds.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
        .unwrap_or(0)
}

/// Imports `records` into the ledger 10,000 at a time.
pub async fn import_leases(
    leases: &quartermaster::lease::LeaseStore,
    records: impl Iterator<Item = quartermaster::lease::LeaseRecord>,
) {
    let mut batch = Vec::with_capacity(10_000);
    for record in records {
        batch.push(record);
        if batch.len() == batch.capacity() {
            leases.import(&batch, "seed").await.expect("import");
            batch.clear();
        }
    }
    leases.import(&batch, "seed").await.expect("import");
}

/// An active token lease as the server records one, for seeding.
pub fn token_lease(
    lease_id: String,
    token_hash: Option<String>,
    now: i64,
    due_at: i64,
) -> quartermaster::lease::LeaseRecord {
    use quartermaster::lease::{LeaseKind, LeaseRecord, LeaseState};
    LeaseRecord {
        internal: json!({ "id_hash": format!("seed-{lease_id}") }),
        lease_id,
        kind: LeaseKind::Token,
        mount: "auth/token/".into(),
        role: String::new(),
        token_hash,
        issued_at: now,
        expire_at: due_at,
        max_expire_at: now + 2 * 86_400,
        renewable: true,
        state: LeaseState::Active,
        due_at,
        revoke_attempts: 0,
        last_error: None,
        backend_unreachable: false,
        last_renewal: None,
    }
}

/// A count from the environment (`QM_SCALE_*`), or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
