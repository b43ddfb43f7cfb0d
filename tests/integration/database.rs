//! Leased Postgres users, against the real test Postgres: issue, use,
//! renew, revoke (alone, by prefix, with a token), expiry, restarts, a
//! database outage, crash safety, bad input and quotas.

use super::common::{
    connect_as, mount_database, mount_database_role, pg, pg_roles, pg_url, revoke_now, unique,
    PgProxy, TestServer,
};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A table readable by a group role, both named for this test.
struct Fixture {
    suffix: String,
    table: String,
    group: String,
}

impl Fixture {
    async fn new() -> Self {
        let suffix = unique();
        let table = format!("qm_t_{suffix}");
        let group = format!("qm_reader_{suffix}");
        pg().await
            .batch_execute(&format!(
                "CREATE TABLE {table} (id int); INSERT INTO {table} VALUES (42);\
                 CREATE ROLE {group} NOLOGIN; GRANT SELECT ON {table} TO {group};"
            ))
            .await
            .expect("fixture");
        Self {
            suffix,
            table,
            group,
        }
    }

    /// A role that creates users in the reader group (the pattern that scales).
    fn role_body(&self, default_ttl: &str, max_ttl: &str) -> Value {
        json!({
            "db_name": "pg",
            "creation_statements": [
                "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                format!("GRANT {} TO \"{{{{name}}}}\"", self.group),
            ],
            "default_ttl": default_ttl,
            "max_ttl": max_ttl,
        })
    }

    async fn drop(self) {
        let _ = pg()
            .await
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {}; DROP ROLE IF EXISTS {};",
                self.table, self.group
            ))
            .await;
    }
}

