//! Audit devices: every request and response is on the record with no
//! secret or token in plain text, the keyed hash chain verifies and catches
//! an edited line (also when the links after it are recomputed without the
//! key) and a cut-off tail (also one cut while the server was down), and
//! when no device can write, requests are refused (recovering after SIGHUP
//! reopens the file).

use super::common::{ok_stdout, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

const SECRET_MARKER: &str = "audit-secret-marker-7f3a";

fn audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("audit log")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_hides_secrets_and_its_chain_catches_edits() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    let log = server.temp_path("audit.log");
    let enabled = server.bao(
        &root,
        &[
            "audit",
            "enable",
            "file",
            &format!("file_path={}", log.display()),
        ],
    );
    ok_stdout(&enabled);
    let listed = ok_stdout(&server.bao(&root, &["audit", "list", "-format=json"]));
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed["file/"]["type"], "file");

    // A KV secret, an AppRole login and a child token all pass through.
    let (status, _) = server
        .root(
            "POST",
            "secret/data/app",
            Some(json!({"data": {"password": SECRET_MARKER}})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, read) = server.root("GET", "secret/data/app", None).await;
    assert_eq!(
        (status, &read["data"]["data"]["password"]),
        (200, &json!(SECRET_MARKER))
    );
    server
        .root("POST", "sys/auth/approle", Some(json!({"type": "approle"})))
        .await;
    server
        .root(
            "POST",
            "auth/approle/role/ci",
            Some(json!({"token_policies": "default"})),
        )
        .await;
    let (_, role_id) = server
        .root("GET", "auth/approle/role/ci/role-id", None)
        .await;
    let role_id = role_id["data"]["role_id"].as_str().expect("role_id");
    let (_, secret) = server
        .root("POST", "auth/approle/role/ci/secret-id", Some(json!({})))
        .await;
    let secret_id = secret["data"]["secret_id"].as_str().expect("secret_id");
    let (status, login) = server
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": role_id, "secret_id": secret_id})),
        )
        .await;
    assert_eq!(status, 200);
    let login_token = login["auth"]["client_token"].as_str().expect("token");
    let (status, _) = server
        .call("GET", "secret/data/app", Some(login_token), None)
        .await;
    assert_eq!(status, 403, "denied requests are audited too");

    let text = std::fs::read_to_string(&log).expect("audit log");
    for (what, marker) in [
        ("KV value", SECRET_MARKER),
        ("root token", root.as_str()),
        ("secret ID", secret_id),
        ("login token", login_token),
    ] {
        assert!(!text.contains(marker), "{what} appears in the audit log");
    }
    let lines = audit_lines(&log);
    let (_, hash) = server
        .root(
            "POST",
            "sys/audit-hash/file",
            Some(json!({"input": SECRET_MARKER})),
        )
        .await;
    let hash = hash["data"]["hash"].as_str().expect("hash");
    assert!(hash.starts_with("hmac-sha256:"));
    let write = lines
        .iter()
        .find(|l| {
            l["type"] == "request"
                && l["request"]["operation"] == "create"
                && l["request"]["path"] == "secret/data/app"
        })
        .expect("the KV write request");
    assert_eq!(write["request"]["data"]["data"]["password"], hash);
    let denied = lines
        .iter()
        .find(|l| l["type"] == "response" && l["error"] == "permission denied")
        .expect("the denied read");
    assert_eq!(denied["request"]["path"], "secret/data/app");
    let login_response = lines
        .iter()
        .find(|l| l["type"] == "response" && l["request"]["path"] == "auth/approle/login")
        .expect("the login");
    assert!(login_response["response"]["auth"]["client_token"]
        .as_str()
        .is_some_and(|t| t.starts_with("hmac-sha256:")));

    let verify = |path: &std::path::Path| {
        server.qm(&root, &["audit", "verify", path.to_str().expect("utf-8")])
    };
    let intact = verify(&log);
    assert!(
        intact.status.success(),
        "{}",
        String::from_utf8_lossy(&intact.stderr)
    );

    // Edit the third line (a different path) and the chain names it.
    let edited = server.temp_path("edited.log");
    let mut raw: Vec<String> = text.lines().map(String::from).collect();
    raw[2] = raw[2].replacen("\"path\":\"", "\"path\":\"x", 1);
    std::fs::write(&edited, raw.join("\n") + "\n").expect("write");
    let broken = verify(&edited);
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");

    // The attacker edits line 3 and recomputes every link after it, as the
    // unkeyed chain allowed: without the chain key, the chain still breaks.
    let forged = server.temp_path("forged.log");
    let mut previous = raw[2].clone();
    for line in raw.iter_mut().skip(3) {
        let mut entry: serde_json::Map<String, Value> =
            serde_json::from_str(line).expect("json line");
        let link = format!("sha256:{}", sha256_hex(previous.as_bytes()));
        entry.insert("prev_hash".into(), json!(link));
        *line = serde_json::to_string(&entry).expect("json");
        previous = line.clone();
    }
    std::fs::write(&forged, raw.join("\n") + "\n").expect("write");
    let broken = verify(&forged);
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("line 3"), "{stderr}");

    // Without a token the chain key is not handed out.
    let refused = server.qm("", &["audit", "verify", log.to_str().expect("utf-8")]);
    assert_ne!(refused.status.code(), Some(0));

    // The live log with its last lines cut off: the lines the server wrote
    // after the cut do not link to what is left.
    let text = std::fs::read_to_string(&log).expect("audit log");
    let kept: Vec<&str> = text.lines().collect();
    let kept = &kept[..kept.len() - 3];
    std::fs::write(&log, kept.join("\n") + "\n").expect("truncate");
    let broken = verify(&log);
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("were removed"), "{stderr}");

    // Checked elsewhere with the saved chain key and head: a copy that ends
    // before the head is reported as truncated.
    let (status, chain) = server.root("GET", "sys/audit-chain/file", None).await;
    assert_eq!(status, 200, "{chain}");
    let head = chain["data"]["seq"].as_u64().expect("seq");
    let copy = server.temp_path("copy.log");
    let cut: Vec<String> = std::fs::read_to_string(&log)
        .expect("audit log")
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l).expect("json")["seq"]
                .as_u64()
                .is_some_and(|seq| seq + 2 < head)
        })
        .map(String::from)
        .collect();
    std::fs::write(&copy, cut.join("\n") + "\n").expect("write copy");
    let mut saved = chain["data"].clone();
    saved["file_path"] = json!(copy);
    let chain_file = server.temp_path("chain.json");
    std::fs::write(&chain_file, saved.to_string()).expect("write chain");
    let broken = server.qm(
        "",
        &[
            "audit",
            "verify",
            "--chain-file",
            chain_file.to_str().expect("utf-8"),
            copy.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("truncated"), "{stderr}");
}

