//! `qm agent`: AppRole auto-auth, a token sink, a `.pgpass`-style template
//! rendered with mode 0600 and re-rendered (with its command run) when the
//! Postgres user is replaced at its max TTL; on SIGTERM the leases are
//! revoked and the files removed; a token at its max TTL is replaced by a
//! new login, with every secret issued anew.

use super::common::{connect_as, mount_database_role, pg_roles, TestServer};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn pgpass_user(path: &std::path::Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let fields: Vec<&str> = text.trim().split(':').collect();
    (fields.len() == 5).then(|| (fields[3].to_string(), fields[4].to_string()))
}

/// Sets up AppRole login for the `app` policy (its tokens as `token_role`
/// says) and starts `qm agent` with a token sink and a `.pgpass` template
/// whose renders are counted in `renders`.
async fn start_agent(server: &TestServer, token_role: serde_json::Value) -> Child {
    let policy = r#"path "database/creds/app" { capabilities = ["read"] }"#;
    for (path, body) in [
        ("sys/policies/acl/app", json!({"policy": policy})),
        ("sys/auth/approle", json!({"type": "approle"})),
        ("auth/approle/role/app", token_role),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert!(status == 200 || status == 204, "{path}: {status} {body}");
    }
    let (_, role_id) = server
        .root("GET", "auth/approle/role/app/role-id", None)
        .await;
    let (_, secret_id) = server
        .root("POST", "auth/approle/role/app/secret-id", Some(json!({})))
        .await;
    let dir = server.dir.path();
    std::fs::write(
        dir.join("secret-id"),
        secret_id["data"]["secret_id"].as_str().expect("secret_id"),
    )
    .expect("write");
    let config = format!(
        r#"
[auth]
role_id = "{role_id}"
secret_id_file = "{dir}/secret-id"

[token_sink]
path = "{dir}/token"

[[secret]]
path = "database/creds/app"
env = {{ PGUSER = "username", PGPASSWORD = "password" }}

[[template]]
destination = "{dir}/pgpass"
contents = "127.0.0.1:5432:*:{{{{PGUSER}}}}:{{{{PGPASSWORD}}}}"
command = "echo rendered >> {dir}/renders"
"#,
        role_id = role_id["data"]["role_id"].as_str().expect("role_id"),
        dir = dir.display(),
    );
    std::fs::write(dir.join("agent.toml"), config).expect("write");
    Command::new(env!("CARGO_BIN_EXE_qm"))
        .args(["agent", "--config"])
        .arg(dir.join("agent.toml"))
        .env("QM_ADDR", &server.addr)
        .env_remove("QM_TOKEN")
        .env_remove("VAULT_TOKEN")
        .env("HOME", dir)
        .stdin(Stdio::null())
        .spawn()
        .expect("start qm agent")
}

/// SIGTERM, then waits for the agent to exit.
async fn stop_agent(mut agent: Child) {
    Command::new("kill")
        .args(["-TERM", &agent.id().to_string()])
        .status()
        .expect("kill");
    let stop = Instant::now() + Duration::from_secs(20);
    while agent.try_wait().expect("wait").is_none() {
        assert!(Instant::now() < stop, "qm agent did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_agent_renders_renews_rotates_and_cleans_up() {
    let server = TestServer::dev();
    mount_database_role(&server, "3s", "6s").await;
    let agent = start_agent(&server, json!({"token_policies": "app", "token_ttl": "1h"})).await;
    let dir = server.dir.path();
    let pgpass = dir.join("pgpass");
    let renders = dir.join("renders");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut users: Vec<(String, String)> = Vec::new();
    while Instant::now() < deadline && users.len() < 2 {
        if let Some(pair) = pgpass_user(&pgpass) {
            if users.last() != Some(&pair) {
                users.push(pair);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        users.len(),
        2,
        "rendered, then re-rendered with a new user: {users:?}"
    );
    let mode = std::fs::metadata(&pgpass)
        .expect("pgpass")
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let (user, password) = &users[1];
    connect_as(user, password)
        .await
        .expect("the rendered credentials work");
    let rendered = std::fs::read_to_string(&renders).unwrap_or_default();
    assert!(
        rendered.lines().count() >= 2,
        "the command ran after each render"
    );
    let token = std::fs::read_to_string(dir.join("token")).expect("token sink");
    let (status, me) = server
        .call("GET", "auth/token/lookup-self", Some(token.trim()), None)
        .await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["data"]["meta"]["role_name"], "app");

    stop_agent(agent).await;
    assert!(!pgpass.exists(), "rendered files are removed");
    assert!(!dir.join("token").exists(), "the token sink is removed");
    assert!(
        pg_roles(user).await.is_empty(),
        "the lease is revoked on shutdown"
    );
    let (status, _) = server
        .call("GET", "auth/token/lookup-self", Some(token.trim()), None)
        .await;
    assert_eq!(status, 403, "the agent's token is revoked");
}

/// Vault Agent's habit: a token that can no longer be renewed (its max TTL
/// is near) is replaced by a new login before it expires, every secret is
/// issued again under the new token (so the app's database user does not
/// die with the old token), the sink and the template follow, and the old
/// token is revoked with its leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qm_agent_logs_in_again_when_its_token_reaches_max_ttl() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "1h").await;
    let agent = start_agent(
        &server,
        json!({"token_policies": "app", "token_ttl": "2s", "token_max_ttl": "4s"}),
    )
    .await;
    let dir = server.dir.path();
    let pgpass = dir.join("pgpass");
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut seen: Vec<((String, String), String)> = Vec::new();
    while Instant::now() < deadline && seen.len() < 3 {
        if let Some(pair) = pgpass_user(&pgpass) {
            if seen.last().map(|(p, _)| p) != Some(&pair) {
                // The sink is written before the template: settled by now.
                tokio::time::sleep(Duration::from_millis(200)).await;
                let token = std::fs::read_to_string(dir.join("token")).expect("token sink");
                seen.push((pair, token.trim().to_string()));
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(seen.len(), 3, "two logins after the first: {seen:?}");
    // Well past the first token's max TTL, the rendered user still works.
    let ((user, password), token) = seen.last().expect("seen").clone();
    connect_as(&user, &password)
        .await
        .expect("the credentials rendered after a new login work");
    let (status, me) = server
        .call("GET", "auth/token/lookup-self", Some(&token), None)
        .await;
    assert_eq!(status, 200, "the sink holds the live token: {me}");
    for ((old_user, _), old_token) in &seen[..2] {
        assert_ne!(old_token, &token, "each login gives a new token");
        let (status, _) = server
            .call("GET", "auth/token/lookup-self", Some(old_token), None)
            .await;
        assert_eq!(status, 403, "the replaced token is revoked");
        assert!(
            pg_roles(old_user).await.is_empty(),
            "the old token's database user is dropped with it"
        );
    }
    stop_agent(agent).await;
    assert!(pg_roles(&user).await.is_empty(), "revoked on shutdown");
}
