//! `?help=1` (`bao path-help`, `qm path-help`): the backend's help text,
//! for token holders granted something at the path, and never by running
//! the path's handler (help on `database/creds/app` once minted a user).

use super::acl_bypass::raw;
use super::common::{mount_database_role, ok_stdout, TestServer};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_text_comes_from_the_route_table_and_runs_nothing() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let root = server.root_token.clone();

    // The real bao CLI: a route's synopsis, and no credential minted.
    let out = ok_stdout(&server.bao(&root, &["path-help", "database/creds/app"]));
    assert!(out.contains("Matching Route: creds/NAME"), "{out}");
    assert!(out.contains("Create a database user"), "{out}");
    let out = ok_stdout(&server.bao(&root, &["path-help", "secret/"]));
    assert!(
        out.contains("## PATHS") && out.contains("metadata/PATH"),
        "{out}"
    );
    let out = ok_stdout(&server.qm(&root, &["path-help", "auth/token/create"]));
    assert!(out.contains("Create a child token"), "{out}");
    let out = ok_stdout(&server.qm(&root, &["path-help", "sys/policies/acl/x"]));
    assert!(out.contains("ACL policy"), "{out}");
    // Any method, any non-empty value: help, and nothing runs or is written.
    for (method, path) in [
        ("GET", "database/creds/app?help=1"),
        ("GET", "database/creds/app?help=true"),
        ("POST", "database/creds/app?help=1"),
        ("PUT", "secret/data/helped?help=1"),
        ("DELETE", "database/roles/app?help=1"),
    ] {
        let (status, body) = raw(
            &server,
            method,
            path,
            &root,
            Some(&json!({"data": {"a": "b"}})),
        )
        .await;
        assert_eq!(status, 200, "{method} {path}: {body}");
        let body: Value = serde_json::from_str(&body).expect("JSON");
        assert!(
            body["help"]
                .as_str()
                .is_some_and(|h| h.contains("Request:")),
            "{body}"
        );
    }
    assert_eq!(
        server.lease_count("database/creds/app/").await,
        0,
        "help minted a credential"
    );
    let (status, _) = server.root("GET", "secret/data/helped", None).await;
    assert_eq!(status, 404, "help wrote a secret");
    let (status, _) = server.root("GET", "database/roles/app", None).await;
    assert_eq!(status, 200, "help deleted the role");
    // An empty `help` is no help: the read runs.
    let (status, body) = raw(&server, "GET", "database/creds/app?help=", &root, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(server.lease_count("database/creds/app/").await, 1);
    // No route: 404; no mount: 404 for root.
    let (status, _) = raw(&server, "GET", "database/nothing/here?help=1", &root, None).await;
    assert_eq!(status, 404);
    let (status, _) = raw(&server, "GET", "nomount/x?help=1", &root, None).await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_needs_a_token_granted_something_at_the_path() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let (status, body) = server
        .root(
            "POST",
            "sys/auth/approle",
            Some(json!({ "type": "approle" })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let policy = r#"path "secret/data/app/*" { capabilities = ["read"] }
path "database/creds/app" { capabilities = ["deny"] }"#;
    let token = server.token_with_policy("app", policy).await;

    let (status, body) = raw(&server, "GET", "secret/data/app/x?help=1", &token, None).await;
    assert_eq!(status, 200, "{body}");
    // Every spelling of paths the token has nothing on: refused, and no
    // handler ran (no lease, no login, no health answer).
    for path in [
        "database/creds/app?help=1",
        "database/creds/app/?help=1",
        "DATABASE/creds/app?help=1",
        "database//creds/app?help=1",
        "database%2Fcreds%2Fapp?help=1",
        "database/creds/%61pp?help=1",
        "database/roles/app?help=1",
        "sys/mounts?help=1",
        "auth/token/accessors?help=1",
    ] {
        let (status, body) = raw(&server, "GET", path, &token, None).await;
        assert!(status == 403 || status == 400, "{path}: {status} {body}");
    }
    for path in [
        "sys/health?help=1",
        "sys/seal-status?help=1",
        "auth/approle/login?help=1",
        "secret/data/app/x?help=1",
    ] {
        let (status, body) = raw(&server, "POST", path, "", Some(&json!({"role_id": "x"}))).await;
        assert_eq!(status, 403, "{path} without a token: {body}");
        assert!(
            !body.contains("initialized") && !body.contains("sealed"),
            "{path}: {body}"
        );
    }
    assert_eq!(server.lease_count("database/creds/app/").await, 0);
    // Concurrent help requests on the credential path mint nothing either.
    let root = server.root_token.clone();
    let asks = (0..16).map(|_| raw(&server, "GET", "database/creds/app?help=1", &root, None));
    for (status, body) in futures::future::join_all(asks).await {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(server.lease_count("database/creds/app/").await, 0);
}