fn sha256_hex(bytes: &[u8]) -> String {
    use ring::digest::{digest, SHA256};
    hex::encode(digest(&SHA256, bytes))
}

/// A tail cut off while the server is down: the device goes on from the
/// head it stored (here at seal), so the gap shows; with the unkeyed,
/// unanchored chain the server went on from what was left and the log
/// verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tail_cut_while_the_server_is_down_is_detected() {
    let mut server = TestServer::from_config("", "");
    let key = server.init_and_unseal().await;
    let log = server.temp_path("audit.log");
    let (status, body) = server
        .root(
            "PUT",
            "sys/audit/file",
            Some(json!({"type": "file", "options": {"file_path": log}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    for _ in 0..4 {
        assert_eq!(server.root("GET", "sys/mounts", None).await.0, 200);
    }
    assert_eq!(server.root("PUT", "sys/seal", None).await.0, 204);
    server.restart();
    let text = std::fs::read_to_string(&log).expect("audit log");
    let lines: Vec<&str> = text.lines().collect();
    std::fs::write(&log, lines[..lines.len() - 3].join("\n") + "\n").expect("truncate");
    server.unseal(&key).await;
    assert_eq!(server.root("GET", "sys/mounts", None).await.0, 200);
    let root = server.root_token.clone();
    let broken = server.qm(&root, &["audit", "verify", log.to_str().expect("utf-8")]);
    assert_eq!(broken.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&broken.stderr);
    assert!(stderr.contains("were removed"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_fail_when_no_audit_device_can_write() {
    let server = TestServer::dev();
    let dir = server.temp_path("logs");
    std::fs::create_dir(&dir).expect("mkdir");
    let log = dir.join("audit.log");
    let (status, body) = server
        .root(
            "PUT",
            "sys/audit/file",
            Some(json!({"type": "file", "options": {"file_path": log}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(server.root("GET", "sys/mounts", None).await.0, 200);

    // Rotation gone wrong: the directory disappears and SIGHUP cannot reopen.
    std::fs::rename(&dir, server.temp_path("logs.old")).expect("rename");
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, body) = server
        .root(
            "POST",
            "secret/data/unrecorded",
            Some(json!({"data": {"a": "b"}})),
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(body["errors"][0]
        .as_str()
        .is_some_and(|e| e.contains("audit")));

    // The directory is back: SIGHUP reopens and requests are served again.
    std::fs::create_dir(&dir).expect("mkdir");
    server.signal("HUP");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (status, _) = server.root("GET", "sys/mounts", None).await;
    assert_eq!(status, 200);
    let (status, _) = server.root("GET", "secret/data/unrecorded", None).await;
    assert_eq!(status, 404, "the refused write never happened");
    let rotated = audit_lines(&log);
    assert!(!rotated.is_empty());
    assert!(
        rotated[0]["prev_hash"]
            .as_str()
            .is_some_and(|h| h.starts_with("hmac-sha256:")),
        "the chain goes on across rotation"
    );

    // A second device that cannot write does not block the first.
    let (status, body) = server
        .root(
            "PUT",
            "sys/audit/full",
            Some(json!({"type": "file", "options": {"file_path": "/dev/full"}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(server.root("GET", "sys/mounts", None).await.0, 200);
}

/// Vault's file device options: `mode`, `hmac_accessor`,
/// `elide_list_responses` do what they say; `log_raw`, `prefix`, other
/// formats and unknown options are refused, never ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vaults_file_device_options_are_honoured_or_refused() {
    let server = TestServer::dev();
    let log = server.temp_path("opts.log");
    let enable = |name: &'static str, options: serde_json::Value| {
        enable_file_device(&server, name, options, &log)
    };
    for bad in [
        serde_json::json!({"log_raw": "true"}),
        serde_json::json!({"prefix": "qm:"}),
        serde_json::json!({"format": "jsonx"}),
        serde_json::json!({"mode": "1777x"}),
        serde_json::json!({"hmac_accessor": "perhaps"}),
        serde_json::json!({"colour": "red"}),
    ] {
        let (code, body) = enable("bad", bad.clone()).await;
        assert_eq!(code, 400, "{bad}: {body}");
    }
    let (code, body) = enable(
        "opts",
        serde_json::json!({"mode": "0640", "hmac_accessor": "false", "elide_list_responses": "true"}),
    )
    .await;
    assert_eq!(code, 204, "{body}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(&log).expect("log").permissions(),
    );
    assert_eq!(mode & 0o777, 0o640);
    for key in ["a", "b", "c"] {
        server
            .root(
                "PUT",
                &format!("secret/data/{key}"),
                Some(serde_json::json!({"data": {"v": 1}})),
            )
            .await;
    }
    let (code, _) = server.root("LIST", "secret/metadata/", None).await;
    assert_eq!(code, 200);
    let (_, me) = server.root("GET", "auth/token/lookup-self", None).await;
    let accessor = me["data"]["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(
        text.contains(&accessor),
        "hmac_accessor=false: accessors as they are"
    );
    assert!(
        !text.contains(&server.root_token),
        "tokens are still HMAC'd"
    );
    let listed = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|e| e["type"] == "response" && e["request"]["operation"] == "list")
        .expect("the LIST response");
    assert_eq!(listed["response"]["data"]["keys"], 3, "{listed}");
}

async fn enable_file_device(
    server: &TestServer,
    name: &str,
    mut options: serde_json::Value,
    log: &std::path::Path,
) -> (u16, serde_json::Value) {
    options["file_path"] = serde_json::json!(log.to_str().expect("path"));
    server
        .root(
            "PUT",
            &format!("sys/audit/{name}"),
            Some(serde_json::json!({"type": "file", "options": options})),
        )
        .await
}
