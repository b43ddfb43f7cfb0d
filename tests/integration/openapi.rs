//! `sys/internal/specs/openapi` against the handlers: every operation the
//! document (made from the route tables) declares exists on a server with
//! each kind of mount, so the tables, the help text and the document
//! cannot drift from the code; a token sees only the mounts it can reach;
//! and schemathesis finds no 5xx across every operation.

use super::acl_bypass::raw;
use super::common::{mount_database_role, TestServer};
use serde_json::{json, Value};
use std::process::Command;

/// Operations the sweep does not send: they would seal, step down,
/// restore, rekey or revoke the root token the sweep runs with.
const NOT_SENT: &[&str] = &[
    "post /sys/seal",
    "post /sys/step-down",
    "post /sys/storage/snapshot",
    "post /sys/storage/raft/snapshot",
    "post /sys/storage/raft/snapshot-force",
    "post /sys/rotate",
    "post /sys/rotate/keyring",
    "post /auth/token/revoke-self",
];

async fn setup(server: &TestServer) {
    mount_database_role(server, "1h", "2h").await;
    for (path, body) in [
        ("sys/mounts/kv", json!({ "type": "kv" })),
        ("sys/mounts/aws", json!({ "type": "aws" })),
        ("sys/auth/approle", json!({ "type": "approle" })),
        ("sys/auth/jwt", json!({ "type": "jwt" })),
        ("sys/auth/userpass", json!({ "type": "userpass" })),
    ] {
        let (status, answer) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {answer}");
    }
}

async fn document(server: &TestServer, token: &str) -> Value {
    let (status, body) = raw(server, "GET", "sys/internal/specs/openapi", token, None).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_declared_operation_has_a_handler() {
    let server = TestServer::dev();
    setup(&server).await;
    let root = server.root_token.clone();
    let spec = document(&server, &root).await;
    assert_eq!(spec["openapi"], "3.0.2");
    let paths = spec["paths"].as_object().expect("paths");
    for mount in [
        "/sys/",
        "/auth/token/",
        "/cubbyhole/",
        "/secret/",
        "/kv/",
        "/database/",
        "/aws/",
        "/auth/approle/",
        "/auth/jwt/",
        "/auth/userpass/",
    ] {
        assert!(
            paths.keys().any(|p| p.starts_with(mount)),
            "no {mount} paths"
        );
    }
    let mut missing = Vec::new();
    let mut sent = 0;
    for (template, item) in paths {
        let path = template
            .trim_start_matches('/')
            .replace("{name}", "x")
            .replace("{name2}", "y")
            .replace("{path}", "x");
        for method in ["get", "post", "delete"] {
            let Some(operation) = item.get(method) else {
                continue;
            };
            if NOT_SENT.contains(&format!("{method} {template}").as_str()) {
                continue;
            }
            let listing = operation["parameters"][0]["name"] == "list";
            let (verb, target) = match (method, listing) {
                ("get", true) => ("LIST", path.clone()),
                ("get", false) => ("GET", path.clone()),
                ("post", _) => ("POST", path.clone()),
                _ => ("DELETE", path.clone()),
            };
            let body = (verb == "POST").then(|| json!({}));
            let (status, answer) = raw(&server, verb, &target, &root, body.as_ref()).await;
            sent += 1;
            let unrouted = answer.contains("no handler") || answer.contains("unsupported path");
            if status == 405 || (status == 404 && unrouted) || status >= 500 {
                missing.push(format!("{verb} {target}: {status} {answer}"));
            }
        }
    }
    assert!(sent > 150, "only {sent} operations sent");
    assert!(
        missing.is_empty(),
        "declared but not served:\n{}",
        missing.join("\n")
    );
    let (status, body) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_sees_only_the_mounts_it_can_reach() {
    let server = TestServer::dev();
    setup(&server).await;
    let policy = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;
    let token = server.token_with_policy("app", policy).await;
    let spec = document(&server, &token).await;
    let paths: Vec<&String> = spec["paths"].as_object().expect("paths").keys().collect();
    assert!(paths.iter().any(|p| p.starts_with("/secret/")), "{paths:?}");
    assert!(paths.iter().all(|p| p.starts_with("/secret/")), "{paths:?}");
    // No token, or one spelled wrong: nothing.
    for (path, token) in [
        ("sys/internal/specs/openapi", ""),
        ("sys/internal/specs/openapi", "not-a-token"),
        ("SYS/internal/specs/openapi", token.as_str()),
        ("sys/internal/specs//openapi", token.as_str()),
        ("sys/internal/specs/openapi%2F..%2F", token.as_str()),
    ] {
        let (status, body) = raw(&server, "GET", path, token, None).await;
        assert!(status == 403 || status == 400, "{path}: {status} {body}");
        assert!(!body.contains("\"openapi\""), "{path}: {body}");
    }
    // Writing to it is no read.
    let (status, _) = raw(
        &server,
        "POST",
        "sys/internal/specs/openapi",
        &token,
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 403);
}

/// The schemathesis CLI beside `$QM_TEST_PYTHON`, or in the repo's venv.
fn schemathesis() -> std::path::PathBuf {
    let python = std::env::var("QM_TEST_PYTHON")
        .unwrap_or_else(|_| format!("{}/.cache/venv/bin/python", env!("CARGO_MANIFEST_DIR")));
    std::path::Path::new(&python).with_file_name("schemathesis")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error() {
    let server = TestServer::dev();
    setup(&server).await;
    let examples = std::env::var("QM_FUZZ_EXAMPLES").unwrap_or_else(|_| "5".into());
    let output = Command::new(schemathesis())
        .arg("run")
        .arg(format!("{}/v1/sys/internal/specs/openapi", server.addr))
        .args([
            "--checks",
            "not_a_server_error",
            "--max-examples",
            &examples,
        ])
        .args(["--header", &format!("X-Vault-Token: {}", server.root_token)])
        .args([
            "--exclude-path-regex",
            "/sys/(seal|step-down|storage|rotate)|revoke-self",
        ])
        .output()
        .expect("run schemathesis (scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "schemathesis failed:\n{text}");
    let (status, body) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200, "{body}");
    let log = std::fs::read_to_string(server.dir.path().join("qm.log")).unwrap_or_default();
    assert!(!log.contains("panicked"), "a panic in the server log");
}
