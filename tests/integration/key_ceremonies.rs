//! Rekey and generate-root, driven by the real `bao` CLI as an operator
//! would, and tried by callers who should not get anywhere: wrong keys, a
//! token without sudo spelled every way, concurrent final keys.

use super::acl_bypass::{policy, raw, token};
use super::common::{ok_stdout, strings, TestServer};
use serde_json::{json, Value};

/// A sled server initialized with 3 shares, threshold 2, and unsealed.
async fn shamir_server() -> (TestServer, Vec<String>) {
    let mut server = TestServer::from_config("", "");
    let body = server
        .init_with(json!({"secret_shares": 3, "secret_threshold": 2}))
        .await;
    let unseal_keys = strings(&body, "keys_base64");
    server.unseal_part(&unseal_keys[0]).await;
    server.unseal(&unseal_keys[1]).await;
    (server, unseal_keys)
}

async fn nonce(server: &TestServer, path: &str) -> String {
    let (code, body) = server.call("GET", path, None, None).await;
    assert_eq!(code, 200, "{body}");
    body["nonce"].as_str().expect("nonce").to_string()
}

fn json_out(out: &std::process::Output) -> Value {
    serde_json::from_str(&ok_stdout(out)).expect("JSON output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_rekey_hands_out_new_unseal_keys_and_the_old_ones_stop_working() {
    let (mut server, old_keys) = shamir_server().await;
    let init = json_out(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-init",
            "-key-shares=4",
            "-key-threshold=3",
            "-format=json",
        ],
    ));
    assert_eq!(
        (init["t"].clone(), init["n"].clone()),
        (json!(3), json!(4)),
        "{init}"
    );
    let n = nonce(&server, "sys/rekey/init").await;

    // A key that is not one of the store's: refused at the threshold.
    let (code, _) = server
        .call(
            "PUT",
            "sys/rekey/update",
            None,
            Some(json!({"key": old_keys[0], "nonce": "wrong"})),
        )
        .await;
    assert_eq!(code, 400, "a wrong nonce");
    ok_stdout(&server.bao(
        "",
        &["operator", "rekey", &format!("-nonce={n}"), &old_keys[2]],
    ));
    let done = json_out(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-format=json",
            &format!("-nonce={n}"),
            &old_keys[0],
        ],
    ));
    let new_keys = strings(&done, "keys_base64");
    assert_eq!(new_keys.len(), 4, "{done}");

    server.restart();
    for key in &old_keys[..2] {
        let (code, body) = server
            .call("PUT", "sys/unseal", None, Some(json!({"key": key})))
            .await;
        assert_eq!(code, 200, "{body}");
    }
    let (code, body) = server
        .call("PUT", "sys/unseal", None, Some(json!({"key": old_keys[2]})))
        .await;
    assert_eq!(
        code, 400,
        "three old keys do not rebuild the new key: {body}"
    );
    for key in &new_keys[1..3] {
        server.unseal_part(key).await;
    }
    server.unseal(&new_keys[3]).await;
    let (_, status) = server.call("GET", "sys/seal-status", None, None).await;
    assert_eq!(
        (status["t"].clone(), status["n"].clone()),
        (json!(3), json!(4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_rekey_with_verify_keeps_the_old_keys_until_the_new_ones_are_entered_back() {
    let (mut server, old_keys) = shamir_server().await;
    ok_stdout(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-init",
            "-verify",
            "-key-shares=2",
            "-key-threshold=2",
        ],
    ));
    let n = nonce(&server, "sys/rekey/init").await;
    ok_stdout(&server.bao(
        "",
        &["operator", "rekey", &format!("-nonce={n}"), &old_keys[1]],
    ));
    let (code, done) = server
        .call(
            "PUT",
            "sys/rekey/update",
            None,
            Some(json!({"key": old_keys[2], "nonce": n})),
        )
        .await;
    assert_eq!(code, 200, "{done}");
    assert_eq!(done["verification_required"], true);
    let new_keys = strings(&done, "keys_base64");
    let verify_nonce = done["verification_nonce"]
        .as_str()
        .expect("nonce")
        .to_string();

    // Not verified yet: the old keys still unseal.
    let (code, _) = server.root("PUT", "sys/seal", None).await;
    assert_eq!(code, 204);
    server.unseal_part(&old_keys[0]).await;
    server.unseal(&old_keys[1]).await;

    // Sealing ended the attempt; a verified one makes the new keys current.
    ok_stdout(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-init",
            "-verify",
            "-key-shares=2",
            "-key-threshold=2",
        ],
    ));
    let n = nonce(&server, "sys/rekey/init").await;
    let mut done = Value::Null;
    for key in &old_keys[..2] {
        let (code, body) = server
            .call(
                "PUT",
                "sys/rekey/update",
                None,
                Some(json!({"key": key, "nonce": n})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        done = body;
    }
    let new_keys_2 = strings(&done, "keys_base64");
    assert_ne!(new_keys, new_keys_2);
    let verify_nonce_2 = done["verification_nonce"]
        .as_str()
        .expect("nonce")
        .to_string();
    assert_ne!(verify_nonce, verify_nonce_2);
    ok_stdout(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-verify",
            &format!("-nonce={verify_nonce_2}"),
            &new_keys_2[0],
        ],
    ));
    let out = ok_stdout(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-verify",
            &format!("-nonce={verify_nonce_2}"),
            &new_keys_2[1],
        ],
    ));
    assert!(out.contains("successful"), "{out}");
    server.restart();
    server.unseal_part(&new_keys_2[0]).await;
    server.unseal(&new_keys_2[1]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_generate_root_mints_a_root_token_only_for_the_right_keys() {
    let (server, unseal_keys) = shamir_server().await;
    let root = server.root_token.clone();
    let init = json_out(&server.bao(
        &root,
        &["operator", "generate-root", "-init", "-format=json"],
    ));
    assert_eq!(
        init["otp"].as_str().map(str::len),
        Some(28),
        "the OTP made here: {init}"
    );
    let (code, status) = server
        .root("GET", "sys/generate-root-token/attempt", None)
        .await;
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["data"]["otp_length"], 28);
    let n = status["data"]["nonce"].as_str().expect("nonce").to_string();
    // The OTP is handed out only by the call that made it: start over
    // with one of our own, as `-generate-otp` does.
    ok_stdout(&server.bao(&root, &["operator", "generate-root", "-cancel"]));
    let otp = ok_stdout(&server.bao(&root, &["operator", "generate-root", "-generate-otp"]));
    let otp = otp.trim().to_string();
    assert_eq!(otp.len(), 28, "{otp}");
    ok_stdout(&server.bao(
        &root,
        &["operator", "generate-root", "-init", &format!("-otp={otp}")],
    ));
    let (_, status) = server
        .root("GET", "sys/generate-root-token/attempt", None)
        .await;
    let n2 = status["data"]["nonce"].as_str().expect("nonce").to_string();
    assert_ne!(n, n2);

    // A wrong key at the threshold: refused, and no token.
    let wrong = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode([9u8; 33])
    };
    ok_stdout(&server.bao(
        &root,
        &[
            "operator",
            "generate-root",
            &format!("-nonce={n2}"),
            &unseal_keys[0],
        ],
    ));
    let out = server.bao(
        &root,
        &["operator", "generate-root", &format!("-nonce={n2}"), &wrong],
    );
    assert!(!out.status.success(), "a wrong key completes nothing");

    ok_stdout(&server.bao(
        &root,
        &[
            "operator",
            "generate-root",
            &format!("-nonce={n2}"),
            &unseal_keys[2],
        ],
    ));
    let done = json_out(&server.bao(
        &root,
        &[
            "operator",
            "generate-root",
            "-format=json",
            &format!("-nonce={n2}"),
            &unseal_keys[1],
        ],
    ));
    let encoded = done["encoded_token"]
        .as_str()
        .or_else(|| done["encoded_root_token"].as_str())
        .expect("encoded token")
        .to_string();
    let decoded = ok_stdout(&server.bao(
        &root,
        &[
            "operator",
            "generate-root",
            &format!("-decode={encoded}"),
            &format!("-otp={otp}"),
        ],
    ));
    let new_root = decoded.trim();
    assert!(new_root.starts_with("hvs."), "{new_root}");
    let (code, body) = server
        .call("GET", "auth/token/lookup-self", Some(new_root), None)
        .await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["data"]["policies"], json!(["root"]));
}

