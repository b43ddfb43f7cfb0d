//! `cubbyhole/`: every token's private space. Two tokens writing the same
//! path each read only their own; a revoked or used-up token's space is
//! gone from storage (counted in a snapshot of every stored key); a token
//! whose policies grant no cubbyhole is refused on every spelling; the mount
//! is built in and cannot be unmounted or mounted again.

use super::acl_bypass::{policy, raw, token};
use super::common::{ok_stdout, TestServer};
use serde_json::{json, Value};
use std::io::Read;

async fn put(server: &TestServer, token: &str, path: &str, body: Value) {
    let (status, answer) = server
        .call("PUT", &format!("cubbyhole/{path}"), Some(token), Some(body))
        .await;
    assert_eq!(status, 204, "write {path}: {answer}");
}

async fn get(server: &TestServer, token: &str, path: &str) -> (u16, Value) {
    server
        .call("GET", &format!("cubbyhole/{path}"), Some(token), None)
        .await
}

/// How many stored keys lie in some token's cubbyhole, read from a
/// snapshot of the whole store (keys are plaintext in its `state.bin`).
async fn stored_cubbyhole_keys(server: &TestServer) -> usize {
    let response = reqwest::Client::new()
        .get(format!("{}/v1/sys/storage/snapshot", server.addr))
        .header("X-Vault-Token", &server.root_token)
        .send()
        .await
        .expect("snapshot");
    assert_eq!(response.status().as_u16(), 200);
    let bytes = response.bytes().await.expect("snapshot bytes");
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
    let mut state = Vec::new();
    for file in archive.entries().expect("tar") {
        let mut file = file.expect("tar entry");
        if file.path().expect("name").to_string_lossy() == "state.bin" {
            file.read_to_end(&mut state).expect("state.bin");
        }
    }
    assert!(!state.is_empty(), "the snapshot has a state.bin");
    let (mut at, mut found) = (0usize, 0usize);
    let len = |at: usize| u32::from_be_bytes(state[at..at + 4].try_into().expect("u32")) as usize;
    while at < state.len() {
        let key_len = len(at);
        let key = String::from_utf8_lossy(&state[at + 4..at + 4 + key_len]).to_string();
        at += 4 + key_len;
        at += 4 + len(at);
        if key.contains("/cubbyhole/") {
            found += 1;
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tokens_see_only_their_own_cubbyhole() {
    let server = TestServer::dev();
    let alice = token(&server, json!({"policies": ["default"]})).await;
    let bob = token(&server, json!({"policies": ["default"]})).await;
    put(&server, &alice, "shared/name", json!({"v": "alice-5d1"})).await;
    put(&server, &bob, "shared/name", json!({"v": "bob-77e"})).await;
    put(&server, &alice, "only-alice", json!({"v": "a"})).await;

    let (status, body) = get(&server, &alice, "shared/name").await;
    assert_eq!((status, &body["data"]), (200, &json!({"v": "alice-5d1"})));
    let (status, body) = get(&server, &bob, "shared/name").await;
    assert_eq!((status, &body["data"]), (200, &json!({"v": "bob-77e"})));
    let (status, _) = get(&server, &bob, "only-alice").await;
    assert_eq!(status, 404, "bob never sees alice's entries");
    // Root has a cubbyhole of its own too, empty.
    let (status, _) = server.root("GET", "cubbyhole/shared/name", None).await;
    assert_eq!(status, 404, "root does not see other tokens' cubbyholes");

    // LIST, at the top and one level down.
    let (status, body) = server.call("LIST", "cubbyhole/", Some(&alice), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["keys"], json!(["only-alice", "shared/"]));
    let (status, body) = server.call("LIST", "cubbyhole", Some(&bob), None).await;
    assert_eq!((status, &body["data"]["keys"]), (200, &json!(["shared/"])));
    let (status, body) = server
        .call("LIST", "cubbyhole/shared/", Some(&bob), None)
        .await;
    assert_eq!((status, &body["data"]["keys"]), (200, &json!(["name"])));
    let (status, _) = server
        .call("LIST", "cubbyhole/", Some(&server.root_token), None)
        .await;
    assert_eq!(status, 404, "root's cubbyhole is empty");

    // Overwrite, then delete: alice's change never reaches bob's entry.
    put(&server, &alice, "shared/name", json!({"v": "alice-2"})).await;
    let (status, _) = server
        .call("DELETE", "cubbyhole/shared/name", Some(&alice), None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(get(&server, &alice, "shared/name").await.0, 404);
    let (_, body) = get(&server, &bob, "shared/name").await;
    assert_eq!(body["data"]["v"], "bob-77e");

    // An empty write and a write to the mount itself are refused.
    let (status, _) = server
        .call("PUT", "cubbyhole/empty", Some(&alice), Some(json!({})))
        .await;
    assert_eq!(status, 400, "missing data fields");

    // The real bao CLI reads and writes it like any KV v1 mount.
    ok_stdout(&server.bao(&bob, &["write", "cubbyhole/cli", "answer=42"]));
    let out = ok_stdout(&server.bao(&bob, &["read", "-field=answer", "cubbyhole/cli"]));
    assert_eq!(out.trim(), "42");
    assert_eq!(get(&server, &alice, "cli").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_tokens_cubbyhole_is_deleted() {
    let server = TestServer::dev();
    let before = stored_cubbyhole_keys(&server).await;
    policy(
        &server,
        "creator",
        r#"path "auth/token/create" { capabilities = ["update"] }"#,
    )
    .await;
    let doomed = token(&server, json!({"policies": ["default"]})).await;
    let keeper = token(&server, json!({"policies": ["default", "creator"]})).await;
    put(&server, &doomed, "a", json!({"v": "1"})).await;
    put(&server, &doomed, "dir/b", json!({"v": "2"})).await;
    put(&server, &keeper, "a", json!({"v": "kept"})).await;
    assert_eq!(stored_cubbyhole_keys(&server).await, before + 3);

    let (status, body) = server
        .call("PUT", "auth/token/revoke-self", Some(&doomed), None)
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        stored_cubbyhole_keys(&server).await,
        before + 1,
        "the revoked token's entries are gone from storage"
    );
    assert_eq!(get(&server, &doomed, "a").await.0, 403, "the token is gone");
    let fresh = token(&server, json!({"policies": ["default"]})).await;
    assert_eq!(get(&server, &fresh, "a").await.0, 404);
    assert_eq!(get(&server, &keeper, "a").await.1["data"]["v"], "kept");

    // A parent's revocation takes its children's cubbyholes with it.
    let (status, body) = server
        .call("POST", "auth/token/create", Some(&keeper), Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");
    let child = body["auth"]["client_token"]
        .as_str()
        .expect("child")
        .to_string();
    put(&server, &child, "c", json!({"v": "child"})).await;
    let (status, _) = server
        .root("PUT", "auth/token/revoke", Some(json!({"token": keeper})))
        .await;
    assert_eq!(status, 204);
    assert_eq!(stored_cubbyhole_keys(&server).await, before);

    // A token with two uses: its last use serves the read, then the token
    // and its cubbyhole go.
    let limited = token(&server, json!({"policies": ["default"], "num_uses": 2})).await;
    put(&server, &limited, "once", json!({"v": "x"})).await;
    assert_eq!(get(&server, &limited, "once").await.0, 200);
    assert_eq!(stored_cubbyhole_keys(&server).await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_cubbyhole_grant_every_spelling_is_refused() {
    let server = TestServer::dev();
    policy(
        &server,
        "kv-only",
        r#"path "secret/*" { capabilities = ["read"] }"#,
    )
    .await;
    let owner = token(&server, json!({"policies": ["default"]})).await;
    put(&server, &owner, "x", json!({"v": "1"})).await;
    let bare = token(
        &server,
        json!({"policies": ["kv-only"], "no_default_policy": true}),
    )
    .await;
    for spelling in [
        "cubbyhole/x",
        "cubbyhole/x/",
        "cubbyhole//x",
        "cubbyhole/./x",
        "CUBBYHOLE/x",
        "Cubbyhole/x",
        "cubbyhole%2Fx",
        "cubbyhole%2fx",
        "%63ubbyhole/x",
        "cubbyhole",
        "cubbyhole/",
    ] {
        for (method, body) in [
            ("GET", None),
            ("PUT", Some(json!({"v": "2"}))),
            ("DELETE", None),
            ("LIST", None),
        ] {
            let (status, answer) = raw(&server, method, spelling, &bare, body.as_ref()).await;
            assert!(
                status == 403 || status == 400 || status == 405,
                "{method} {spelling}: {status} {answer}"
            );
            assert!(
                !answer.contains("\"v\""),
                "{method} {spelling} leaked: {answer}"
            );
        }
    }
    // The owner's entry is untouched by all of it.
    assert_eq!(get(&server, &owner, "x").await.1["data"]["v"], "1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cubbyhole_mount_is_built_in() {
    let server = TestServer::dev();
    let (status, body) = server.root("GET", "sys/mounts", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["cubbyhole/"]["type"], "cubbyhole", "{body}");
    let (status, body) = server.root("DELETE", "sys/mounts/cubbyhole", None).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server
        .root(
            "POST",
            "sys/mounts/other",
            Some(json!({"type": "cubbyhole"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = server.root("GET", "sys/mounts", None).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_tokens_cubbyhole_is_deleted() {
    let server = TestServer::dev();
    let before = stored_cubbyhole_keys(&server).await;
    let brief = token(&server, json!({"policies": ["default"], "ttl": "2s"})).await;
    put(&server, &brief, "short-lived", json!({"v": "x"})).await;
    assert_eq!(stored_cubbyhole_keys(&server).await, before + 1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while stored_cubbyhole_keys(&server).await > before {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired token's cubbyhole stayed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    assert_eq!(get(&server, &brief, "short-lived").await.0, 403);
}
