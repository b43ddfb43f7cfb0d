//! Token safety: each test is an attack a non-root token with a limited
//! policy tries (minting root through an auth method's role, escalating
//! through a token role, unbounded periodic tokens, children of limited-use
//! tokens, tokens outliving their auth method) and the refusal it meets.

use super::acl_bypass::{policy, token as token_with};
use super::common::TestServer;
use serde_json::{json, Value};

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

/// Creates a token through a token role as `token`.
async fn create_against(server: &TestServer, token: &str, role: &str, body: Value) -> (u16, Value) {
    server
        .call(
            "POST",
            &format!("auth/token/create/{role}"),
            Some(token),
            Some(body),
        )
        .await
}

async fn write_role(server: &TestServer, name: &str, body: Value) {
    let (status, response) = server
        .root("POST", &format!("auth/token/roles/{name}"), Some(body))
        .await;
    assert_eq!(status, 204, "role {name}: {response}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_roles_do_not_escalate() {
    let server = TestServer::dev();
    policy(
        &server,
        "minter",
        r#"path "auth/token/create/*" { capabilities = ["update"] }"#,
    )
    .await;
    policy(
        &server,
        "secret-admin",
        r#"path "secret/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
    )
    .await;
    let minter = token_with(&server, json!({"policies": ["minter"]})).await;

    // A role without allowed_policies: only the caller's own policies.
    write_role(&server, "open", json!({})).await;
    for wanted in [json!(["secret-admin"]), json!(["root"]), json!(["ROOT "])] {
        let (status, body) =
            create_against(&server, &minter, "open", json!({"policies": wanted})).await;
        assert_eq!(status, 400, "{wanted}: {body}");
    }
    let (status, body) = create_against(&server, &minter, "open", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["policies"], json!(["default", "minter"]));
    let (status, body) =
        create_against(&server, &minter, "open", json!({"policies": ["Minter"]})).await;
    assert_eq!(status, 200, "a subset, after lower-casing: {body}");

    // disallowed_policies is stored, read back, and holds.
    write_role(
        &server,
        "guarded",
        json!({"disallowed_policies": ["Secret-Admin"], "allowed_policies": ["secret-admin", "minter"]}),
    )
    .await;
    let (status, role) = server.root("GET", "auth/token/roles/guarded", None).await;
    assert_eq!(status, 200, "{role}");
    assert_eq!(role["data"]["disallowed_policies"], json!(["secret-admin"]));
    let (status, body) = create_against(
        &server,
        &minter,
        "guarded",
        json!({"policies": ["secret-admin"]}),
    )
    .await;
    assert_eq!(status, 400, "disallowed: {body}");
    let (status, body) = create_against(&server, &minter, "guarded", json!({})).await;
    assert_eq!(
        status, 400,
        "the allowed set itself holds a disallowed one: {body}"
    );
    let (status, body) =
        create_against(&server, &minter, "guarded", json!({"policies": ["minter"]})).await;
    assert_eq!(status, 200, "{body}");

    // Only disallowed_policies: still a subset of the caller's.
    write_role(
        &server,
        "deny-only",
        json!({"disallowed_policies": "reader"}),
    )
    .await;
    let (status, body) = create_against(
        &server,
        &minter,
        "deny-only",
        json!({"policies": ["secret-admin"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Globs are stored, read back, and hold.
    write_role(
        &server,
        "globbed",
        json!({"allowed_policies_glob": ["secret-*"], "disallowed_policies_glob": ["*-admin"]}),
    )
    .await;
    let (_, role) = server.root("GET", "auth/token/roles/globbed", None).await;
    assert_eq!(role["data"]["allowed_policies_glob"], json!(["secret-*"]));
    assert_eq!(role["data"]["disallowed_policies_glob"], json!(["*-admin"]));
    let (status, body) = create_against(
        &server,
        &minter,
        "globbed",
        json!({"policies": ["secret-reader"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    for wanted in ["secret-admin", "minter", "root"] {
        let (status, body) =
            create_against(&server, &minter, "globbed", json!({"policies": [wanted]})).await;
        assert_eq!(status, 400, "{wanted}: {body}");
    }

    // A role listing root still never gives a non-root caller root.
    write_role(&server, "rooty", json!({"allowed_policies": ["root"]})).await;
    let (status, body) = create_against(&server, &minter, "rooty", json!({})).await;
    assert_eq!(status, 400, "{body}");

    // The role's orphan, renewable and explicit max TTL apply.
    write_role(
        &server,
        "fixed",
        json!({"allowed_policies": ["secret-admin"], "orphan": true, "renewable": false, "token_explicit_max_ttl": "1h"}),
    )
    .await;
    let (status, body) = create_against(
        &server,
        &minter,
        "fixed",
        json!({"renewable": true, "ttl": "10h", "explicit_max_ttl": "5h"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let auth = &body["auth"];
    assert_eq!(auth["renewable"], false, "{body}");
    assert_eq!(auth["orphan"], true, "{body}");
    assert!(
        auth["lease_duration"].as_i64().unwrap_or(0) <= 3600,
        "{body}"
    );
    let child = auth["client_token"].as_str().expect("token");
    let (_, me) = server
        .call("GET", "auth/token/lookup-self", Some(child), None)
        .await;
    assert_eq!(me["data"]["explicit_max_ttl"], 3600, "{me}");
    let (status, _) = server
        .call(
            "POST",
            "auth/token/renew-self",
            Some(child),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 400, "not renewable");

    // The role's period applies without sudo.
    write_role(
        &server,
        "periodic",
        json!({"allowed_policies": ["secret-admin"], "token_period": "30m"}),
    )
    .await;
    let (status, body) = create_against(&server, &minter, "periodic", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["lease_duration"], 1800, "{body}");

    // Role names are case-sensitive.
    write_role(
        &server,
        "CaseRole",
        json!({"allowed_policies": ["secret-admin"]}),
    )
    .await;
    let (status, _) = server.root("GET", "auth/token/roles/caserole", None).await;
    assert_eq!(status, 404);
    let (status, role) = server.root("GET", "auth/token/roles/CaseRole", None).await;
    assert_eq!((status, &role["data"]["name"]), (200, &json!("CaseRole")));
    let (status, body) = create_against(&server, &minter, "caserole", json!({})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = create_against(&server, &minter, "CaseRole", json!({})).await;
    assert_eq!(status, 200, "{body}");
    let (status, listed) = server.root("LIST", "auth/token/roles", None).await;
    assert_eq!(status, 200, "{listed}");
    assert!(listed["data"]["keys"]
        .as_array()
        .is_some_and(|k| k.contains(&json!("CaseRole"))));
}

/// The `data` of a token's lookup-self.
async fn lookup_self(server: &TestServer, token: &str) -> Value {
    let (status, body) = server
        .call("GET", "auth/token/lookup-self", Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn seconds(value: &Value) -> i64 {
    value.as_i64().unwrap_or(i64::MAX)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_tokens_need_sudo_and_stay_bounded() {
    let server = TestServer::dev();
    policy(
        &server,
        "minter",
        r#"
        path "auth/token/create-orphan" { capabilities = ["update"] }
        path "auth/token/create" { capabilities = ["update"] }
        "#,
    )
    .await;
    policy(
        &server,
        "sudo-minter",
        r#"path "auth/token/create" { capabilities = ["update", "sudo"] }"#,
    )
    .await;
    let minter = token_with(&server, json!({"policies": ["minter"]})).await;
    let sudo = token_with(&server, json!({"policies": ["sudo-minter"]})).await;

    // No sudo: no period, on either path.
    for path in ["auth/token/create-orphan", "auth/token/create"] {
        let (status, body) = server
            .call(
                "POST",
                path,
                Some(&minter),
                Some(json!({"period": "87600h"})),
            )
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            first_error(&body),
            "root or sudo privileges required to create periodic token"
        );
    }

    // The token store's mount max bounds every TTL, even root's and sudo's.
    let (status, body) = server
        .root(
            "POST",
            "sys/auth/token/tune",
            Some(json!({"max_lease_ttl": "2h"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server
        .call(
            "POST",
            "auth/token/create",
            Some(&sudo),
            Some(json!({"period": "87600h", "policies": ["sudo-minter"]})),
        )
        .await;
    assert_eq!(status, 200, "sudo may ask for a period: {body}");
    assert!(seconds(&body["auth"]["lease_duration"]) <= 7200, "{body}");
    let periodic = body["auth"]["client_token"].as_str().expect("token");
    let me = lookup_self(&server, periodic).await;
    assert!(seconds(&me["period"]) <= 7200, "{me}");
    let (status, body) = server
        .call(
            "POST",
            "auth/token/renew-self",
            Some(periodic),
            Some(json!({"increment": "87600h"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        seconds(&body["auth"]["lease_duration"]) <= 7200,
        "renewal gives at most the period: {body}"
    );

    for body in [
        json!({"ttl": "87600h"}),
        json!({"explicit_max_ttl": "87600h"}),
        json!({"period": "87600h"}),
    ] {
        let token = token_with(&server, body.clone()).await;
        let me = lookup_self(&server, &token).await;
        assert!(seconds(&me["ttl"]) <= 7200, "{body}: {me}");
        assert!(seconds(&me["explicit_max_ttl"]) <= 7200, "{body}: {me}");
        assert!(
            me["period"].is_null() || seconds(&me["period"]) <= 7200,
            "{body}: {me}"
        );
    }
    let (status, body) = server
        .call(
            "POST",
            "auth/token/create",
            Some(&minter),
            Some(json!({"ttl": "87600h"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(seconds(&body["auth"]["lease_duration"]) <= 7200, "{body}");

    // A login's period is bounded by its mount's max, and so is renewal.
    for (path, body) in [
        (
            "sys/auth/approle",
            json!({"type": "approle", "config": {"max_lease_ttl": "1h"}}),
        ),
        (
            "auth/approle/role/periodic",
            json!({"token_policies": "minter", "token_period": "87600h"}),
        ),
    ] {
        let (status, response) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {response}");
    }
    let (_, role_id) = server
        .root("GET", "auth/approle/role/periodic/role-id", None)
        .await;
    let (_, secret) = server
        .root(
            "POST",
            "auth/approle/role/periodic/secret-id",
            Some(json!({})),
        )
        .await;
    let (status, body) = server
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": role_id["data"]["role_id"], "secret_id": secret["data"]["secret_id"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(seconds(&body["auth"]["lease_duration"]) <= 3600, "{body}");
    let login_token = body["auth"]["client_token"].as_str().expect("token");
    let me = lookup_self(&server, login_token).await;
    assert!(seconds(&me["period"]) <= 3600, "{me}");
    let (status, body) = server
        .call(
            "POST",
            "auth/token/renew-self",
            Some(login_token),
            Some(json!({"increment": "87600h"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(seconds(&body["auth"]["lease_duration"]) <= 3600, "{body}");

    // A mount max above the system's (768h in dev) does not lift the bound.
    let (status, body) = server
        .root(
            "POST",
            "sys/auth/approle/tune",
            Some(json!({"max_lease_ttl": "87600h"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, secret) = server
        .root(
            "POST",
            "auth/approle/role/periodic/secret-id",
            Some(json!({})),
        )
        .await;
    let (status, body) = server
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": role_id["data"]["role_id"], "secret_id": secret["data"]["secret_id"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        seconds(&body["auth"]["lease_duration"]) <= 768 * 3600,
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limited_use_tokens_cannot_create_children() {
    let server = TestServer::dev();
    policy(
        &server,
        "minter",
        r#"
        path "auth/token/create" { capabilities = ["update", "sudo"] }
        path "auth/token/create-orphan" { capabilities = ["update", "sudo"] }
        path "auth/token/create/*" { capabilities = ["update", "sudo"] }
        "#,
    )
    .await;
    let (status, body) = server
        .root(
            "POST",
            "auth/token/roles/any",
            Some(json!({"allowed_policies": ["minter"]})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let limited = token_with(&server, json!({"policies": ["minter"], "num_uses": 10})).await;
    for path in [
        "auth/token/create",
        "auth/token/create-orphan",
        "auth/token/create/any",
    ] {
        let (status, body) = server
            .call("POST", path, Some(&limited), Some(json!({})))
            .await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(
            first_error(&body),
            "restricted use token cannot generate child tokens"
        );
    }
    // An unlimited token with the same policy may.
    let unlimited = token_with(&server, json!({"policies": ["minter"]})).await;
    let (status, body) = server
        .call(
            "POST",
            "auth/token/create-orphan",
            Some(&unlimited),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

/// Enables AppRole at `mount` with a role `app` with these token fields;
/// logs in once and returns the token.
async fn approle_token(server: &TestServer, mount: &str, role: Value) -> String {
    let (status, body) = server
        .root(
            "POST",
            &format!("sys/auth/{mount}"),
            Some(json!({"type": "approle"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    approle_login(server, mount, role).await
}

async fn approle_login(server: &TestServer, mount: &str, role: Value) -> String {
    let (status, body) = server
        .root("POST", &format!("auth/{mount}/role/app"), Some(role))
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, role_id) = server
        .root("GET", &format!("auth/{mount}/role/app/role-id"), None)
        .await;
    let (_, secret) = server
        .root(
            "POST",
            &format!("auth/{mount}/role/app/secret-id"),
            Some(json!({})),
        )
        .await;
    let (status, body) = server
        .call(
            "POST",
            &format!("auth/{mount}/login"),
            None,
            Some(json!({"role_id": role_id["data"]["role_id"], "secret_id": secret["data"]["secret_id"]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string()
}

async fn status_of_lookup_self(server: &TestServer, token: &str) -> u16 {
    server
        .call("GET", "auth/token/lookup-self", Some(token), None)
        .await
        .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_an_auth_method_revokes_its_tokens() {
    let server = TestServer::dev();
    policy(
        &server,
        "app",
        r#"path "secret/data/app/*" { capabilities = ["read"] }"#,
    )
    .await;
    let with_ttl = approle_token(
        &server,
        "approle",
        json!({"token_policies": "app", "token_ttl": "10m"}),
    )
    .await;
    let without_ttl = approle_login(
        &server,
        "approle",
        json!({"token_policies": "app", "token_ttl": 0, "token_max_ttl": 0}),
    )
    .await;
    // A nested mount path, and a bystander mount that must keep its tokens.
    let nested = approle_token(&server, "team/ci", json!({"token_policies": "app"})).await;
    let bystander = approle_token(&server, "approle2", json!({"token_policies": "app"})).await;
    for token in [&with_ttl, &without_ttl, &nested, &bystander] {
        assert_eq!(status_of_lookup_self(&server, token).await, 200);
    }

    let (status, body) = server.root("DELETE", "sys/auth/approle", None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(status_of_lookup_self(&server, &with_ttl).await, 403);
    assert_eq!(status_of_lookup_self(&server, &without_ttl).await, 403);
    assert_eq!(status_of_lookup_self(&server, &bystander).await, 200);
    assert_eq!(status_of_lookup_self(&server, &nested).await, 200);

    // Enabled again under the same name: the old tokens stay dead, the new
    // mount's tokens work.
    let fresh = approle_token(&server, "approle", json!({"token_policies": "app"})).await;
    assert_eq!(status_of_lookup_self(&server, &with_ttl).await, 403);
    assert_eq!(status_of_lookup_self(&server, &without_ttl).await, 403);
    assert_eq!(status_of_lookup_self(&server, &fresh).await, 200);

    // The token store itself cannot be disabled, and trying revokes nothing.
    let (status, body) = server.root("DELETE", "sys/auth/token", None).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(status_of_lookup_self(&server, &fresh).await, 200);
    assert_eq!(
        status_of_lookup_self(&server, &server.root_token.clone()).await,
        200
    );

    let (status, body) = server.root("DELETE", "sys/auth/team/ci", None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(status_of_lookup_self(&server, &nested).await, 403);
    assert_eq!(status_of_lookup_self(&server, &bystander).await, 200);
    assert_eq!(status_of_lookup_self(&server, &fresh).await, 200);
}
