//! Snapshots: saved online and restored into the same store, through the
//! `qm` and `bao` CLIs, on sled and PostgreSQL storage; and the restore
//! fence, which leaves no database user untracked and no lease pointing at
//! a user that is gone.

use super::acl_bypass::{policy, raw, token};
use super::common::{ok_stdout, pg, pg_url, revoke_now, unique, TestDatabase, TestServer};
use serde_json::{json, Value};

/// Mounts `database/` with one Postgres role named `role`.
async fn database_role(server: &TestServer, role: &str) {
    let statements =
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'";
    for (path, body) in [
        ("sys/mounts/database", json!({"type": "database"})),
        (
            "database/config/pg",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg_url(), "allowed_roles": "*"}),
        ),
        (
            &format!("database/roles/{role}"),
            json!({"db_name": "pg", "creation_statements": statements, "default_ttl": "1h", "max_ttl": "2h"}),
        ),
    ] {
        let (code, body) = server.root("POST", path, Some(body)).await;
        assert_eq!(code, 204, "{path}: {body}");
    }
}

/// Issues one credential: (lease id, username).
async fn issue(server: &TestServer, role: &str) -> (String, String) {
    let (code, body) = server
        .root("GET", &format!("database/creds/{role}"), None)
        .await;
    assert_eq!(code, 200, "{body}");
    (
        body["lease_id"].as_str().expect("lease").to_string(),
        body["data"]["username"]
            .as_str()
            .expect("username")
            .to_string(),
    )
}

/// The Postgres users made for `role`.
async fn users_of(role: &str) -> Vec<String> {
    pg().await
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE '%' || $1 || '%' ORDER BY 1",
            &[&role],
        )
        .await
        .expect("query roles")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The lease ids the ledger holds for `role`.
