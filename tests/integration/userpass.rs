//! The userpass auth method, through raw HTTP and the real `bao` CLI: a
//! user's login gets a token with the user's policies; a wrong password and
//! an unknown user get the same answer; a changed password invalidates the
//! old one; repeated failures are throttled; hostile usernames are refused;
//! a token without the capability cannot create users, on any spelling.

use super::acl_bypass::{policy, raw, token};
use super::common::{ok_stdout, TestServer};
use serde_json::{json, Value};

const READER: &str = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;

async fn enable(server: &TestServer) {
    let (status, body) = server
        .root(
            "POST",
            "sys/auth/userpass",
            Some(json!({"type": "userpass"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
}

async fn login(server: &TestServer, name: &str, password: &str) -> (u16, Value) {
    server
        .call(
            "POST",
            &format!("auth/userpass/login/{name}"),
            None,
            Some(json!({ "password": password })),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_cli_creates_a_user_and_logs_in() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    ok_stdout(&server.bao(&root, &["auth", "enable", "userpass"]));
    policy(&server, "app-reader", READER).await;
    let (status, _) = server
        .root(
            "POST",
            "secret/data/app/db",
            Some(json!({"data": {"password": "kv-marker-9a1"}})),
        )
        .await;
    assert_eq!(status, 200);
    ok_stdout(&server.bao(
        &root,
        &[
            "write",
            "auth/userpass/users/alice",
            "password=s3cret-horse",
            "token_policies=app-reader",
            "token_ttl=10m",
            "token_max_ttl=1h",
        ],
    ));

    // Reading the user never shows the password or its hash.
    let (status, body) = server.root("GET", "auth/userpass/users/alice", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["token_policies"], json!(["app-reader"]));
    assert_eq!(body["data"]["token_ttl"], 600);
    let text = body.to_string();
    assert!(
        !text.contains("s3cret") && !text.contains("argon2"),
        "{text}"
    );
    let (status, body) = server
        .call("LIST", "auth/userpass/users", Some(&root), None)
        .await;
    assert_eq!((status, &body["data"]["keys"]), (200, &json!(["alice"])));

    let out = ok_stdout(&server.bao(
        "",
        &[
            "login",
            "-format=json",
            "-no-store",
            "-method=userpass",
            "username=alice",
            "password=s3cret-horse",
        ],
    ));
    let auth: Value = serde_json::from_str(&out).expect("login json");
    let auth = &auth["auth"];
    assert_eq!(auth["policies"], json!(["app-reader", "default"]), "{auth}");
    assert_eq!(auth["lease_duration"], 600);
    assert_eq!(auth["metadata"]["username"], "alice");
    let token = auth["client_token"].as_str().expect("token");
    let read = ok_stdout(&server.bao(token, &["kv", "get", "-field=password", "secret/app/db"]));
    assert_eq!(read.trim(), "kv-marker-9a1");
    let (status, body) = server
        .call("GET", "auth/token/lookup-self", Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["display_name"], "userpass-alice");
    // The policy bounds it: no writes, no other paths.
    let (status, _) = server
        .call("GET", "auth/userpass/users/alice", Some(token), None)
        .await;
    assert_eq!(status, 403);

    // A wrong password through the CLI fails.
    let wrong = server.bao(
        "",
        &[
            "login",
            "-no-store",
            "-method=userpass",
            "username=alice",
            "password=nope",
        ],
    );
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("invalid username or password"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_and_unknown_user_answer_alike() {
    let server = TestServer::dev();
    enable(&server).await;
    let (status, body) = server
        .root(
            "POST",
            "auth/userpass/users/bob",
            Some(json!({"password": "first-pass"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let wrong = login(&server, "bob", "not-it").await;
    let unknown = login(&server, "nobody", "not-it").await;
    assert_eq!(wrong.0, 400);
    assert_eq!(wrong, unknown, "no user enumeration");
    assert_eq!(wrong.1["errors"], json!(["invalid username or password"]));
    let (status, body) = login(&server, "bob", "").await;
    assert_eq!(status, 400, "{body}");

    // The password is changed: the old one stops working.
    assert_eq!(login(&server, "bob", "first-pass").await.0, 200);
    let (status, body) = server
        .root(
            "POST",
            "auth/userpass/users/bob/password",
            Some(json!({"password": "second-pass"})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(login(&server, "bob", "first-pass").await.0, 400);
    let (status, body) = login(&server, "bob", "second-pass").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["auth"]["policies"], json!(["default"]));

    // Policies are changed through their own path; root is refused.
    let (status, _) = server
        .root(
            "POST",
            "auth/userpass/users/bob/policies",
            Some(json!({"token_policies": "ops,dev"})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, body) = login(&server, "bob", "second-pass").await;
    assert_eq!(body["auth"]["policies"], json!(["default", "dev", "ops"]));
    for (path, body) in [
        (
            "auth/userpass/users/bob/policies",
            json!({"token_policies": "ROOT"}),
        ),
        (
            "auth/userpass/users/bob",
            json!({"token_policies": ["dev", "root"]}),
        ),
        (
            "auth/userpass/users/carol",
            json!({"password": "x", "policies": "root"}),
        ),
    ] {
        let (status, answer) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 400, "{path}: {answer}");
    }
    assert_eq!(login(&server, "carol", "x").await.1, unknown.1);
    let (status, _) = server
        .root(
            "POST",
            "auth/userpass/users/dave",
            Some(json!({"token_policies": "dev"})),
        )
        .await;
    assert_eq!(status, 400, "a new user needs a password");

    // Deleted: the login fails like an unknown user's.
    let (status, _) = server.root("DELETE", "auth/userpass/users/bob", None).await;
    assert_eq!(status, 204);
    assert_eq!(login(&server, "bob", "second-pass").await, unknown);
    assert_eq!(
        server.root("GET", "auth/userpass/users/bob", None).await.0,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_throttled_per_user() {
    let server = TestServer::dev();
    enable(&server).await;
    for name in ["eve", "frank"] {
        let (status, _) = server
            .root(
                "POST",
                &format!("auth/userpass/users/{name}"),
                Some(json!({"password": "right-one"})),
            )
            .await;
        assert_eq!(status, 204);
    }
    for _ in 0..5 {
        assert_eq!(login(&server, "eve", "guess").await.0, 400);
        assert_eq!(login(&server, "ghost", "guess").await.0, 400);
    }
    let (status, body) = login(&server, "eve", "right-one").await;
    assert_eq!(status, 429, "even the right password waits: {body}");
    let ghost = login(&server, "ghost", "guess").await;
    assert_eq!((status, body), ghost, "unknown names are throttled alike");
    let (status, body) = login(&server, "frank", "right-one").await;
    assert_eq!(status, 200, "other users are not affected: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_usernames_are_refused() {
    let server = TestServer::dev();
    enable(&server).await;
    let root = server.root_token.clone();
    let long = "a".repeat(1000);
    for name in [
        "a/b",
        "a%2Fb",
        "..",
        "a/../b",
        "a%00b",
        "a%0Ab",
        "a%1Bb",
        "Alice",
        "a%20b",
        "%20a",
        long.as_str(),
    ] {
        for path in [
            format!("auth/userpass/users/{name}"),
            format!("auth/userpass/login/{name}"),
        ] {
            let body = json!({"password": "pw-1"});
            let (status, answer) = raw(&server, "POST", &path, &root, Some(&body)).await;
            assert_eq!(status, 400, "{path}: {answer}");
        }
    }
    let (status, _) = server
        .call("LIST", "auth/userpass/users", Some(&root), None)
        .await;
    assert_eq!(status, 404, "no user was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_users_needs_the_capability_on_every_spelling() {
    let server = TestServer::dev();
    enable(&server).await;
    policy(
        &server,
        "userpass-viewer",
        r#"path "auth/userpass/users/*" { capabilities = ["read", "list"] }
           path "auth/userpass/users" { capabilities = ["list"] }"#,
    )
    .await;
    let viewer = token(&server, json!({"policies": ["userpass-viewer"]})).await;
    let body = json!({"password": "mallory-pw", "token_policies": "default"});
    for spelling in [
        "auth/userpass/users/mallory",
        "auth/userpass/users/mallory/",
        "auth/userpass//users/mallory",
        "auth/userpass/users//mallory",
        "auth/userpass/Users/mallory",
        "auth/Userpass/users/mallory",
        "AUTH/userpass/users/mallory",
        "auth/userpass/users%2Fmallory",
        "auth/userpass%2Fusers%2Fmallory",
        "auth/userpass/users/mallory/password",
        "auth/userpass/users/mallory/policies",
        "auth/userpass/users/./mallory",
    ] {
        for method in ["POST", "PUT"] {
            let (status, answer) = raw(&server, method, spelling, &viewer, Some(&body)).await;
            assert!(
                status == 403 || status == 400,
                "{method} {spelling}: {status} {answer}"
            );
        }
    }
    let (status, _) = server
        .call("LIST", "auth/userpass/users", Some(&viewer), None)
        .await;
    assert_eq!(status, 404, "no user was created");
    assert_eq!(login(&server, "mallory", "mallory-pw").await.0, 400);
    // Enabling the method needs sudo on sys/auth.
    let (status, _) = server
        .call(
            "POST",
            "sys/auth/userpass2",
            Some(&viewer),
            Some(json!({"type": "userpass"})),
        )
        .await;
    assert_eq!(status, 403);
}
