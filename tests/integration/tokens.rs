//! Token lifecycle: children die with parents unless orphaned, TTLs expire,
//! use counts run out, and non-root parents cannot escalate.

use super::common::TestServer;
use serde_json::json;

async fn create(server: &TestServer, token: &str, body: serde_json::Value) -> (String, String) {
    let (status, response) = server
        .call("POST", "auth/token/create", Some(token), Some(body))
        .await;
    assert_eq!(status, 200, "{response}");
    (
        response["auth"]["client_token"]
            .as_str()
            .expect("token")
            .to_string(),
        response["auth"]["accessor"]
            .as_str()
            .expect("accessor")
            .to_string(),
    )
}

async fn alive(server: &TestServer, token: &str) -> bool {
    server
        .call("GET", "auth/token/lookup-self", Some(token), None)
        .await
        .0
        == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_takes_the_tree_unless_orphaned() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    let minter = "path \"auth/token/create\" { capabilities = [\"update\"] }";
    server
        .root(
            "PUT",
            "sys/policies/acl/minter",
            Some(json!({ "policy": minter })),
        )
        .await;
    let (parent, _) = create(&server, &root, json!({"policies": ["minter"]})).await;
    let (child, _) = create(&server, &parent, json!({})).await;
    let (grandchild, _) = create(&server, &child, json!({})).await;
    let (orphan, _) = create(&server, &root, json!({"no_parent": true})).await;
    let (status, _) = server
        .root("PUT", "auth/token/revoke", Some(json!({"token": parent})))
        .await;
    assert_eq!(status, 204);
    assert!(!alive(&server, &parent).await);
    assert!(!alive(&server, &child).await, "child dies with its parent");
    assert!(!alive(&server, &grandchild).await, "grandchild too");
    assert!(alive(&server, &orphan).await);

    let (parent, _) = create(&server, &root, json!({"policies": ["minter"]})).await;
    let (child, child_accessor) = create(&server, &parent, json!({})).await;
    server
        .root(
            "PUT",
            "auth/token/revoke-orphan",
            Some(json!({"token": parent})),
        )
        .await;
    assert!(!alive(&server, &parent).await);
    assert!(
        alive(&server, &child).await,
        "revoke-orphan keeps the children"
    );
    let (_, looked) = server
        .root(
            "POST",
            "auth/token/lookup-accessor",
            Some(json!({"accessor": child_accessor})),
        )
        .await;
    assert_eq!(looked["data"]["orphan"], true);
    assert_eq!(
        looked["data"]["id"], "",
        "an accessor lookup never shows the token"
    );
    server
        .root(
            "POST",
            "auth/token/revoke-accessor",
            Some(json!({"accessor": child_accessor})),
        )
        .await;
    assert!(!alive(&server, &child).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiry_use_limits_and_no_escalation() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    let (short, _) = create(&server, &root, json!({"ttl": "1s"})).await;
    assert!(alive(&server, &short).await);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert!(!alive(&server, &short).await, "an expired token is refused");

    let (twice, _) = create(&server, &root, json!({"num_uses": 2})).await;
    assert!(alive(&server, &twice).await);
    assert!(alive(&server, &twice).await);
    assert!(!alive(&server, &twice).await, "the third use is refused");

    server
        .root(
            "PUT",
            "sys/policies/acl/reader",
            Some(json!({"policy": "path \"secret/*\" { capabilities = [\"read\"] }"})),
        )
        .await;
    let (reader, _) = create(&server, &root, json!({"policies": ["reader"]})).await;
    let (status, body) = server
        .call(
            "POST",
            "auth/token/create",
            Some(&reader),
            Some(json!({"policies": ["root"]})),
        )
        .await;
    assert_eq!(
        status, 403,
        "no create capability on auth/token/create: {body}"
    );
    server
        .root(
            "PUT",
            "sys/policies/acl/minter",
            Some(json!({"policy": "path \"auth/token/create\" { capabilities = [\"update\"] }"})),
        )
        .await;
    let (minter, _) = create(&server, &root, json!({"policies": ["minter"]})).await;
    let (status, body) = server
        .call(
            "POST",
            "auth/token/create",
            Some(&minter),
            Some(json!({"policies": ["reader"]})),
        )
        .await;
    assert_eq!(status, 400, "child policies must be a subset: {body}");
    let (status, _) = server
        .call(
            "POST",
            "auth/token/create",
            Some(&minter),
            Some(json!({"policies": ["minter"]})),
        )
        .await;
    assert_eq!(status, 200);

    let (renewable, _) = create(
        &server,
        &root,
        json!({"ttl": "10m", "explicit_max_ttl": "15m"}),
    )
    .await;
    let (status, body) = server
        .call(
            "PUT",
            "auth/token/renew-self",
            Some(&renewable),
            Some(json!({"increment": "1h"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let duration = body["auth"]["lease_duration"].as_i64().expect("duration");
    assert!(
        duration <= 900 && duration > 800,
        "capped by explicit_max_ttl: {duration}"
    );

    let (status, body) = server
        .root(
            "POST",
            "sys/capabilities-self",
            Some(json!({"path": "secret/data/x"})),
        )
        .await;
    assert_eq!(
        (status, &body["data"]["capabilities"]),
        (200, &json!(["root"]))
    );
    let (_, body) = server
        .call(
            "POST",
            "sys/capabilities-self",
            Some(&reader),
            Some(json!({"paths": ["secret/data/x", "sys/mounts"]})),
        )
        .await;
    assert_eq!(body["data"]["secret/data/x"], json!(["read"]));
    assert_eq!(body["data"]["sys/mounts"], json!(["deny"]));
}

/// A token role's `token_bound_cidrs` binds the tokens made from it, as
/// Vault's: used from elsewhere, they are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_roles_bind_their_tokens_to_the_roles_cidrs() {
    let server = TestServer::dev();
    for (role, cidrs) in [
        ("near", json!(["127.0.0.1/32"])),
        ("far", json!("10.0.0.0/8,192.168.0.0/16")),
    ] {
        let (code, body) = server
            .root(
                "POST",
                &format!("auth/token/roles/{role}"),
                Some(json!({"allowed_policies": ["default"], "token_bound_cidrs": cidrs})),
            )
            .await;
        assert_eq!(code, 204, "{body}");
    }
    let (_, far) = server.root("GET", "auth/token/roles/far", None).await;
    assert_eq!(
        far["data"]["token_bound_cidrs"],
        json!(["10.0.0.0/8", "192.168.0.0/16"]),
        "{far}"
    );
    for (role, expected) in [("near", 200), ("far", 403)] {
        let (code, body) = server
            .root(
                "POST",
                &format!("auth/token/create/{role}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(code, 200, "{body}");
        let token = body["auth"]["client_token"]
            .as_str()
            .expect("token")
            .to_string();
        let (code, body) = server
            .call("GET", "auth/token/lookup-self", Some(&token), None)
            .await;
        assert_eq!(code, expected, "{role}: {body}");
    }
    for bad in [
        json!(["300.1.1.1/8"]),
        json!(["10.0.0.0/99"]),
        json!(["not a cidr"]),
        json!([7]),
    ] {
        let (code, body) = server
            .root(
                "POST",
                "auth/token/roles/bad",
                Some(json!({"token_bound_cidrs": bad})),
            )
            .await;
        assert_eq!(code, 400, "{bad}: {body}");
    }
}

/// A field token creation does not take is named in Vault's warning, on
/// every creation path, and the token is still made.
#[tokio::test]
async fn token_create_warns_of_unrecognized_parameters() {
    let server = TestServer::dev();
    for path in ["auth/token/create", "auth/token/create-orphan"] {
        let (status, body) = server
            .root(
                "POST",
                path,
                Some(json!({"policies": ["default"], "ttl": "1h", "polices": ["admin"], "secret": "do-not-echo"})),
            )
            .await;
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body["auth"]["client_token"].is_string(), "{body}");
        let warnings = body["warnings"].to_string();
        assert!(
            warnings.contains("Endpoint ignored these unrecognized parameters: [polices secret]"),
            "{path}: {body}"
        );
        assert!(!body.to_string().contains("do-not-echo"), "{body}");
    }
    let (_, body) = server
        .root(
            "POST",
            "auth/token/create",
            Some(json!({"policies": ["default"], "ttl": "1h"})),
        )
        .await;
    assert!(
        !body["warnings"].to_string().contains("unrecognized"),
        "{body}"
    );
}