/// Mounts `database/` and configures `pg` to reach `url`.
pub(crate) async fn configure(server: &TestServer, url: &str) {
    mount_database(server).await;
    let (status, body) = server
        .root(
            "POST",
            "database/config/pg",
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": url,
                "allowed_roles": "*",
                "max_open_connections": 8,
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

async fn creds(server: &TestServer, token: &str, role: &str) -> (String, String, String) {
    let (status, body) = server
        .call("GET", &format!("database/creds/{role}"), Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    (
        body["lease_id"].as_str().expect("lease id").to_string(),
        body["data"]["username"]
            .as_str()
            .expect("username")
            .to_string(),
        body["data"]["password"]
            .as_str()
            .expect("password")
            .to_string(),
    )
}

/// The Prometheus metrics, as a scraper sees them.
async fn metric_lines(server: &TestServer) -> String {
    let (status, text) = server
        .text("sys/metrics?format=prometheus", &server.root_token)
        .await;
    assert_eq!(status, 200, "{text}");
    text
}

async fn valid_until(user: &str) -> String {
    pg().await
        .query_one(
            "SELECT rolvaliduntil::text FROM pg_roles WHERE rolname = $1",
            &[&user],
        )
        .await
        .expect("role exists")
        .get(0)
}

async fn wait_for(what: &str, timeout: Duration, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_use_renew_and_revoke_through_bao_and_vaultrs() {
    let server = TestServer::dev();
    let fixture = Fixture::new().await;
    configure(&server, &pg_url()).await;
    let role = format!("ro_{}", fixture.suffix);
    let (status, body) = server
        .root(
            "POST",
            &format!("database/roles/{role}"),
            Some(fixture.role_body("1h", "2h")),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    // vaultrs issues credentials; they log in and read, and may not write.
    let client = vaultrs::client::VaultClient::new(
        vaultrs::client::VaultClientSettingsBuilder::default()
            .address(&server.addr)
            .token(&server.root_token)
            .build()
            .expect("settings"),
    )
    .expect("client");
    let issued = vaultrs::database::role::creds(&client, "database", &role)
        .await
        .expect("vaultrs creds");
    let user = connect_as(&issued.username, &issued.password)
        .await
        .expect("login with issued creds");
    let row = user
        .query_one(&format!("SELECT id FROM {}", fixture.table), &[])
        .await
        .expect("read");
    assert_eq!(row.get::<_, i32>(0), 42);
    let write = user
        .execute(&format!("INSERT INTO {} VALUES (1)", fixture.table), &[])
        .await;
    assert!(write.is_err(), "the role grants reads only");

    // The bao CLI: issue, renew, revoke.
    let out = server.bao(
        &server.root_token,
        &["read", "-format=json", &format!("database/creds/{role}")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: Value = serde_json::from_slice(&out.stdout).expect("json");
    let lease_id = body["lease_id"].as_str().expect("lease").to_string();
    let username = body["data"]["username"]
        .as_str()
        .expect("username")
        .to_string();
    assert!(username.starts_with("v-root-ro_"), "{username}");
    assert_eq!(body["lease_duration"], 3600);
    let before = valid_until(&username).await;
    let out = server.bao(
        &server.root_token,
        &["lease", "renew", "-increment=90m", &lease_id],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = valid_until(&username).await;
    assert!(after > before, "VALID UNTIL moved: {before} -> {after}");
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/renew",
            Some(json!({"lease_id": lease_id, "increment": "10h"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["lease_duration"].as_i64().expect("duration") <= 7200,
        "max TTL holds: {body}"
    );
    assert!(
        body["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("max TTL"),
        "{body}"
    );

    let out = server.bao(&server.root_token, &["lease", "revoke", "-sync", &lease_id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(pg_roles(&username).await.is_empty(), "the user is dropped");
    let (status, _) = server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, 400, "the lease is gone");

    let (status, body) = server
        .root("GET", "sys/leases/lookup/database/creds/?list=true", None)
        .await;
    assert_eq!(status, 200, "{body}");
    server
        .root(
            "PUT",
            &format!("sys/leases/revoke-prefix/database/creds/{role}"),
            None,
        )
        .await;
    assert!(
        connect_as(&issued.username, &issued.password)
            .await
            .is_err(),
        "login fails once revoked"
    );
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_prefix_and_token_revocation() {
    let server = TestServer::dev();
    let fixture = Fixture::new().await;
    configure(&server, &pg_url()).await;
    let short = format!("sh_{}", fixture.suffix);
    let keep = format!("kp_{}", fixture.suffix);
    let other = format!("ot_{}", fixture.suffix);
    server
        .root(
            "POST",
            &format!("database/roles/{short}"),
            Some(fixture.role_body("2s", "1h")),
        )
        .await;
    server
        .root(
            "POST",
            &format!("database/roles/{keep}"),
            Some(fixture.role_body("1h", "2h")),
        )
        .await;
    server
        .root(
            "POST",
            &format!("database/roles/{other}"),
            Some(fixture.role_body("1h", "2h")),
        )
        .await;

    // A 2-second lease disappears on its own.
    let (_, expiring, _) = creds(&server, &server.root_token, &short).await;
    assert_eq!(pg_roles(&expiring).await.len(), 1);
    wait_for(
        "the 2 s lease to be revoked",
        Duration::from_secs(10),
        async || pg_roles(&expiring).await.is_empty(),
    )
    .await;

    // revoke-prefix takes one role's users and leaves another's.
    let mut kept = Vec::new();
    let mut others = Vec::new();
    for _ in 0..3 {
        kept.push(creds(&server, &server.root_token, &keep).await.1);
        others.push(creds(&server, &server.root_token, &other).await.1);
    }
    let (status, body) = server
        .root(
            "PUT",
            &format!("sys/leases/revoke-prefix/database/creds/{keep}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    for user in &kept {
        assert!(pg_roles(user).await.is_empty(), "{user} revoked");
    }
    for user in &others {
        assert_eq!(pg_roles(user).await.len(), 1, "{user} untouched");
    }

    // A revoked token takes its leases (and its children's) with it.
    let policy = format!("path \"database/creds/{other}\" {{ capabilities = [\"read\"] }}\npath \"auth/token/create\" {{ capabilities = [\"update\"] }}");
    server
        .root(
            "PUT",
            "sys/policies/acl/app",
            Some(json!({"policy": policy})),
        )
        .await;
    let (_, token_body) = server
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["app"]})),
        )
        .await;
    let app_token = token_body["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (_, child_body) = server
        .call(
            "POST",
            "auth/token/create",
            Some(&app_token),
            Some(json!({})),
        )
        .await;
    let child_token = child_body["auth"]["client_token"]
        .as_str()
        .expect("child")
        .to_string();
    let (_, mine, _) = creds(&server, &app_token, &other).await;
    let (_, childs, _) = creds(&server, &child_token, &other).await;
    let (status, _) = server
        .root(
            "PUT",
            "auth/token/revoke",
            Some(json!({"token": app_token})),
        )
        .await;
    assert_eq!(status, 204);
    assert!(
        pg_roles(&mine).await.is_empty(),
        "the token's lease is revoked with it"
    );
    assert!(pg_roles(&childs).await.is_empty(), "and its child's");
    for user in &others {
        assert_eq!(pg_roles(user).await.len(), 1, "root's leases stay");
    }

    // Background revoke-prefix reports its progress.
    let (status, body) = server
        .root(
            "PUT",
            &format!("sys/leases/revoke-prefix/database/creds/{other}"),
            Some(json!({"sync": false})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let job = body["data"]["job_id"].as_str().expect("job").to_string();
    wait_for("the job to finish", Duration::from_secs(10), async || {
        server
            .root("GET", &format!("sys/nhi/jobs/{job}"), None)
            .await
            .1["data"]["done"]
            == true
    })
    .await;
    let (_, status) = server
        .root("GET", &format!("sys/nhi/jobs/{job}"), None)
        .await;
    assert_eq!(status["data"]["revoked"], 3, "{status}");
    for user in &others {
        assert!(pg_roles(user).await.is_empty());
    }
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_survive_restart_and_expired_ones_are_revoked_after_it() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    let fixture = Fixture::new().await;
    configure(&server, &pg_url()).await;
    let short = format!("sh_{}", fixture.suffix);
    let long = format!("lg_{}", fixture.suffix);
    server
        .root(
            "POST",
            &format!("database/roles/{short}"),
            Some(fixture.role_body("3s", "1h")),
        )
        .await;
    server
        .root(
            "POST",
            &format!("database/roles/{long}"),
            Some(fixture.role_body("1h", "2h")),
        )
        .await;
    let (_, expiring, _) = creds(&server, &server.root_token, &short).await;
    let (long_lease, lasting, _) = creds(&server, &server.root_token, &long).await;

    server.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        pg_roles(&expiring).await.len(),
        1,
        "nobody revoked it while the server was down"
    );
    server.restart();
    server.unseal(&key).await;
    wait_for(
        "the lease that expired while down to be revoked",
        Duration::from_secs(10),
        async || pg_roles(&expiring).await.is_empty(),
    )
    .await;
    assert_eq!(pg_roles(&lasting).await.len(), 1);
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": long_lease})),
        )
        .await;
    assert_eq!(
        (status, &body["data"]["state"]),
        (200, &json!("active")),
        "{body}"
    );
    server
        .root("PUT", "sys/leases/revoke-prefix/database/", None)
        .await;
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_retries_while_the_database_is_down() {
    let server = TestServer::dev();
    let fixture = Fixture::new().await;
    let mut proxy = PgProxy::start().await;
    configure(&server, &proxy.url()).await;
    let role = format!("dn_{}", fixture.suffix);
    server
        .root(
            "POST",
            &format!("database/roles/{role}"),
            Some(fixture.role_body("1h", "2h")),
        )
        .await;
    let (lease_id, user, _) = creds(&server, &server.root_token, &role).await;
    let metrics = metric_lines(&server).await;
    assert!(
        metrics.contains(&format!(
            "qm_leases_active{{mount=\"database/\",role=\"{role}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("qm_requests_total{mount=\"database/\",status=\"200\"}"));

    proxy.cut();
    let (status, body) = revoke_now(&server, &lease_id).await;
    assert!(
        status >= 500,
        "the revocation fails while the database is down: {status} {body}"
    );
    let (_, looked) = server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert!(
        looked["data"]["revoke_attempts"].as_u64().unwrap_or(0) >= 1,
        "{looked}"
    );
    assert!(
        looked["data"]["last_error"].as_str().is_some(),
        "the failure is visible: {looked}"
    );
    let (status, body) = server
        .root("GET", &format!("database/creds/{role}"), None)
        .await;
    assert!(
        (500..600).contains(&status),
        "issuing fails clearly while down: {status} {body}"
    );
    assert_eq!(pg_roles(&user).await.len(), 1);
    // The revoked lease and the one whose issuing failed are both retried.
    let metrics = metric_lines(&server).await;
    assert!(
        metrics.contains("qm_leases_revocation_retrying 2"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("qm_lease_revocation_failures_total 0"),
        "{metrics}"
    );
    let status = super::common::ok_stdout(&server.qm(&server.root_token, &["status"]));
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Revocations Retrying") && l.trim_end().ends_with(" 2")),
        "{status}"
    );

    proxy.restore().await;
    wait_for(
        "the retry to revoke the user once the database is back",
        Duration::from_secs(20),
        async || pg_roles(&user).await.is_empty(),
    )
    .await;
    let (status, _) = server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, 400, "the lease is gone once revoked");
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_issuing_leaves_no_untracked_user() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    let fixture = Fixture::new().await;
    configure(&server, &pg_url()).await;
    let role = format!("kl_{}", fixture.suffix);
    server
        .root(
            "POST",
            &format!("database/roles/{role}"),
            Some(fixture.role_body("1h", "2h")),
        )
        .await;
    let prefix = format!("v-root-{}", &role[..8.min(role.len())]);

    for round in 0..4 {
        let addr = server.addr.clone();
        let token = server.root_token.clone();
        let path = format!("database/creds/{role}");
        let mut clients = Vec::new();
        for _ in 0..4 {
            let (addr, token, path) = (addr.clone(), token.clone(), path.clone());
            clients.push(tokio::spawn(async move {
                let http = reqwest::Client::new();
                for _ in 0..200 {
                    let sent = http
                        .get(format!("{addr}/v1/{path}"))
                        .header("X-Vault-Token", &token)
                        .send()
                        .await;
                    if sent.is_err() {
                        break;
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(300 + 150 * round)).await;
        server.kill();
        for client in clients {
            let _ = client.await;
        }
        server.restart();
        server.unseal(&key).await;
    }
    // After the last restart: pending leases are rolled back, and then every
    // user of this role in Postgres has a lease, and every lease a user.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let users = pg_roles(&prefix).await;
    let leases = server.lease_count(&format!("database/creds/{role}/")).await;
    assert!(!users.is_empty(), "the clients issued something");
    assert_eq!(
        users.len(),
        leases,
        "users {} vs leases {leases}",
        users.len()
    );
    let (status, body) = server.root("GET", "database/reconcile/pg", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["leaked"], json!([]), "{body}");
    server
        .root(
            "PUT",
            &format!("sys/leases/revoke-prefix/database/creds/{role}"),
            None,
        )
        .await;
    assert!(pg_roles(&prefix).await.is_empty());
    fixture.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_quota_reconcile_and_static_roles() {
    let server = TestServer::dev();
    let fixture = Fixture::new().await;
    configure(&server, &pg_url()).await;
    let first_error = |body: &Value| body["errors"][0].as_str().unwrap_or_default().to_string();

    let (status, body) = server.root("GET", "database/creds/nope", None).await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("unknown role"), "{body}");

    let mut role_body = fixture.role_body("3h", "1h");
    let (status, body) = server
        .root("POST", "database/roles/bad", Some(role_body.clone()))
        .await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("default_ttl"), "{body}");

    let (status, body) = server
        .root(
            "POST",
            "database/config/broken",
            Some(json!({"plugin_name": "postgresql-database-plugin", "connection_url": "postgresql://postgres@127.0.0.1:1/postgres"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        first_error(&body).contains("verifying connection"),
        "{body}"
    );
    let (status, body) = server
        .root(
            "POST",
            "database/config/broken",
            Some(json!({"plugin_name": "mongodb-database-plugin", "connection_url": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("plugin_name"), "{body}");

    // A statement that fails: a clear 400, and no half-created user.
    let failing = format!("fl_{}", fixture.suffix);
    role_body["default_ttl"] = json!("1h");
    role_body["max_ttl"] = json!("2h");
    role_body["creation_statements"] = json!([
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'",
        "GRANT SELECT ON no_such_table_anywhere TO \"{{name}}\""
    ]);
    server
        .root(
            "POST",
            &format!("database/roles/{failing}"),
            Some(role_body),
        )
        .await;
    let (status, body) = server
        .root("GET", &format!("database/creds/{failing}"), None)
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        first_error(&body).contains("creation statements failed"),
        "{body}"
    );
    assert!(
        pg_roles(&format!("v-root-{}", &failing[..8]))
            .await
            .is_empty(),
        "no half-created user"
    );
    let (status, _) = server
        .root(
            "LIST",
            &format!("sys/leases/lookup/database/creds/{failing}/"),
            None,
        )
        .await;
    assert_eq!(status, 404, "no lease left behind");

    // A quota: the third lease is refused with a 429 that names role and cap.
    let capped = format!("cp_{}", fixture.suffix);
    let mut capped_body = fixture.role_body("1h", "2h");
    capped_body["max_active_leases"] = json!(2);
    server
        .root(
            "POST",
            &format!("database/roles/{capped}"),
            Some(capped_body),
        )
        .await;
    creds(&server, &server.root_token, &capped).await;
    creds(&server, &server.root_token, &capped).await;
    let (status, body) = server
        .root("GET", &format!("database/creds/{capped}"), None)
        .await;
    assert_eq!(status, 429, "{body}");
    assert!(
        first_error(&body).contains(&capped) && first_error(&body).contains('2'),
        "{body}"
    );

    // The cap holds under concurrent issues: of 10 at once, exactly 3 pass.
    let raced = format!("cr_{}", fixture.suffix);
    let mut raced_body = fixture.role_body("1h", "2h");
    raced_body["max_active_leases"] = json!(3);
    server
        .root("POST", &format!("database/roles/{raced}"), Some(raced_body))
        .await;
    let path = format!("database/creds/{raced}");
    let statuses: Vec<u16> =
        futures::future::join_all((0..10).map(|_| server.root("GET", &path, None)))
            .await
            .into_iter()
            .map(|(status, _)| status)
            .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        7,
        "{statuses:?}"
    );

    // Reconcile never touches a role it did not create, however it is
    // named: a hand-made role that matches our naming survives fix=true.
    let lookalike = format!("v-token-{}-leaked0000000000000000-1", &capped[..8]);
    pg().await
        .batch_execute(&format!("CREATE ROLE \"{lookalike}\""))
        .await
        .expect("create a look-alike role");
    let (_, body) = server.root("GET", "database/reconcile/pg", None).await;
    assert_eq!(body["data"]["leaked"], json!([]), "{body}");
    let (_, body) = server
        .root("POST", "database/reconcile/pg", Some(json!({"fix": true})))
        .await;
    assert_eq!(body["data"]["dropped"], json!([]), "{body}");
    assert_eq!(pg_roles(&lookalike).await, vec![lookalike.clone()]);
    pg().await
        .batch_execute(&format!("DROP ROLE \"{lookalike}\""))
        .await
        .expect("drop the look-alike role");

    // A user it created whose lease is gone (revoke-force) is found once
    // the lease would have ended, and fix=true drops it.
    let forced = format!("rf_{}", fixture.suffix);
    server
        .root(
            "POST",
            &format!("database/roles/{forced}"),
            Some(fixture.role_body("2s", "2s")),
        )
        .await;
    let (status, issued) = server
        .root("GET", &format!("database/creds/{forced}"), None)
        .await;
    assert_eq!(status, 200, "{issued}");
    let leaked = issued["data"]["username"]
        .as_str()
        .expect("username")
        .to_string();
    let (status, body) = server
        .root(
            "PUT",
            &format!("sys/leases/revoke-force/database/creds/{forced}"),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = server.root("GET", "database/reconcile/pg", None).await;
    assert_eq!(body["data"]["leaked"], json!([]), "lease time left: {body}");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = server.root("GET", "database/reconcile/pg", None).await;
    assert_eq!(body["data"]["leaked"], json!([leaked]), "{body}");
    let (_, body) = server
        .root("POST", "database/reconcile/pg", Some(json!({"fix": true})))
        .await;
    assert_eq!(body["data"]["dropped"], json!([leaked]), "{body}");
    assert!(pg_roles(&leaked).await.is_empty());

    // Static role: the broker owns an existing user's password and rotates it.
    let static_user = format!("qm_static_{}", fixture.suffix);
    pg().await
        .batch_execute(&format!("CREATE ROLE {static_user} LOGIN"))
        .await
        .expect("static user");
    let (status, body) = server
        .root(
            "POST",
            "database/static-roles/svc",
            Some(json!({"db_name": "pg", "username": static_user, "rotation_period": "1h"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, first) = server.root("GET", "database/static-creds/svc", None).await;
    let password = first["data"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    assert_eq!(first["data"]["username"], json!(static_user));
    server.root("POST", "database/rotate-role/svc", None).await;
    let (_, second) = server.root("GET", "database/static-creds/svc", None).await;
    assert_ne!(
        second["data"]["password"].as_str(),
        Some(password.as_str()),
        "rotated"
    );
    let (_, read) = server.root("GET", "database/static-roles/svc", None).await;
    assert!(read["data"].get("password").is_none(), "{read}");

    // rotate-root: the broker's own user gets a password nobody knows, and
    // issuing keeps working through the rebuilt pool.
    let admin = format!("qm_admin_{}", fixture.suffix);
    pg().await
        .batch_execute(&format!(
            "CREATE ROLE {admin} LOGIN SUPERUSER PASSWORD 'initial-password'"
        ))
        .await
        .expect("admin role");
    let host_port = pg_url()
        .rsplit('@')
        .next()
        .unwrap_or("127.0.0.1:5432/postgres")
        .to_string();
    let (status, body) = server
        .root(
            "POST",
            "database/config/admin",
            Some(json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": format!("postgresql://{{{{username}}}}:{{{{password}}}}@{host_port}"),
                "username": admin,
                "password": "initial-password",
                "allowed_roles": "*",
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let before: Option<String> = pg()
        .await
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&admin],
        )
        .await
        .expect("authid")
        .get(0);
    let (status, body) = server
        .root("POST", "database/rotate-root/admin", None)
        .await;
    assert_eq!(status, 204, "{body}");
    let after: Option<String> = pg()
        .await
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = $1",
            &[&admin],
        )
        .await
        .expect("authid")
        .get(0);
    assert_ne!(before, after, "the password changed");
    let (_, config) = server.root("GET", "database/config/admin", None).await;
    assert!(!config.to_string().contains("initial-password"), "{config}");
    let via_admin = format!("ad_{}", fixture.suffix);
    let mut admin_role = fixture.role_body("1h", "2h");
    admin_role["db_name"] = json!("admin");
    server
        .root(
            "POST",
            &format!("database/roles/{via_admin}"),
            Some(admin_role),
        )
        .await;
    let (status, body) = server
        .root("GET", &format!("database/creds/{via_admin}"), None)
        .await;
    assert_eq!(status, 200, "issuing works after rotate-root: {body}");

    // The qm CLI revokes by prefix and tidies.
    let out = server.qm(
        &server.root_token,
        &[
            "lease",
            "revoke",
            "--prefix",
            &format!("database/creds/{via_admin}/"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, _) = server
        .root(
            "LIST",
            &format!("sys/leases/lookup/database/creds/{via_admin}/"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, body) = server.root("POST", "sys/leases/tidy", None).await;
    assert_eq!(status, 200, "{body}");

    let (_, config) = server.root("GET", "database/config/pg", None).await;
    assert!(
        !config.to_string().contains("password\":\""),
        "no password in config reads: {config}"
    );
    server
        .root("PUT", "sys/leases/revoke-prefix/database/", None)
        .await;
    let _ = pg()
        .await
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {static_user}; DROP ROLE IF EXISTS {admin}"
        ))
        .await;
    fixture.drop().await;
}

/// A field an endpoint does not take is not dropped in silence: the write
/// succeeds with Vault's warning naming it (never its value), which the
/// real `bao` CLI shows; a write with known fields only stays a 204.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unrecognized_parameters_get_vaults_warning() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let (status, body) = server
        .root(
            "POST",
            "database/roles/app",
            Some(json!({"db_name": "pg", "creation_statements": "CREATE ROLE \"{{name}}\" LOGIN PASSWORD '{{password}}'", "defualt_ttl": "1h", "rotation_window": "s3cret-value"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["warnings"],
        json!(["Endpoint ignored these unrecognized parameters: [defualt_ttl rotation_window]"]),
        "{body}"
    );
    assert!(!body.to_string().contains("s3cret-value"), "{body}");
    let out = server.bao(
        &server.root_token,
        &[
            "write",
            "database/config/pg",
            "plugin_name=postgresql-database-plugin",
            &format!("connection_url={}", pg_url()),
            "allowed_roles=*",
            "max_idle_connections=3",
            "max_idel_connections=3",
        ],
    );
    let shown = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("Endpoint ignored these unrecognized parameters: [max_idel_connections]"),
        "{shown}"
    );
}