/// The legacy unauthenticated endpoint (Vault's CLI and hvac use it):
/// concurrent final keys mint exactly one token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_generate_root_mints_one_token_for_concurrent_final_keys() {
    let (server, unseal_keys) = shamir_server().await;
    let (code, started) = server
        .call("PUT", "sys/generate-root/attempt", None, Some(json!({})))
        .await;
    assert_eq!(code, 200, "{started}");
    let otp = started["otp"].as_str().expect("generated otp").to_string();
    assert_eq!(otp.len(), 28);
    let n = started["nonce"].as_str().expect("nonce").to_string();
    let (code, again) = server
        .call("PUT", "sys/generate-root/attempt", None, Some(json!({})))
        .await;
    assert_eq!(code, 400, "one attempt at a time: {again}");
    let (code, _) = server
        .call(
            "PUT",
            "sys/generate-root/update",
            None,
            Some(json!({"key": unseal_keys[0], "nonce": n})),
        )
        .await;
    assert_eq!(code, 200);
    let (code, dup) = server
        .call(
            "PUT",
            "sys/generate-root/update",
            None,
            Some(json!({"key": unseal_keys[0], "nonce": n})),
        )
        .await;
    assert_eq!(code, 400, "the same key twice: {dup}");
    let calls = (0..10).map(|_| {
        server.call(
            "PUT",
            "sys/generate-root/update",
            None,
            Some(json!({"key": unseal_keys[1], "nonce": n})),
        )
    });
    let answers = futures::future::join_all(calls).await;
    let complete: Vec<&Value> = answers
        .iter()
        .filter(|(code, body)| *code == 200 && body["complete"] == true)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(complete.len(), 1, "{answers:?}");
    assert!(complete[0]["encoded_token"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
}

/// `sys/generate-root-token/*` mints root tokens: without sudo, every
/// spelling is refused and no attempt starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_root_token_without_sudo_is_refused_every_way_it_is_spelled() {
    let (server, _) = shamir_server().await;
    policy(
        &server,
        "ceremony-no-sudo",
        r#"path "sys/generate-root-token/*" { capabilities = ["create", "read", "update", "delete"] }"#,
    )
    .await;
    let caller = token(&server, json!({"policies": ["ceremony-no-sudo"]})).await;
    for path in [
        "sys/generate-root-token/attempt",
        "sys/generate-root-token/attempt/",
        "sys//generate-root-token/attempt",
        "sys/Generate-Root-Token/attempt",
        "sys/generate%2Droot-token/attempt",
        "sys/generate-root-token%2Fattempt",
    ] {
        let (code, body) = raw(&server, "PUT", path, &caller, Some(&json!({}))).await;
        assert!(
            matches!(code, 400 | 403 | 404 | 405),
            "{path}: {code} {body}"
        );
    }
    let (_, status) = server
        .call("GET", "sys/generate-root/attempt", None, None)
        .await;
    assert_eq!(status["started"], false, "no attempt was started: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_keys_rekey_and_authorize_generate_root_under_an_auto_seal() {
    let env = [("QM_TEST_STATIC_SEAL_3", "7".repeat(64).as_str().to_owned())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let tables = "[seal]\ntype = \"static\"\ncurrent_key_id = \"k\"\ncurrent_key = \"env://QM_TEST_STATIC_SEAL_3\"\n";
    let mut server = TestServer::from_config_with_env("", tables, &env);
    let body = server
        .init_with(json!({"recovery_shares": 2, "recovery_threshold": 2}))
        .await;
    let recovery = strings(&body, "recovery_keys_base64");
    server.wait_sealed(false).await;

    // The recovery keys are rekeyed to 3 of threshold 2 by the bao CLI.
    ok_stdout(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-target=recovery",
            "-init",
            "-key-shares=3",
            "-key-threshold=2",
        ],
    ));
    let n = nonce(&server, "sys/rekey-recovery-key/init").await;
    ok_stdout(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-target=recovery",
            &format!("-nonce={n}"),
            &recovery[0],
        ],
    ));
    let done = json_out(&server.bao(
        "",
        &[
            "operator",
            "rekey",
            "-target=recovery",
            "-format=json",
            &format!("-nonce={n}"),
            &recovery[1],
        ],
    ));
    let new_recovery = strings(&done, "keys_base64");
    assert_eq!(new_recovery.len(), 3, "{done}");

    // The barrier key rotates with recovery keys and hands out nothing.
    let (code, _) = server
        .call(
            "PUT",
            "sys/rekey/init",
            None,
            Some(json!({"secret_shares": 0, "secret_threshold": 0})),
        )
        .await;
    assert_eq!(code, 200);
    let n = nonce(&server, "sys/rekey/init").await;
    let mut last = Value::Null;
    for key in &new_recovery[1..] {
        let (code, body) = server
            .call(
                "PUT",
                "sys/rekey/update",
                None,
                Some(json!({"key": key, "nonce": n})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        last = body;
    }
    assert_eq!(
        (last["complete"].clone(), last["keys"].clone()),
        (json!(true), json!([])),
        "{last}"
    );
    server.restart();
    let status = server.wait_sealed(false).await;
    assert_eq!(
        status["sealed"], false,
        "the new KEK is wrapped by the seal: {status}"
    );

    // Generate-root takes the new recovery keys, not the old ones.
    let (_, started) = server
        .call("PUT", "sys/generate-root/attempt", None, Some(json!({})))
        .await;
    let n = started["nonce"].as_str().expect("nonce").to_string();
    for key in &recovery {
        server
            .call(
                "PUT",
                "sys/generate-root/update",
                None,
                Some(json!({"key": key, "nonce": n})),
            )
            .await;
    }
    let (_, status) = server
        .call("GET", "sys/generate-root/attempt", None, None)
        .await;
    assert_eq!(
        (status["started"].clone(), status["progress"].clone()),
        (json!(true), json!(0)),
        "old keys failed: {status}"
    );
    let mut last = Value::Null;
    for key in &new_recovery[..2] {
        let (code, body) = server
            .call(
                "PUT",
                "sys/generate-root/update",
                None,
                Some(json!({"key": key, "nonce": n})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        last = body;
    }
    assert_eq!(last["complete"], true, "{last}");
}

/// `bao operator rotate` and `key-status` read what they read from Vault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_rotate_and_key_status_show_the_new_term() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    let before = ok_stdout(&server.bao(&root, &["operator", "key-status"]));
    assert!(
        before.contains("Key Term") && before.contains('1'),
        "{before}"
    );
    let out = ok_stdout(&server.bao(&root, &["operator", "rotate"]));
    assert!(out.contains("Success! Rotated key"), "{out}");
    assert!(out.contains("Encryption Count"), "{out}");
    let status = json_out(&server.bao(&root, &["operator", "key-status", "-format=json"]));
    assert_eq!(status["term"], 2, "{status}");
    let (code, body) = server.root("GET", "sys/key-status", None).await;
    assert_eq!(code, 200);
    assert_eq!(
        (body["term"].clone(), body["data"]["term"].clone()),
        (json!(2), json!(2))
    );
    // A write after the rotation is encrypted with the new term.
    server
        .root(
            "PUT",
            "secret/data/after",
            Some(json!({"data": {"a": "b"}})),
        )
        .await;
    let (_, body) = server.root("GET", "sys/key-status", None).await;
    assert!(
        body["data"]["encryptions"].as_u64().unwrap_or(0) >= 1,
        "{body}"
    );
}

/// Hostile values in every field of the ceremonies: a 400 in Vault's
/// shape, never a 500 or a panic, and nothing started.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_in_every_ceremony_field_get_a_400() {
    let (server, _) = shamir_server().await;
    let huge = "A".repeat(100_000);
    let bodies: Vec<(&str, Value)> = vec![
        (
            "sys/rekey/init",
            json!({"secret_shares": -1, "secret_threshold": 1}),
        ),
        (
            "sys/rekey/init",
            json!({"secret_shares": 256, "secret_threshold": 2}),
        ),
        (
            "sys/rekey/init",
            json!({"secret_shares": "five", "secret_threshold": 2}),
        ),
        (
            "sys/rekey/init",
            json!({"secret_shares": 1e30, "secret_threshold": 2}),
        ),
        (
            "sys/rekey/init",
            json!({"secret_shares": 3, "secret_threshold": 4}),
        ),
        (
            "sys/rekey/init",
            json!({"secret_shares": 3, "secret_threshold": 2, "require_verification": "maybe"}),
        ),
        (
            "sys/rekey/init",
            json!({"secret_shares": 3, "secret_threshold": 2, "pgp_keys": ["x"]}),
        ),
        (
            "sys/rekey/init",
            json!({"secret_shares": 3, "secret_threshold": 2, "backup": true}),
        ),
        ("sys/rekey/update", json!({"key": "zz", "nonce": "n"})),
        (
            "sys/rekey-recovery-key/init",
            json!({"secret_shares": 3, "secret_threshold": 2}),
        ),
        ("sys/generate-root/attempt", json!({"otp": "short"})),
        ("sys/generate-root/attempt", json!({"otp": 12345})),
        (
            "sys/generate-root/attempt",
            json!({"pgp_key": "-----BEGIN PGP"}),
        ),
        (
            "sys/generate-root/update",
            json!({"key": huge, "nonce": "x"}),
        ),
        (
            "sys/generate-root/update",
            json!({"key": {"a": 1}, "nonce": "x"}),
        ),
        (
            "sys/generate-root/update",
            json!({"key": "abcd", "nonce": ["x"]}),
        ),
        (
            "sys/init",
            json!({"recovery_shares": 3, "recovery_threshold": 2}),
        ),
        ("sys/unseal", json!({"key": "abcd", "migrate": "yes"})),
        ("sys/unseal", json!({"migrate": true})),
    ];
    for (path, body) in bodies {
        let (code, answer) = server.call("PUT", path, None, Some(body.clone())).await;
        assert_eq!(code, 400, "{path} {body}: {answer}");
        assert!(
            answer["errors"][0].is_string(),
            "{path}: Vault's error shape: {answer}"
        );
    }
    for path in ["sys/rekey/init", "sys/generate-root/attempt"] {
        let (_, status) = server.call("GET", path, None, None).await;
        assert_eq!(
            status["started"], false,
            "{path}: nothing started: {status}"
        );
    }
}
