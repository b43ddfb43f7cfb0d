//! The ways around the ACL a security review found, each tried by a token
//! without the right capability, spelled every way a path can be spelled
//! (sent raw over TCP, so no client library tidies the path first), and
//! concurrently where a count is involved.

use super::common::{mount_database_role, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request with the path exactly as given: returns the status and body.
pub(crate) async fn raw(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&Value>,
) -> (u16, String) {
    let body = body.map(Value::to_string).unwrap_or_default();
    raw_text(server, method, path, token, &body).await
}

/// [`raw`] with the body as given, JSON or not.
pub(crate) async fn raw_text(
    server: &TestServer,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
) -> (u16, String) {
    let host = server.addr.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!(
        "{method} /v1/{path} HTTP/1.1\r\nHost: {host}\r\nX-Vault-Token: {token}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    // A server may answer an oversized request early and close: keep what
    // it said.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_string();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

pub(crate) async fn policy(server: &TestServer, name: &str, text: &str) {
    let (status, body) = server
        .root(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": text })),
        )
        .await;
    assert_eq!(status, 204, "policy {name}: {body}");
}

pub(crate) async fn token(server: &TestServer, body: Value) -> String {
    let (status, response) = server.root("POST", "auth/token/create", Some(body)).await;
    assert_eq!(status, 200, "{response}");
    response["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn lease(server: &TestServer, role: &str) -> String {
    let (status, body) = server
        .root("GET", &format!("database/creds/{role}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["lease_id"].as_str().expect("lease").to_string()
}

async fn lease_exists(server: &TestServer, id: &str) -> bool {
    server
        .root("PUT", "sys/leases/lookup", Some(json!({ "lease_id": id })))
        .await
        .0
        == 200
}

async fn add_role(server: &TestServer, name: &str) {
    let role = json!({
        "db_name": "pg",
        "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
        "default_ttl": "1h", "max_ttl": "2h",
    });
    let (status, body) = server
        .root("POST", &format!("database/roles/{name}"), Some(role))
        .await;
    assert_eq!(status, 204, "{body}");
}

/// Waits for a background revocation to finish; its final progress.
pub(crate) async fn wait_job(server: &TestServer, job: &str) -> Value {
    for _ in 0..100 {
        let (_, body) = server
            .root("GET", &format!("sys/nhi/jobs/{job}"), None)
            .await;
        if body["data"]["done"] == true {
            return body["data"].clone();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("job {job} did not finish");
}

/// Item 1: `sys/leases/revoke` revokes one lease by its exact id, never a
/// prefix, with or without `sync`; revoke-prefix needs sudo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_revoke_is_never_a_prefix() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let (first, second) = (lease(&server, "app").await, lease(&server, "app").await);
    let victim = token(&server, json!({ "ttl": "1h" })).await;
    policy(
        &server,
        "revoker",
        r#"path "sys/leases/revoke" { capabilities = ["update"] }
           path "sys/leases/revoke-prefix/*" { capabilities = ["update"] }"#,
    )
    .await;
    let revoker = token(&server, json!({ "policies": ["revoker"] })).await;
    for prefix in ["auth/", "auth", "database/", "database/creds/app/", ""] {
        for sync in [false, true] {
            let body = json!({ "lease_id": prefix, "sync": sync });
            let (status, answer) =
                raw(&server, "PUT", "sys/leases/revoke", &revoker, Some(&body)).await;
            assert!(status < 500, "{prefix} {sync}: {status} {answer}");
            if status == 202 {
                let job: Value = serde_json::from_str(&answer).expect("json");
                wait_job(&server, job["data"]["job_id"].as_str().expect("job")).await;
            }
        }
    }
    assert!(
        lease_exists(&server, &first).await,
        "a prefix revoked a lease"
    );
    assert!(lease_exists(&server, &second).await);
    let (status, _) = server
        .call("GET", "auth/token/lookup-self", Some(&victim), None)
        .await;
    assert_eq!(status, 200, "a prefix revoked a token");
    let (status, _) = raw(
        &server,
        "PUT",
        "sys/leases/revoke-prefix/database/",
        &revoker,
        None,
    )
    .await;
    assert_eq!(status, 403, "revoke-prefix without sudo");
    let body = json!({ "lease_id": first, "sync": false });
    let (status, answer) = raw(&server, "PUT", "sys/leases/revoke", &revoker, Some(&body)).await;
    assert_eq!(status, 202, "{answer}");
    let job: Value = serde_json::from_str(&answer).expect("json");
    wait_job(&server, job["data"]["job_id"].as_str().expect("job")).await;
    assert!(
        !lease_exists(&server, &first).await,
        "the exact lease is revoked"
    );
    assert!(lease_exists(&server, &second).await);
}

/// Item 2: when the path names a lease, a body naming another is a 400 for
/// revoke, renew and lookup.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_path_names_the_lease_not_the_body() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    add_role(&server, "admin").await;
    let app = lease(&server, "app").await;
    let admin = lease(&server, "admin").await;
    policy(
        &server,
        "app-leases",
        r#"path "sys/leases/revoke/database/creds/app/*" { capabilities = ["update"] }
           path "sys/leases/renew/database/creds/app/*" { capabilities = ["update"] }
           path "sys/leases/lookup/database/creds/app/*" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let caller = token(&server, json!({ "policies": ["app-leases"] })).await;
    for verb in ["revoke", "renew", "lookup"] {
        let body = json!({ "lease_id": admin });
        let (status, answer) = raw(
            &server,
            "PUT",
            &format!("sys/leases/{verb}/{app}"),
            &caller,
            Some(&body),
        )
        .await;
        assert_eq!(status, 400, "{verb}: {answer}");
        let (status, _) = raw(
            &server,
            "PUT",
            &format!("sys/leases/{verb}/{admin}"),
            &caller,
            None,
        )
        .await;
        assert_eq!(status, 403, "{verb} of the admin lease by path");
    }
    assert!(
        lease_exists(&server, &admin).await,
        "the admin lease survived"
    );
    let body = json!({ "lease_id": app });
    let (status, answer) = raw(
        &server,
        "PUT",
        &format!("sys/leases/revoke/{app}"),
        &caller,
        Some(&body),
    )
    .await;
    assert_eq!(status, 204, "the same id in both places is fine: {answer}");
    assert!(!lease_exists(&server, &app).await);
}

/// Item 5: the ACL and the handler see one spelling. Every other spelling of
/// a denied path is refused or names something else, and never serves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_spelling_of_a_denied_path_is_denied() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    add_role(&server, "admin").await;
    let (status, _) = server
        .root(
            "POST",
            "sys/auth/approle",
            Some(json!({ "type": "approle" })),
        )
        .await;
    assert_eq!(status, 204);
    for role in ["app", "admin"] {
        let (status, body) = server
            .root(
                "POST",
                &format!("auth/approle/role/{role}"),
                Some(json!({ "token_policies": "default" })),
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    policy(
        &server,
        "mostly",
        r#"path "database/creds/*" { capabilities = ["read"] }
           path "database/creds/admin" { capabilities = ["deny"] }
           path "auth/approle/role/*" { capabilities = ["read", "update", "list"] }
           path "auth/approle/role/admin/secret-id" { capabilities = ["deny"] }
           path "auth/token/revoke-orphan" { capabilities = ["update"] }"#,
    )
    .await;
    let caller = token(&server, json!({ "policies": ["mostly"] })).await;
    let (status, _) = raw(&server, "GET", "database/creds/app", &caller, None).await;
    assert_eq!(status, 200, "the allowed path works");
    for spelling in [
        "database/creds/admin",
        "database/creds/admin/",
        "database/creds/admin//",
        "database//creds/admin",
        "database/creds/./admin",
        "database/creds/x/../admin",
        "database/creds/%61dmin",
        "database/creds/admin%2F",
        "database/creds%2Fadmin",
        "database/creds/admin%20",
        "database/creds/%20admin",
        "database/creds/ADMIN",
        "database/creds/Admin/",
        "database/creds/admin%00",
        "database/creds/admin%2500",
    ] {
        let (status, body) = raw(&server, "GET", spelling, &caller, None).await;
        assert!((400..500).contains(&status), "{spelling}: {status} {body}");
        let (status, body) = raw(
            &server,
            "GET",
            &format!("{spelling}?list=false"),
            &caller,
            None,
        )
        .await;
        assert!((400..500).contains(&status), "{spelling}?: {status} {body}");
    }
    let (status, _) = server
        .root("LIST", "sys/leases/lookup/database/creds/admin/", None)
        .await;
    assert_eq!(status, 404, "no admin credentials were issued");
    for spelling in [
        "auth/approle/role/admin/secret-id",
        "auth/approle/role/admin/secret-id/",
        "auth/approle/role/ADMIN/secret-id",
        "auth/approle/role/Admin/secret-id/",
        "auth/approle/role/%61dmin/secret-id",
        "auth/approle/role/admin%20/secret-id",
        "auth/approle/role/admin/./secret-id",
    ] {
        let (status, body) = raw(&server, "PUT", spelling, &caller, Some(&json!({}))).await;
        assert!((400..500).contains(&status), "{spelling}: {status} {body}");
    }
    let (status, body) = server
        .root("LIST", "auth/approle/role/admin/secret-id", None)
        .await;
    assert_eq!(status, 404, "no secret id was made for admin: {body}");
    let (status, _) = raw(
        &server,
        "PUT",
        "auth/approle/role/app/secret-id",
        &caller,
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200, "the allowed role works");
    let victim = token(&server, json!({})).await;
    for spelling in [
        "auth/token/revoke-orphan",
        "auth/token/revoke-orphan/",
        "auth/token/revoke-orphan%2F",
        "auth/token//revoke-orphan",
    ] {
        let body = json!({ "token": victim });
        let (status, body) = raw(&server, "PUT", spelling, &caller, Some(&body)).await;
        assert!(
            (400..500).contains(&status),
            "{spelling} needs sudo: {status} {body}"
        );
    }
    let (status, _) = server
        .call("GET", "auth/token/lookup-self", Some(&victim), None)
        .await;
    assert_eq!(status, 200);
}

/// Item 7: a use is counted atomically before the request is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_use_token_serves_one_request_however_many_race() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    policy(
        &server,
        "writer",
        r#"path "secret/data/*" { capabilities = ["create", "update"] }
           path "database/creds/app" { capabilities = ["read"] }"#,
    )
    .await;
    let once = token(&server, json!({ "policies": ["writer"], "num_uses": 1 })).await;
    let writes = (0..20).map(|i| {
        let body = json!({ "data": { "n": i } });
        let (server, once) = (&server, once.clone());
        async move {
            raw(
                server,
                "PUT",
                &format!("secret/data/race{i}"),
                &once,
                Some(&body),
            )
            .await
            .0
        }
    });
    let statuses = futures::future::join_all(writes).await;
    let served = statuses.iter().filter(|s| **s < 300).count();
    assert_eq!(served, 1, "{statuses:?}");

    let once = token(&server, json!({ "policies": ["writer"], "num_uses": 1 })).await;
    let reads = (0..20).map(|_| {
        let (server, once) = (&server, once.clone());
        async move {
            raw(server, "GET", "database/creds/app", &once, None)
                .await
                .0
        }
    });
    let statuses = futures::future::join_all(reads).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    // The one lease went with its token when the last use was served.
    let (status, body) = server
        .root("LIST", "sys/leases/lookup/database/creds/app/", None)
        .await;
    let leases = body["data"]["keys"].as_array().map_or(0, Vec::len);
    assert!(status == 404 || leases <= 1, "{status} {body}");
}

/// Item 9: revoke-prefix stops at a path segment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoke_prefix_stays_inside_its_segment() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    add_role(&server, "app-admin").await;
    let app = lease(&server, "app").await;
    let admin = lease(&server, "app-admin").await;
    let (status, body) = server
        .root("PUT", "sys/leases/revoke-prefix/database/creds/app", None)
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(!lease_exists(&server, &app).await);
    assert!(
        lease_exists(&server, &admin).await,
        "app-admin is another segment"
    );
    let other = lease(&server, "app-admin").await;
    let (status, _) = server
        .root("PUT", &format!("sys/leases/revoke-prefix/{admin}"), None)
        .await;
    assert_eq!(status, 204);
    assert!(
        !lease_exists(&server, &admin).await,
        "a lease id is its own prefix"
    );
    assert!(lease_exists(&server, &other).await, "and only itself");
}

/// Item 10: listing leases needs sudo; token accessors need the capability
/// `auth/token/accessors` needs; `ui/mounts` lists only reachable mounts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sudo_data_does_not_leak_sideways() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    lease(&server, "app").await;
    policy(
        &server,
        "viewer",
        r#"path "sys/leases/lookup/*" { capabilities = ["list", "update"] }
           path "sys/nhi/identities" { capabilities = ["read", "list"] }
           path "sys/nhi/identities/*" { capabilities = ["read"] }"#,
    )
    .await;
    let viewer = token(&server, json!({ "policies": ["viewer"] })).await;
    for spelling in [
        "sys/leases/lookup/database/creds/app/",
        "sys/leases/lookup/database/creds/app",
        "sys/leases/lookup/",
    ] {
        let (status, body) = raw(&server, "LIST", spelling, &viewer, None).await;
        assert_eq!(status, 403, "{spelling}: {body}");
    }
    let (status, body) = raw(
        &server,
        "GET",
        "sys/nhi/identities?limit=1000",
        &viewer,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        !body.contains("auth/token/accessors/"),
        "accessors leaked: {body}"
    );
    let (_, root_self) = server.root("GET", "auth/token/lookup-self", None).await;
    let root_accessor = root_self["data"]["accessor"].as_str().expect("accessor");
    let (status, _) = raw(
        &server,
        "GET",
        &format!("sys/nhi/identities/auth/token/accessors/{root_accessor}"),
        &viewer,
        None,
    )
    .await;
    assert_eq!(status, 403);
    let (status, body) = server
        .root("GET", "sys/nhi/identities?limit=1000", None)
        .await;
    assert_eq!(status, 200);
    assert!(
        body.to_string().contains(root_accessor),
        "root still sees them"
    );

    let plain = token(&server, json!({ "policies": ["default"] })).await;
    let (status, body) = raw(&server, "GET", "sys/internal/ui/mounts", &plain, None).await;
    assert_eq!(status, 200, "{body}");
    let mounts: Value = serde_json::from_str(&body).expect("json");
    let secret = mounts["data"]["secret"].as_object().expect("secret mounts");
    assert!(!secret.contains_key("database/"), "{body}");
    assert!(!secret.contains_key("secret/"), "{body}");
}

/// Item 11: HEAD runs nothing that creates something.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_mints_nothing() {
    let server = TestServer::dev();
    mount_database_role(&server, "1h", "2h").await;
    let root = server.root_token.clone();
    let (status, _) = raw(&server, "HEAD", "database/creds/app", &root, None).await;
    assert_eq!(status, 405);
    let (status, _) = server
        .root("LIST", "sys/leases/lookup/database/creds/app/", None)
        .await;
    assert_eq!(status, 404, "no lease was minted");
    let (status, _) = raw(&server, "HEAD", "sys/health", &root, None).await;
    assert_eq!(status, 200);
}

/// Item 12: `root` and `response-wrapping` are reserved policy names, and
/// names are refused rather than folded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_policy_names_cannot_be_written() {
    let server = TestServer::dev();
    policy(
        &server,
        "policy-admin",
        r#"path "sys/policies/acl/*" { capabilities = ["create", "update", "read"] }
           path "sys/policy/*" { capabilities = ["create", "update", "read"] }"#,
    )
    .await;
    let admin = token(&server, json!({ "policies": ["policy-admin"] })).await;
    let grant_all = json!({ "policy": "path \"*\" { capabilities = [\"read\"] }" });
    for path in [
        "sys/policies/acl/response-wrapping",
        "sys/policy/response-wrapping",
        "sys/policies/acl/root",
        "sys/policies/acl/Response-Wrapping",
        "sys/policies/acl/ROOT",
        "sys/policies/acl/response-wrapping/",
        "sys/policies/acl/%72oot",
    ] {
        for caller in [admin.as_str(), server.root_token.as_str()] {
            let (status, body) = raw(&server, "PUT", path, caller, Some(&grant_all)).await;
            assert_eq!(status, 400, "{path}: {body}");
        }
    }
    let root = server.root_token.clone();
    let (status, body) = server
        .call_with(
            "GET",
            "auth/token/lookup-self",
            Some(&root),
            None,
            &[("X-Vault-Wrap-TTL", "60")],
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let wrapping = body["wrap_info"]["token"].as_str().expect("wrapping token");
    let (status, _) = raw(&server, "GET", "sys/policies/acl/default", wrapping, None).await;
    assert_eq!(status, 403, "a wrapping token grants nothing");
}

/// The audit chain key (`sys/audit-chain/NAME`, new in this change) needs
/// sudo, however the path is spelled; without it nobody learns the key that
/// would let them rewrite the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_key_needs_sudo_every_spelling() {
    let server = TestServer::dev();
    let log = server.temp_path("audit.log");
    let (status, body) = server
        .root(
            "PUT",
            "sys/audit/file",
            Some(json!({"type": "file", "options": {"file_path": log}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    policy(
        &server,
        "auditor",
        r#"path "sys/audit-chain/*" { capabilities = ["read", "update", "list"] }
           path "sys/audit-hash/*" { capabilities = ["update"] }"#,
    )
    .await;
    let auditor = token(&server, json!({ "policies": ["auditor"] })).await;
    for spelling in [
        "sys/audit-chain/file",
        "sys/audit-chain/file/",
        "sys/audit-chain/%66ile",
        "sys/audit-chain/file%2F",
        "sys//audit-chain/file",
        "sys/audit-chain/./file",
        "SYS/audit-chain/file",
        "sys/AUDIT-CHAIN/file",
    ] {
        let (status, body) = raw(&server, "GET", spelling, &auditor, None).await;
        assert!((400..500).contains(&status), "{spelling}: {status} {body}");
        assert!(!body.contains("key"), "{spelling} leaked: {body}");
    }
    let root = server.root_token.clone();
    let (status, body) = raw(&server, "GET", "sys/audit-chain/file", &root, None).await;
    assert_eq!(status, 200, "root reads it: {body}");
}
