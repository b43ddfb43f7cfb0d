//! kill -9 at random moments while KV v2 and v1 writes, token creation and
//! credential issuance run at once: after every restart, every write that
//! got a 2xx is there as written, every acknowledged token and lease still
//! answers, and every Postgres user of the role has a lease (none
//! untracked). `QM_KILL_ROUNDS` kills (3 here, 20 in
//! `scripts/faults/kill9.sh`, which prints the result line this prints).

use super::common::{pg_roles, pg_url, unique, TestServer};
use rand::Rng;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the server acknowledged in one round.
#[derive(Default)]
struct Acked {
    kv2: Vec<(String, u64)>,
    kv1: Vec<(String, u64)>,
    tokens: Vec<String>,
    leases: Vec<String>,
}

/// One client loop: sends `request(n)` until the server dies, recording
/// what each 2xx answer acknowledged.
async fn client(
    addr: String,
    token: String,
    kind: &'static str,
    worker: usize,
    round: usize,
    acked: Arc<Mutex<Acked>>,
) {
    let http = reqwest::Client::new();
    for n in 0u64.. {
        let key = format!("r{round}-w{worker}-{n}");
        let request = match kind {
            "kv2" => http
                .post(format!("{addr}/v1/secret/data/{key}"))
                .json(&json!({ "data": { "n": n } })),
            "kv1" => http
                .post(format!("{addr}/v1/kv/{key}"))
                .json(&json!({ "n": n })),
            "token" => http
                .post(format!("{addr}/v1/auth/token/create"))
                .json(&json!({ "policies": ["default"], "ttl": "1h" })),
            _ => http.get(format!("{addr}/v1/database/creds/{}", kind_role())),
        };
        let Ok(answer) = request.header("X-Vault-Token", &token).send().await else {
            return;
        };
        if !answer.status().is_success() {
            continue;
        }
        let body: Value = answer.json().await.unwrap_or_default();
        let mut acked = acked.lock().expect("acked");
        match kind {
            "kv2" => acked.kv2.push((key, n)),
            "kv1" => acked.kv1.push((key, n)),
            "token" => {
                if let Some(token) = body["auth"]["client_token"].as_str() {
                    acked.tokens.push(token.to_string());
                }
            }
            _ => {
                if let Some(lease) = body["lease_id"].as_str() {
                    acked.leases.push(lease.to_string());
                }
            }
        }
    }
}

/// The role issued from; set once per test run.
static ROLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
fn kind_role() -> &'static str {
    ROLE.get().expect("role set")
}

/// How many acknowledged items of `acked` are missing now.
async fn lost(server: &TestServer, acked: &Acked) -> Vec<String> {
    let mut missing = Vec::new();
    for (key, n) in &acked.kv2 {
        let (status, body) = server
            .root("GET", &format!("secret/data/{key}"), None)
            .await;
        if status != 200 || body["data"]["data"]["n"] != json!(n) {
            missing.push(format!("kv2 {key}: {status} {body}"));
        }
    }
    for (key, n) in &acked.kv1 {
        let (status, body) = server.root("GET", &format!("kv/{key}"), None).await;
        if status != 200 || body["data"]["n"] != json!(n) {
            missing.push(format!("kv1 {key}: {status} {body}"));
        }
    }
    for token in &acked.tokens {
        let (status, body) = server
            .call("GET", "auth/token/lookup-self", Some(token), None)
            .await;
        if status != 200 {
            missing.push(format!("token: {status} {body}"));
        }
    }
    for lease in &acked.leases {
        let (status, body) = server
            .root(
                "PUT",
                "sys/leases/lookup",
                Some(json!({ "lease_id": lease })),
            )
            .await;
        if status != 200 {
            missing.push(format!("lease {lease}: {status} {body}"));
        }
    }
    missing
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let rounds: usize = std::env::var("QM_KILL_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    let role = format!("k9{}", &unique()[..6]);
    ROLE.set(role.clone()).expect("set once");
    for (path, body) in [
        ("sys/mounts/secret", json!({ "type": "kv-v2" })),
        ("sys/mounts/kv", json!({ "type": "kv" })),
        ("sys/mounts/database", json!({ "type": "database" })),
        (
            "database/config/pg",
            json!({ "plugin_name": "postgresql-database-plugin", "connection_url": pg_url(), "allowed_roles": "*" }),
        ),
        (
            &format!("database/roles/{role}"),
            json!({
                "db_name": "pg",
                "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                "default_ttl": "1h",
            }),
        ),
    ] {
        let (status, answer) = server.root("POST", path, Some(body)).await;
        assert!(status < 300, "{path}: {answer}");
    }
    let user_prefix = format!("v-root-{role}-");
    let mut total = Acked::default();
    let mut lost_items = Vec::new();
    let mut recovery = Duration::ZERO;
    for round in 0..rounds {
        let acked = Arc::new(Mutex::new(Acked::default()));
        let mut clients = Vec::new();
        for (worker, kind) in ["kv2", "kv2", "kv1", "token", "creds"]
            .into_iter()
            .enumerate()
        {
            clients.push(tokio::spawn(client(
                server.addr.clone(),
                server.root_token.clone(),
                kind,
                worker,
                round,
                Arc::clone(&acked),
            )));
        }
        let wait = rand::thread_rng().gen_range(300..1500);
        tokio::time::sleep(Duration::from_millis(wait)).await;
        server.kill();
        for client in clients {
            let _ = client.await;
        }
        let started = Instant::now();
        server.restart();
        server.unseal(&key).await;
        recovery += started.elapsed();
        let acked = Arc::try_unwrap(acked)
            .ok()
            .expect("clients done")
            .into_inner()
            .expect("acked");
        lost_items.extend(lost(&server, &acked).await);
        total.kv2.extend(acked.kv2);
        total.kv1.extend(acked.kv1);
        total.tokens.extend(acked.tokens);
        total.leases.extend(acked.leases);
    }
    // Pending leases of the killed processes are rolled back at unseal;
    // then every user of the role has a lease.
    tokio::time::sleep(Duration::from_secs(2)).await;
    lost_items.extend(lost(&server, &total).await);
    let users = pg_roles(&user_prefix).await;
    let leases = server.lease_count(&format!("database/creds/{role}/")).await;
    let untracked = users.len().saturating_sub(leases);
    let (status, body) = server.root("GET", "database/reconcile/pg", None).await;
    assert_eq!(status, 200, "{body}");
    let acknowledged = total.kv2.len() + total.kv1.len() + total.tokens.len() + total.leases.len();
    println!(
        "kill9: {rounds} kill -9 during KV v2/v1 writes, token creation and issuance; acknowledged {acknowledged} ({} kv2, {} kv1, {} tokens, {} leases); lost {}; untracked Postgres users {untracked}; restart to unsealed {} ms on average",
        total.kv2.len(),
        total.kv1.len(),
        total.tokens.len(),
        total.leases.len(),
        lost_items.len(),
        recovery.as_millis() / rounds.max(1) as u128,
    );
    server
        .root(
            "PUT",
            &format!("sys/leases/revoke-prefix/database/creds/{role}"),
            None,
        )
        .await;
    assert!(acknowledged > 0, "nothing was acknowledged");
    assert!(
        lost_items.is_empty(),
        "lost after kill -9:\n{}",
        lost_items.join("\n")
    );
    assert_eq!(users.len(), leases, "users {users:?} vs {leases} leases");
    assert_eq!(body["data"]["leaked"], json!([]), "{body}");
}