async fn leases_of(server: &TestServer, role: &str) -> Vec<String> {
    let prefix = format!("database/creds/{role}/");
    let (code, body) = server
        .root("LIST", &format!("sys/leases/lookup/{prefix}"), None)
        .await;
    if code == 404 {
        return Vec::new();
    }
    assert_eq!(code, 200, "{body}");
    body["data"]["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(Value::as_str)
        .map(|k| format!("{prefix}{k}"))
        .collect()
}

async fn audit_to(server: &TestServer, path: &std::path::Path) {
    let (code, body) = server
        .root(
            "PUT",
            "sys/audit/file",
            Some(json!({"type": "file", "options": {"file_path": path.to_str().expect("path")}})),
        )
        .await;
    assert_eq!(code, 204, "{body}");
}

/// Waits until the node serves (a cluster node takes leadership first).
async fn wait_active(server: &TestServer) {
    for _ in 0..100 {
        if server.call("GET", "sys/health", None, None).await.0 == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not become active");
}

/// The issue's scenario: snapshot, 50 new credentials, 20 revoked that
/// existed at the snapshot, restore: every user is tracked by a lease and
/// every lease by a user.
async fn restore_fence_scenario(mut server: TestServer, unseal_key: &str) {
    // Eight characters: usernames keep that much of the role name.
    let role = format!("f{}", &unique()[..7]);
    database_role(&server, &role).await;
    let audit_log = server.temp_path("audit.log");
    audit_to(&server, &audit_log).await;
    let mut before = Vec::new();
    for _ in 0..30 {
        before.push(issue(&server, &role).await);
    }
    let root = server.root_token.clone();
    let file = server.temp_path("before.snap");
    let saved = ok_stdout(&server.qm(
        &root,
        &["operator", "snapshot", "save", file.to_str().expect("path")],
    ));
    assert!(saved.contains("Success"), "{saved}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&file)
            .expect("snapshot file")
            .permissions(),
    );
    assert_eq!(
        mode & 0o077,
        0,
        "the snapshot is readable by its owner only"
    );

    let mut after = Vec::new();
    for _ in 0..50 {
        after.push(issue(&server, &role).await);
    }
    for (lease_id, _) in &before[..20] {
        let (code, body) = revoke_now(&server, lease_id).await;
        assert_eq!(code, 204, "{body}");
    }
    assert_eq!(users_of(&role).await.len(), 60);

    // The real bao CLI restores it (its raft path, on any storage here).
    ok_stdout(&server.bao(
        &root,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            file.to_str().expect("path"),
        ],
    ));

    let users = users_of(&role).await;
    let leases = leases_of(&server, &role).await;
    let mut kept: Vec<String> = before[20..].iter().map(|(_, u)| u.clone()).collect();
    kept.sort();
    assert_eq!(
        users, kept,
        "exactly the users whose lease is live at the snapshot and now"
    );
    let mut kept_leases: Vec<String> = before[20..].iter().map(|(l, _)| l.clone()).collect();
    kept_leases.sort();
    let mut leases = leases;
    leases.sort();
    assert_eq!(
        leases, kept_leases,
        "no lease points at a user that is gone"
    );
    let log = std::fs::read_to_string(&audit_log).unwrap_or_default();
    let fence_lines = log
        .lines()
        .filter(|l| l.contains("\"restore-fence\""))
        .count();
    assert_eq!(
        fence_lines, 70,
        "an audit line for each of the 50 revoked and 20 closed leases"
    );

    // The restored store serves, and survives a restart.
    server.restart();
    server.unseal(unseal_key).await;
    wait_active(&server).await;
    assert_eq!(leases_of(&server, &role).await.len(), 10);
    for (lease_id, _) in &before[20..] {
        revoke_now(&server, lease_id).await;
    }
    assert!(users_of(&role).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_fence_on_sled_leaves_no_untracked_user_and_no_dangling_lease() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    restore_fence_scenario(server, &key).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_fence_on_postgresql_storage_too() {
    let db = TestDatabase::create().await;
    let storage = format!("type = \"postgresql\"\nconnection_url = \"{}\"", db.url);
    let mut server = TestServer::with_storage(&storage, &[]);
    let key = server.init_and_unseal().await;
    wait_active(&server).await;
    restore_fence_scenario(server, &key).await;
    db.drop().await;
}

/// Saves and restores need sudo on the path the handler serves, every
/// spelling; a restore of something else is a 400 and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_need_sudo_and_refuse_what_is_not_ours() {
    let server = TestServer::dev();
    policy(
        &server,
        "snap-no-sudo",
        r#"path "sys/storage/*" { capabilities = ["create", "read", "update"] }"#,
    )
    .await;
    let caller = token(&server, json!({"policies": ["snap-no-sudo"]})).await;
    for (method, path) in [
        ("GET", "sys/storage/snapshot"),
        ("GET", "sys/storage/raft/snapshot"),
        ("POST", "sys/storage/snapshot"),
        ("POST", "sys/storage/raft/snapshot-force"),
        ("GET", "sys/storage/snapshot/"),
        ("GET", "sys//storage/snapshot"),
        ("GET", "sys/Storage/snapshot"),
        ("GET", "sys/storage%2Fsnapshot"),
        ("POST", "sys/storage/raft/snapshot%2Dforce"),
    ] {
        let (code, body) = raw(&server, method, path, &caller, Some(&json!({}))).await;
        assert!(
            matches!(code, 400 | 403 | 404 | 405),
            "{method} {path}: {code} {body}"
        );
        assert!(
            !body.starts_with('\u{1f}'),
            "{method} {path}: no snapshot bytes"
        );
    }
    let root = server.root_token.clone();
    server
        .root("PUT", "secret/data/kept", Some(json!({"data": {"v": 1}})))
        .await;
    for junk in [
        b"not a snapshot".to_vec(),
        Vec::new(),
        vec![0x1f, 0x8b, 8, 0, 0],
    ] {
        let answer = reqwest::Client::new()
            .post(format!("{}/v1/sys/storage/snapshot", server.addr))
            .header("X-Vault-Token", &root)
            .body(junk)
            .send()
            .await
            .expect("request");
        assert_eq!(answer.status().as_u16(), 400);
    }
    // Another store's snapshot does not open with this keyring.
    let other = TestServer::dev();
    let file = other.temp_path("other.snap");
    ok_stdout(&other.bao(
        &other.root_token,
        &[
            "operator",
            "raft",
            "snapshot",
            "save",
            file.to_str().expect("path"),
        ],
    ));
    let out = server.bao(
        &root,
        &[
            "operator",
            "raft",
            "snapshot",
            "restore",
            "-force",
            file.to_str().expect("path"),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("different set of unseal keys"));
    let (code, body) = server.root("GET", "secret/data/kept", None).await;
    assert_eq!((code, &body["data"]["data"]["v"]), (200, &json!(1)));
}
