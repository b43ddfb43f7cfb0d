//! What is on disk: only ciphertext, and tampering is detected.

use super::common::TestServer;
use serde_json::json;
use std::path::Path;

fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("read dir").flatten() {
                pending.push(entry.path());
            }
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_files_hold_no_plaintext_and_tampering_is_detected() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    server
        .root("POST", "sys/mounts/secret", Some(json!({"type": "kv-v2"})))
        .await;
    let marker = "MARKER-7f3c9a-plaintext-must-not-reach-disk";
    let (status, body) = server
        .root(
            "PUT",
            "secret/data/canary",
            Some(json!({"data": {"value": marker}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    server.kill();
    assert!(
        files_containing(&server.data_dir(), marker.as_bytes()).is_empty(),
        "the marker reached disk in plaintext"
    );
    assert!(
        files_containing(&server.data_dir(), server.root_token.as_bytes()).is_empty(),
        "token on disk"
    );

    // Flip one byte of the stored version, and copy another value over a key.
    {
        let db = sled::open(server.data_dir()).expect("open sled");
        let version_key = db
            .iter()
            .keys()
            .flatten()
            .find(|k| k.starts_with(b"logical/") && k.ends_with(b"/version/1/canary"))
            .expect("stored version");
        let mut value = db.get(&version_key).expect("get").expect("value").to_vec();
        let last = value.len() - 1;
        value[last] ^= 0x01;
        db.insert(&version_key, value).expect("insert");
        db.flush().expect("flush");
    }
    server.restart();
    server.unseal(&key).await;
    let (status, body) = server.root("GET", "secret/data/canary", None).await;
    assert_eq!(status, 500, "{body}");
    let message = body["errors"][0].as_str().unwrap_or_default();
    assert!(message.contains("failed authentication"), "{body}");
    assert!(!message.contains(marker));

    // A valid ciphertext moved to another key does not open either.
    server
        .root(
            "PUT",
            "secret/data/other",
            Some(json!({"data": {"v": "x"}})),
        )
        .await;
    server.kill();
    {
        let db = sled::open(server.data_dir()).expect("open sled");
        let keys: Vec<_> = db.iter().keys().flatten().collect();
        let other = keys
            .iter()
            .find(|k| k.ends_with(b"/version/1/other"))
            .expect("other")
            .clone();
        let meta_other = keys
            .iter()
            .find(|k| k.ends_with(b"/meta/other"))
            .expect("meta")
            .clone();
        let canary_meta = keys
            .iter()
            .find(|k| k.ends_with(b"/meta/canary"))
            .expect("meta canary")
            .clone();
        let moved = db.get(&canary_meta).expect("get").expect("value");
        db.insert(&meta_other, moved).expect("insert");
        db.flush().expect("flush");
        drop(other);
    }
    server.restart();
    server.unseal(&key).await;
    let (status, body) = server.root("GET", "secret/data/other", None).await;
    assert_eq!(
        status, 500,
        "a value moved to another key must not decrypt: {body}"
    );
}

/// Flips one byte of one stored record of each kind (the first key with
/// the prefix that contains the needle) and returns the keys it flipped.
fn flip_one_of_each(dir: &Path, kinds: &[(&str, &str, &str)]) -> Vec<String> {
    let db = sled::open(dir).expect("open sled");
    let keys: Vec<String> = db
        .iter()
        .keys()
        .flatten()
        .map(|k| String::from_utf8_lossy(&k).into_owned())
        .collect();
    let mut flipped = Vec::new();
    for (kind, prefix, needle) in kinds {
        let key = keys
            .iter()
            .find(|k| k.starts_with(prefix) && k.contains(needle))
            .unwrap_or_else(|| panic!("no {kind} record ({needle}) among {keys:#?}"));
        let mut value = db.get(key).expect("get").expect("value").to_vec();
        let middle = value.len() / 2;
        value[middle] ^= 0x20;
        db.insert(key.as_bytes(), value).expect("insert");
        flipped.push(key.clone());
    }
    db.flush().expect("flush");
    flipped
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_in_any_record_is_named_never_served() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    super::common::mount_database_role(&server, "1h", "2h").await;
    let setup = [
        ("POST", "sys/mounts/secret", json!({"type": "kv-v2"})),
        ("POST", "sys/mounts/kv", json!({"type": "kv"})),
        (
            "PUT",
            "secret/data/app",
            json!({"data": {"v": "kv2-value"}}),
        ),
        ("PUT", "kv/app", json!({"v": "kv1-value"})),
        (
            "PUT",
            "sys/policies/acl/app",
            json!({"policy": "path \"kv/*\" { capabilities = [\"read\"] }"}),
        ),
    ];
    for (method, path, body) in setup {
        let (status, answer) = server.root(method, path, Some(body)).await;
        assert!(status < 300, "{path}: {answer}");
    }
    let (status, token) = server
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["app"]})),
        )
        .await;
    assert_eq!(status, 200, "{token}");
    let token = token["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();
    let (status, lease) = server.root("GET", "database/creds/app", None).await;
    assert_eq!(status, 200, "{lease}");
    let lease_id = lease["lease_id"].as_str().expect("lease").to_string();
    server.kill();
    // The child token's record (not root's): its hash names its lease.
    let child_hash = {
        let db = sled::open(server.data_dir()).expect("open sled");
        let key = db
            .scan_prefix(b"sys/lease/id/auth/token/create/")
            .keys()
            .flatten()
            .next()
            .expect("the child token's lease");
        let key = String::from_utf8_lossy(&key).into_owned();
        key.rsplit('/').next().expect("hash").to_string()
    };

    let flipped = flip_one_of_each(
        &server.data_dir(),
        &[
            ("KV v2 version", "logical/", "/version/1/app"),
            ("KV v1", "logical/", "/v1/app"),
            ("policy", "sys/policy/app", ""),
            ("lease", "sys/lease/id/database/", ""),
            ("database role", "logical/", "/roles/app"),
            ("token", "sys/token/id/", &child_hash),
        ],
    );
    server.restart();
    server.unseal(&key).await;
    let mut reads = 0;
    for (path, who) in [
        ("secret/data/app", server.root_token.clone()),
        ("kv/app", server.root_token.clone()),
        ("sys/policies/acl/app", server.root_token.clone()),
        ("database/roles/app", server.root_token.clone()),
    ] {
        let (status, body) = server.call("GET", path, Some(&who), None).await;
        assert_eq!(status, 500, "{path}: {body}");
        let message = body["errors"][0].as_str().unwrap_or_default();
        assert!(message.contains("failed authentication"), "{path}: {body}");
        assert!(
            flipped.iter().any(|k| message.contains(k.as_str())),
            "{path}: names no flipped key: {body}"
        );
        assert!(!body.to_string().contains("-value"), "{path}: {body}");
        reads += 1;
    }
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert!(status >= 400, "a tampered lease must not be served: {body}");
    // The tampered token authenticates nothing.
    let (status, body) = server
        .call("GET", "auth/token/lookup-self", Some(&token), None)
        .await;
    assert!(status == 500 || status == 403, "{body}");
    assert!(body["data"].is_null(), "{body}");
    // verify-storage names every flipped record, and only those.
    let output = server.qm(&server.root_token, &["operator", "verify-storage"]);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(2), "{text}");
    for key in &flipped {
        assert!(text.contains(key.as_str()), "{key} not reported:\n{text}");
    }
    assert!(
        text.contains(&format!("{} do not open", flipped.len())),
        "{text}"
    );
    let (status, _) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200);
    // The line scripts/faults/tamper.sh prints.
    println!(
        "tamper: one byte flipped in {} records (KV v2, KV v1, policy, lease, database role, token; sled); wrong values served: 0 of {} reads; errors naming the stored key: {reads} of {reads} reads of a record, the lease and the token refused; verify-storage named {} of {}",
        flipped.len(),
        reads + 2,
        flipped.len(),
        flipped.len(),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_altered_keyring_or_mount_table_fails_the_unseal_by_name() {
    for (record, expected) in [
        ("core/mounts", "core/mounts"),
        ("core/keyring", "keyring was altered"),
    ] {
        let mut server = TestServer::from_config("", "");
        let key = server.init_and_unseal().await;
        server.kill();
        flip_one_of_each(&server.data_dir(), &[(record, record, "")]);
        server.restart();
        let (unseal, answer) = server
            .call("PUT", "sys/unseal", None, Some(json!({ "key": key })))
            .await;
        assert!((400..600).contains(&unseal), "{record}: {unseal} {answer}");
        let message = answer["errors"][0].as_str().unwrap_or_default();
        assert!(message.contains(expected), "{record}: {answer}");
        let (status, body) = server.call("GET", "sys/seal-status", None, None).await;
        assert_eq!(status, 200, "{record}: {body}");
        assert_eq!(body["sealed"], true, "{record}: {body}");
        // The lines scripts/faults/tamper.sh prints.
        println!("tamper: {record} flipped: unseal {unseal}, sealed: \"{message}\"");
    }
}

/// `sys/storage/verify` walks the whole store: sudo only, on every spelling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_storage_needs_sudo_on_every_spelling() {
    let server = TestServer::dev();
    let policy = r#"path "sys/storage/verify" { capabilities = ["read", "list", "update"] }
path "sys/storage/*" { capabilities = ["read"] }"#;
    let token = server.token_with_policy("verify", policy).await;
    for path in [
        "sys/storage/verify",
        "sys/storage/verify/",
        "SYS/storage/verify",
        "sys/storage/VERIFY",
        "sys//storage/verify",
        "sys/storage/./verify",
        "sys/storage/%76erify",
        "sys/storage%2Fverify",
        "sys/storage/verify?list=true",
    ] {
        for method in ["GET", "LIST"] {
            let (status, body) = super::acl_bypass::raw(&server, method, path, &token, None).await;
            // Refused, or (where the policy's glob lets another spelling
            // through to the router) no such route: never the walk.
            assert!(
                [400, 403, 404, 405].contains(&status),
                "{method} {path}: {status} {body}"
            );
            assert!(!body.contains("checked"), "{method} {path}: {body}");
        }
    }
    let (status, body) = server.root("GET", "sys/storage/verify", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["unreadable"], json!([]), "{body}");
    assert!(body["data"]["checked"].as_u64().unwrap_or(0) > 0, "{body}");
}
