//! Drift baselines outlive the process: what a workload learned before a
//! seal, a SIGTERM or (up to the last 30 s) a crash is what it is judged by
//! after the restart.

use super::common::TestServer;
use serde_json::{json, Value};

async fn ok(server: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = server.root(method, path, Some(body)).await;
    assert!(status == 200 || status == 204, "{path}: {status} {answer}");
    answer
}

/// A fresh token of the AppRole `ci` (every login shares one baseline).
async fn login(server: &TestServer) -> String {
    let role_id = ok(server, "GET", "auth/approle/role/ci/role-id", json!(null)).await;
    let secret_id = ok(server, "POST", "auth/approle/role/ci/secret-id", json!({})).await;
    let (status, body) = server
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({
                "role_id": role_id["data"]["role_id"], "secret_id": secret_id["data"]["secret_id"],
            })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn read(server: &TestServer, token: &str, path: &str) {
    let (status, body) = server.call("GET", path, Some(token), None).await;
    assert_eq!(status, 200, "{path}: {body}");
}

async fn alerts(server: &TestServer) -> Vec<Value> {
    let (status, body) = server.root("GET", "sys/nhi/alerts", None).await;
    assert_eq!(status, 200, "{body}");
    body["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_baseline_survives_seal_and_restart_and_a_deleted_role_forgets_it() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    ok(
        &server,
        "POST",
        "sys/mounts/secret",
        json!({"type": "kv", "options": {"version": "2"}}),
    )
    .await;
    for path in [
        "secret/data/app/db",
        "secret/data/billing/key",
        "secret/data/ops/key",
    ] {
        ok(&server, "POST", path, json!({"data": {"v": "x"}})).await;
    }
    ok(
        &server,
        "PUT",
        "sys/policies/acl/reader",
        json!({"policy": "path \"secret/data/*\" { capabilities = [\"read\"] }"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "auth/approle/role/ci",
        json!({"token_policies": "reader", "owner": "alice"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "sys/nhi/drift/config",
        json!({"learning_requests": "5"}),
    )
    .await;
    let token = login(&server).await;
    for _ in 0..5 {
        read(&server, &token, "secret/data/app/db").await;
    }

    // Sealing stores the baseline; the restart (a SIGKILL) loads it.
    ok(&server, "PUT", "sys/seal", json!({})).await;
    server.restart();
    server.unseal(&key).await;
    assert!(
        alerts(&server).await.is_empty(),
        "alerts are not kept over a restart"
    );
    let token = login(&server).await;
    read(&server, &token, "secret/data/app/db").await;
    assert!(
        alerts(&server).await.is_empty(),
        "the learned path alerted after the restart: the baseline was forgotten"
    );
    read(&server, &token, "secret/data/billing/key").await;
    let found = alerts(&server).await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["reason"], "new path", "{found:?}");
    assert_eq!(found[0]["baseline"]["learned_requests"], 5, "{found:?}");
    assert_eq!(
        found[0]["baseline"]["paths"],
        json!(["secret/data/app"]),
        "{found:?}"
    );

    // The role's page lists the requests its tokens made, data left out.
    let (status, body) = server
        .root("GET", "sys/nhi/identities/auth/approle/role/ci", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let recent = body["data"]["recent_requests"]
        .as_array()
        .expect("recent_requests");
    let last = recent.last().expect("a recent request");
    assert_eq!(last["path"], "secret/data/billing/key", "{body}");
    assert_eq!(last["operation"], "read", "{body}");
    assert_eq!(last["status"], 200, "{body}");
    assert!(
        !body.to_string().contains("\"v\":\"x\""),
        "a secret value in {body}"
    );

    // A deleted role takes its baseline along: recreated, it learns anew.
    ok(&server, "DELETE", "auth/approle/role/ci", json!(null)).await;
    ok(
        &server,
        "POST",
        "auth/approle/role/ci",
        json!({"token_policies": "reader", "owner": "alice"}),
    )
    .await;
    ok(&server, "PUT", "sys/seal", json!({})).await;
    server.restart();
    server.unseal(&key).await;
    let token = login(&server).await;
    read(&server, &token, "secret/data/ops/key").await;
    assert!(
        alerts(&server).await.is_empty(),
        "a recreated role was judged by its predecessor's baseline"
    );
}
