//! Auto-unseal: the static seal and AWS KMS (moto) wrap the key, a
//! restarted node unseals itself, recovery keys are issued instead of
//! unseal keys, and a store migrates from Shamir to an auto seal and back.

use super::aws::{aws_config, aws_url};
use super::common::{strings, TestServer};
use serde_json::{json, Value};

const STATIC_KEY_HEX: &str = "4f1b7c2d9e0a3b5c6d7e8f901a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";

fn static_seal(env_var: &str) -> String {
    format!(
        "[seal]\ntype = \"static\"\ncurrent_key_id = \"k1\"\ncurrent_key = \"env://{env_var}\"\n"
    )
}

/// Creates a KMS key in moto; returns its id.
async fn kms_key() -> String {
    let kms = aws_sdk_kms::Client::new(&aws_config().await);
    kms.create_key()
        .description("quartermaster seal test")
        .send()
        .await
        .expect("create KMS key in moto")
        .key_metadata()
        .expect("metadata")
        .key_id()
        .to_string()
}

fn moto_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST0000".into()),
        ("AWS_SECRET_ACCESS_KEY", "test-secret".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_KMS_ENDPOINT", aws_url()),
    ]
}

async fn put_secret(server: &TestServer) {
    let (status, body) = server
        .root(
            "PUT",
            "secret/data/survivor",
            Some(json!({"data": {"v": "kept"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn assert_secret(server: &TestServer) {
    let (status, body) = server.root("GET", "secret/data/survivor", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["data"]["v"], "kept");
}

async fn mount_kv(server: &TestServer) {
    let (status, body) = server
        .root(
            "POST",
            "sys/mounts/secret",
            Some(json!({"type": "kv", "options": {"version": "2"}})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_seal_issues_recovery_keys_and_unseals_itself_after_restart() {
    let env = [("QM_TEST_STATIC_SEAL_1", STATIC_KEY_HEX)];
    let mut server = TestServer::from_config_with_env("", &static_seal(env[0].0), &env);
    let (_, status) = server.call("GET", "sys/seal-status", None, None).await;
    assert_eq!(status["type"], "static");
    assert_eq!(status["recovery_seal"], true);

    // Shamir fields do not apply to an auto seal, as in Vault.
    let (code, body) = server
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"secret_shares": 5, "secret_threshold": 3})),
        )
        .await;
    assert_eq!(code, 400, "{body}");
    let body = server
        .init_with(json!({"recovery_shares": 3, "recovery_threshold": 2}))
        .await;
    assert_eq!(body["keys"], json!([]));
    assert_eq!(strings(&body, "recovery_keys_base64").len(), 3);
    let status = server.wait_sealed(false).await;
    assert_eq!(
        status["sealed"], false,
        "unsealed right after init: {status}"
    );
    assert_eq!(
        (status["t"].clone(), status["n"].clone()),
        (json!(2), json!(3))
    );
    mount_kv(&server).await;
    put_secret(&server).await;

    server.restart();
    let status = server.wait_sealed(false).await;
    assert_eq!(status["sealed"], false, "{status}");
    assert_secret(&server).await;

    // Sealed by an operator: sys/unseal asks the seal again, no key needed.
    let (code, _) = server.root("PUT", "sys/seal", None).await;
    assert_eq!(code, 204);
    let (code, body) = server
        .call("PUT", "sys/unseal", None, Some(json!({})))
        .await;
    assert_eq!((code, &body["sealed"]), (200, &json!(false)), "{body}");

    // Another static key does not open the store: it stays sealed and says why.
    server.edit_config(|c| c.replace("QM_TEST_STATIC_SEAL_1", "QM_TEST_STATIC_SEAL_OTHER"));
    let mut other = server;
    other_env(&mut other);
    other.restart();
    let (code, body) = other.call("PUT", "sys/unseal", None, Some(json!({}))).await;
    assert_eq!(code, 502, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or("")
            .contains("does not open"),
        "{body}"
    );
    let status = other.wait_sealed(false).await;
    assert_eq!(status["sealed"], true);
}

/// Points the restarted server at a different static key.
fn other_env(server: &mut TestServer) {
    server.set_env("QM_TEST_STATIC_SEAL_OTHER", &"11".repeat(32));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn awskms_seal_unseals_itself_from_moto_after_kill_9() {
    let key_id = kms_key().await;
    let env = moto_env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tables = format!("[seal]\ntype = \"awskms\"\nkms_key_id = \"{key_id}\"\n");
    let mut server = TestServer::from_config_with_env("", &tables, &env);

    // The real bao CLI initializes it as it would Vault with awskms.
    let out = server.bao(
        "",
        &[
            "operator",
            "init",
            "-recovery-shares=1",
            "-recovery-threshold=1",
            "-format=json",
        ],
    );
    assert!(
        out.status.success(),
        "bao operator init: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let init: Value = serde_json::from_slice(&out.stdout).expect("init json");
    assert_eq!(
        strings(&init, "recovery_keys_b64").len() + strings(&init, "recovery_keys_base64").len(),
        1,
        "{init}"
    );
    server.root_token = init["root_token"].as_str().expect("root").to_string();
    let status = server.wait_sealed(false).await;
    assert_eq!(status["type"], "awskms");
    assert_eq!(status["sealed"], false, "{status}");
    mount_kv(&server).await;
    put_secret(&server).await;

    server.restart();
    let status = server.wait_sealed(false).await;
    assert_eq!(
        status["sealed"], false,
        "unsealed itself after kill -9: {status}"
    );
    assert_secret(&server).await;

    // The stored key is KMS ciphertext: the wrapped key names the KMS key.
    let wrapped = std::fs::read_dir(server.data_dir())
        .expect("data dir")
        .count();
    assert!(wrapped > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shamir_store_migrates_to_static_seal_and_back() {
    let env = [("QM_TEST_STATIC_SEAL_2", STATIC_KEY_HEX)];
    let mut server = TestServer::from_config_with_env("", "", &env);
    let body = server
        .init_with(json!({"secret_shares": 3, "secret_threshold": 2}))
        .await;
    let unseal_keys = strings(&body, "keys_base64");
    server.unseal_part(&unseal_keys[0]).await;
    server.unseal(&unseal_keys[1]).await;
    mount_kv(&server).await;
    put_secret(&server).await;

    // Shamir to static: pending until the unseal keys are entered with migrate.
    server.edit_config(|c| format!("{c}\n{}", static_seal("QM_TEST_STATIC_SEAL_2")));
    server.restart();
    let (_, status) = server.call("GET", "sys/seal-status", None, None).await;
    assert_eq!(
        (status["migration"].clone(), status["type"].clone()),
        (json!(true), json!("static")),
        "{status}"
    );
    let (code, body) = server
        .call(
            "PUT",
            "sys/unseal",
            None,
            Some(json!({"key": unseal_keys[0]})),
        )
        .await;
    assert_eq!(code, 400, "migrate not given: {body}");
    let out = server.qm("", &["operator", "unseal", "-migrate", &unseal_keys[2]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = server.qm("", &["operator", "unseal", "-migrate", &unseal_keys[0]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = server.wait_sealed(false).await;
    assert_eq!(status["sealed"], false, "{status}");
    assert_eq!(
        (status["t"].clone(), status["n"].clone()),
        (json!(2), json!(3))
    );
    assert_secret(&server).await;

    server.restart();
    let status = server.wait_sealed(false).await;
    assert_eq!(status["sealed"], false, "now it unseals itself: {status}");
    assert_secret(&server).await;

    // And back to Shamir: the old unseal keys are the recovery keys now.
    server.edit_config(|c| c.replace("[seal]", "[previous_seal]"));
    server.restart();
    let (_, status) = server.call("GET", "sys/seal-status", None, None).await;
    assert_eq!(status["migration"], true, "{status}");
    let wrong = base64_of(&[7u8; 33]);
    for key in [&unseal_keys[1], &wrong] {
        let (code, body) = server
            .call(
                "PUT",
                "sys/unseal",
                None,
                Some(json!({"key": key, "migrate": true})),
            )
            .await;
        if key == &wrong {
            assert_eq!(code, 400, "a wrong recovery key: {body}");
            assert_eq!(
                body["errors"][0].as_str().map(|e| e.contains("recovery")),
                Some(true),
                "{body}"
            );
        } else {
            assert_eq!(code, 200, "{body}");
        }
    }
    for key in [&unseal_keys[1], &unseal_keys[2]] {
        let (code, body) = server
            .call(
                "PUT",
                "sys/unseal",
                None,
                Some(json!({"key": key, "migrate": true})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let status = server.wait_sealed(false).await;
    assert_eq!(status["sealed"], false, "{status}");
    assert_eq!(status["type"], "shamir");
    server.restart();
    let status = server.wait_sealed(false).await;
    assert_eq!(
        status["sealed"], true,
        "shamir again: sealed after a restart"
    );
    server.unseal_part(&unseal_keys[0]).await;
    server.unseal(&unseal_keys[2]).await;
    assert_secret(&server).await;
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Every node of a cluster unseals itself: after both are killed and
/// started again, one is active and the other a standby, with no key typed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_node_of_a_cluster_comes_back_unsealed_by_itself() {
    let db = super::common::TestDatabase::create().await;
    let storage = format!("type = \"postgresql\"\nconnection_url = \"{}\"", db.url);
    let env = [("QM_TEST_STATIC_SEAL_4", STATIC_KEY_HEX)];
    let tables = static_seal(env[0].0);
    let mut first = TestServer::with_storage_and_tables(&storage, &tables, &env);
    first
        .init_with(json!({"recovery_shares": 1, "recovery_threshold": 1}))
        .await;
    let mut second = TestServer::with_storage_and_tables(&storage, &tables, &env);
    second.root_token = first.root_token.clone();
    for server in [&first, &second] {
        assert_eq!(server.wait_sealed(false).await["sealed"], false);
    }
    mount_kv(&first).await;
    put_secret(&first).await;

    first.kill();
    second.kill();
    first.restart();
    second.restart();
    for server in [&first, &second] {
        assert_eq!(server.wait_sealed(false).await["sealed"], false);
    }
    // Both unsealed; the election may wait out the killed leader's lock:
    // until then both nodes are standbys (429), so wait for one to lead.
    let mut codes = Vec::new();
    for _ in 0..600 {
        codes.clear();
        for server in [&first, &second] {
            codes.push(server.call("GET", "sys/health", None, None).await.0);
        }
        codes.sort();
        if codes == [200, 429] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(codes, vec![200, 429], "one active node, one standby");
    // Through either node (a standby forwards).
    assert_secret(&first).await;
    assert_secret(&second).await;
    drop(first);
    drop(second);
    db.drop().await;
}
