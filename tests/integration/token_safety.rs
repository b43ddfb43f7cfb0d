//! Token safety: each test is an attack a non-root token with a limited
//! policy tries (minting root through an auth method's role, escalating
//! through a token role, unbounded periodic tokens, children of limited-use
//! tokens, tokens outliving their auth method) and the refusal it meets.

use super::common::TestServer;
use serde_json::{json, Value};

/// Writes a policy with the root token.
async fn policy(server: &TestServer, name: &str, body: &str) {
    let (status, response) = server
        .root(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": body })),
        )
        .await;
    assert_eq!(status, 204, "policy {name}: {response}");
}

/// A token the root token creates with these parameters.
async fn token_with(server: &TestServer, body: Value) -> String {
    let (status, response) = server.root("POST", "auth/token/create", Some(body)).await;
    assert_eq!(status, 200, "{response}");
    response["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// The first error of a Vault-shaped error body.
fn first_error(body: &Value) -> &str {
    body["errors"][0].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_method_roles_cannot_mint_root_tokens() {
    let server = TestServer::dev();
    for (path, body) in [
        ("sys/auth/approle", json!({"type": "approle"})),
        ("sys/auth/jwt", json!({"type": "jwt"})),
    ] {
        let (status, response) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {response}");
    }
    policy(
        &server,
        "auth-admin",
        r#"
        path "auth/approle/role/*" { capabilities = ["create", "update", "read"] }
        path "auth/jwt/role/*" { capabilities = ["create", "update", "read"] }
        "#,
    )
    .await;
    let admin = token_with(&server, json!({"policies": ["auth-admin"]})).await;

    for body in [
        json!({"token_policies": "root"}),
        json!({"token_policies": ["default", " ROOT"]}),
        json!({"policies": "Root"}),
        json!({"policies": ["app", "root "]}),
    ] {
        let (status, response) = server
            .call(
                "POST",
                "auth/approle/role/escalate",
                Some(&admin),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 400, "approle role {body}: {response}");
        assert_eq!(
            first_error(&response),
            "auth methods cannot create root tokens"
        );
        let mut jwt_role = body.clone();
        jwt_role["user_claim"] = json!("sub");
        let (status, response) = server
            .call(
                "POST",
                "auth/jwt/role/escalate",
                Some(&admin),
                Some(jwt_role),
            )
            .await;
        assert_eq!(status, 400, "jwt role {body}: {response}");
        assert_eq!(
            first_error(&response),
            "auth methods cannot create root tokens"
        );
    }
    // Nothing was stored; an ordinary role still works.
    let (status, _) = server
        .call("GET", "auth/approle/role/escalate", Some(&admin), None)
        .await;
    assert_eq!(status, 404);
    let (status, response) = server
        .call(
            "POST",
            "auth/approle/role/app",
            Some(&admin),
            Some(json!({"token_policies": "app"})),
        )
        .await;
    assert_eq!(status, 204, "{response}");
}
