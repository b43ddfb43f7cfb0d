//! The passphrase seal, throttling of failed unseal attempts, and the TLS
//! listener.

use super::common::TestServer;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passphrase_seal_unseals_with_the_passphrase_only() {
    let mut server = TestServer::from_config("", "[seal]\ntype = \"passphrase\"\n");
    let (status, body) = server.call("GET", "sys/seal-status", None, None).await;
    assert_eq!((status, &body["type"]), (200, &json!("passphrase")));
    let (status, body) = server
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"passphrase": "short"})),
        )
        .await;
    assert_eq!(status, 400, "too short: {body}");
    let (status, body) = server.call("PUT", "sys/init", None, Some(json!({}))).await;
    assert_eq!(status, 400, "missing: {body}");
    let passphrase = "correct horse battery staple";
    let (status, body) = server
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"passphrase": passphrase})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["keys"], json!([]));
    server.root_token = body["root_token"].as_str().expect("root").to_string();

    let (status, body) = server
        .call(
            "PUT",
            "sys/unseal",
            None,
            Some(json!({"key": "wrong horse battery staple"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]
        .as_str()
        .unwrap_or_default()
        .contains("unseal failed"));
    server.unseal(passphrase).await;
    server.restart();
    server.unseal(passphrase).await;
    let (status, _) = server.root("GET", "auth/token/lookup-self", None).await;
    assert_eq!(status, 200);
}

/// Wrong passphrases: three are answered (400), then the gate closes and
/// even the right one gets a Vault-shaped 429 until the delay has passed;
/// then the right one unseals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_wrong_unseal_keys_are_throttled() {
    let server = TestServer::from_config("", "[seal]\ntype = \"passphrase\"\n");
    let passphrase = "correct horse battery staple";
    let (status, body) = server
        .call(
            "PUT",
            "sys/init",
            None,
            Some(json!({"passphrase": passphrase})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let attempt =
        |key: &'static str| server.call("PUT", "sys/unseal", None, Some(json!({ "key": key })));
    for n in 0..3 {
        let (status, body) = attempt("wrong horse battery staple").await;
        assert_eq!(status, 400, "attempt {n}: {body}");
    }
    let (status, body) = attempt("wrong horse battery staple").await;
    assert_eq!(status, 429, "{body}");
    let (status, body) = attempt("correct horse battery staple").await;
    assert_eq!(status, 429, "the right key waits too: {body}");
    let message = body["errors"][0].as_str().unwrap_or_default();
    assert!(
        message.contains("too many failed unseal attempts"),
        "{body}"
    );
    let (status, body) = server.call("GET", "sys/seal-status", None, None).await;
    assert_eq!((status, &body["sealed"]), (200, &json!(true)));

    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    server.unseal(passphrase).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_listener_serves_https() {
    let dir = tempfile::tempdir().expect("dir");
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("cert");
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).expect("write cert");
    std::fs::write(&key_path, cert.key_pair.serialize_pem()).expect("write key");
    let server = TestServer::from_config(
        &format!(
            "tls_cert_file = \"{}\"\ntls_key_file = \"{}\"",
            cert_path.display(),
            key_path.display()
        ),
        "",
    );
    assert!(server.addr.starts_with("https://"), "{}", server.addr);
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).expect("pem"),
        )
        .build()
        .expect("client");
    let response = client
        .get(format!("{}/v1/sys/seal-status", server.addr))
        .send()
        .await
        .expect("https request");
    assert_eq!(response.status().as_u16(), 200);
    let plain = reqwest::get(format!(
        "{}/v1/sys/seal-status",
        server.addr.replace("https://", "http://")
    ))
    .await;
    assert!(
        plain.map(|r| !r.status().is_success()).unwrap_or(true),
        "plain HTTP is not served"
    );
}
