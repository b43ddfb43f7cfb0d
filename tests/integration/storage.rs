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
