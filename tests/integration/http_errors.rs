//! Bad input gets a clear 4xx in Vault's shape, never a 500 or a panic.

use super::common::TestServer;
use serde_json::json;

fn first_error(body: &serde_json::Value) -> String {
    body["errors"][0].as_str().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_unknown_oversized_and_unauthenticated_requests() {
    let server = TestServer::dev();
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}/v1/{path}", server.addr);

    // Malformed JSON.
    let response = http
        .put(url("secret/data/x"))
        .header("X-Vault-Token", &server.root_token)
        .body("{\"data\": {")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);
    let body: serde_json::Value = response.json().await.expect("json");
    assert!(
        first_error(&body).contains("failed to parse JSON"),
        "{body}"
    );

    // A body that is JSON but not an object.
    let response = http
        .put(url("secret/data/x"))
        .header("X-Vault-Token", &server.root_token)
        .body("[1,2]")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 400);

    // Unknown paths: no mount, and an unknown path inside a mount.
    let (status, body) = server.root("GET", "nowhere/at/all", None).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        first_error(&body).contains("no handler for route"),
        "{body}"
    );
    let (status, _) = server.root("GET", "secret/bogus/x", None).await;
    assert_eq!(status, 404);
    let (status, body) = server.root("GET", "sys/nope", None).await;
    assert_eq!(status, 404, "{body}");

    // Wrong method for the path, and a method the API does not have.
    let (status, _) = server.root("DELETE", "sys/seal-status", None).await;
    assert_eq!(status, 405);
    let (status, _) = server.root("PUT", "secret/metadata", None).await;
    assert!(status == 400 || status == 405, "writing a folder: {status}");
    let response = http
        .request(
            reqwest::Method::from_bytes(b"BREW").expect("method"),
            url("sys/health"),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 405);

    // Oversized body (the dev listener allows 32 MiB).
    let huge = "x".repeat(33 * 1024 * 1024);
    let response = http
        .put(url("secret/data/huge"))
        .header("X-Vault-Token", &server.root_token)
        .body(huge)
        .send()
        .await;
    if let Ok(response) = response {
        assert_eq!(response.status().as_u16(), 413);
    }

    // Missing and wrong tokens.
    let (status, body) = server.call("GET", "secret/data/x", None, None).await;
    assert_eq!(
        (status, first_error(&body).as_str()),
        (403, "permission denied")
    );
    let (status, _) = server
        .call("GET", "secret/data/x", Some("hvs.not-a-token"), None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = server.call("GET", "secret/data/x", Some(""), None).await;
    assert_eq!(status, 403);

    // Bearer works as X-Vault-Token does.
    let response = http
        .get(url("auth/token/lookup-self"))
        .bearer_auth(&server.root_token)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 200);

    // Bad field types and values name the field.
    let (status, body) = server
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"ttl": "ten minutes"})),
        )
        .await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("ttl"), "{body}");
    let (status, body) = server
        .root("POST", "sys/mounts/new", Some(json!({"type": "nonsense"})))
        .await;
    assert_eq!(status, 400);
    assert!(first_error(&body).contains("nonsense"), "{body}");
    let (status, body) = server
        .root(
            "PUT",
            "sys/policies/acl/bad",
            Some(json!({"policy": "path {"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server
        .root(
            "PUT",
            "secret/data/x",
            Some(json!({"data": "not an object"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");

    // LIST method and ?list=true agree; missing keys are 404 with an empty error list.
    server
        .root("PUT", "secret/data/a/b", Some(json!({"data": {"k": "v"}})))
        .await;
    let (status, listed) = server.root("LIST", "secret/metadata/a", None).await;
    assert_eq!(status, 200);
    let (_, listed_get) = server
        .root("GET", "secret/metadata/a?list=true", None)
        .await;
    assert_eq!(listed["data"], listed_get["data"]);
    let (status, body) = server.root("GET", "secret/data/missing", None).await;
    assert_eq!(
        (status, body["errors"].as_array().map(Vec::len)),
        (404, Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sealed_server_answers_only_status_endpoints() {
    let mut server = TestServer::from_config("", "");
    let (status, body) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 501, "uninitialized: {body}");
    assert_eq!(body["initialized"], false);
    assert!(
        body.get("errors").is_none(),
        "health bodies carry no errors key"
    );
    let (status, _) = server.call("GET", "secret/data/x", Some("t"), None).await;
    assert_eq!(status, 503);

    server.init_and_unseal().await;
    let (status, _) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200);
    let (status, _) = server.root("PUT", "sys/seal", None).await;
    assert_eq!(status, 204);
    let (status, body) = server.call("GET", "sys/health", None, None).await;
    assert_eq!((status, &body["sealed"]), (503, &json!(true)));
    let (status, _) = server
        .call("GET", "sys/health?sealedcode=200", None, None)
        .await;
    assert_eq!(status, 200, "sealedcode overrides the status");
    let (status, body) = server.root("GET", "auth/token/lookup-self", None).await;
    assert_eq!(
        (status, first_error(&body).as_str()),
        (503, "Vault is sealed")
    );
    let (status, body) = server.call("GET", "sys/leader", None, None).await;
    assert_eq!((status, &body["ha_enabled"]), (200, &json!(false)));
    let (status, body) = server
        .call(
            "PUT",
            "sys/unseal",
            None,
            Some(json!({"key": "not-base64-or-hex!"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server
        .call("PUT", "sys/unseal", None, Some(json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
}
