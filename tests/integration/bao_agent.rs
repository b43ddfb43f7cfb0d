//! The real `bao agent` (Vault Agent's OpenBao build) pointed at qm,
//! unchanged: AppRole auto-auth, a token sink, and a template rendering a
//! KV secret and a leased Postgres user, re-rendered when the user is
//! replaced at its max TTL.

use super::common::{bao_binary, mount_database_role, pg_roles, TestServer};
use serde_json::json;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn rendered(path: &std::path::Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let password = lines.next()?.strip_prefix("password=")?.to_string();
    let user = lines.next()?.strip_prefix("user=")?.to_string();
    (!user.is_empty()).then_some((password, user))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_agent_renders_templates_from_qm_with_approle_auto_auth() {
    let server = TestServer::dev();
    mount_database_role(&server, "3s", "6s").await;
    let policy = r#"
path "secret/data/app/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["read"] }
"#;
    for (path, body) in [
        ("sys/policies/acl/agent", json!({"policy": policy})),
        (
            "secret/data/app/db",
            json!({"data": {"password": "agent-marker-9d1"}}),
        ),
        ("sys/auth/approle", json!({"type": "approle"})),
        (
            "auth/approle/role/agent",
            json!({"token_policies": "agent", "token_ttl": "1h"}),
        ),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert!(status == 200 || status == 204, "{path}: {status} {body}");
    }
    let (_, role_id) = server
        .root("GET", "auth/approle/role/agent/role-id", None)
        .await;
    let (_, secret_id) = server
        .root("POST", "auth/approle/role/agent/secret-id", Some(json!({})))
        .await;
    let dir = server.dir.path();
    std::fs::write(
        dir.join("role_id"),
        role_id["data"]["role_id"].as_str().expect("role_id"),
    )
    .expect("write");
    std::fs::write(
        dir.join("secret_id"),
        secret_id["data"]["secret_id"].as_str().expect("secret_id"),
    )
    .expect("write");
    let out = dir.join("rendered.txt");
    let config = format!(
        r#"
vault {{ address = "{addr}" }}
auto_auth {{
  method "approle" {{
    config = {{
      role_id_file_path = "{dir}/role_id"
      secret_id_file_path = "{dir}/secret_id"
      remove_secret_id_file_after_reading = false
    }}
  }}
  sink "file" {{ config = {{ path = "{dir}/token-sink" }} }}
}}
template {{
  contents = "{{{{ with secret \"secret/data/app/db\" }}}}password={{{{ .Data.data.password }}}}{{{{ end }}}}\nuser={{{{ with secret \"database/creds/app\" }}}}{{{{ .Data.username }}}}{{{{ end }}}}\n"
  destination = "{out}"
}}
"#,
        addr = server.addr,
        dir = dir.display(),
        out = out.display()
    );
    std::fs::write(dir.join("agent.hcl"), config).expect("write");
    let mut agent = Command::new(bao_binary())
        .arg("agent")
        .arg(format!("-config={}", dir.join("agent.hcl").display()))
        .env_remove("BAO_TOKEN")
        .env_remove("VAULT_TOKEN")
        .env("HOME", dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start bao agent");

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = Vec::new();
    while Instant::now() < deadline && seen.len() < 2 {
        if let Some((password, user)) = rendered(&out) {
            assert_eq!(password, "agent-marker-9d1");
            if seen.last() != Some(&user) {
                seen.push(user);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sink = std::fs::read_to_string(dir.join("token-sink")).unwrap_or_default();
    let _ = agent.kill();
    let _ = agent.wait();
    assert_eq!(
        seen.len(),
        2,
        "rendered, then re-rendered with a new user: {seen:?}"
    );
    assert!(seen[0].starts_with("v-approle-app-"), "{seen:?}");
    let (status, me) = server
        .call("GET", "auth/token/lookup-self", Some(sink.trim()), None)
        .await;
    assert_eq!(status, 200, "the sink holds a working token: {me}");
    assert_eq!(me["data"]["meta"]["role_name"], "agent");
    // The first user went at its max TTL.
    let first = seen[0].clone();
    let gone = Instant::now() + Duration::from_secs(15);
    while !pg_roles(&first).await.is_empty() && Instant::now() < gone {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(pg_roles(&first).await.is_empty());
}
