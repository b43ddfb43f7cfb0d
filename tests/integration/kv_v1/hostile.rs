//! KV v1 under attack: a token without the capability tries every spelling
//! of a path it may not use (trailing and doubled `/`, case, percent
//! encoding, dot segments), and hostile bodies, keys and options must get a
//! 4xx, never a 5xx.

use super::super::acl_bypass::{policy, raw, raw_text, token};
use super::super::common::TestServer;
use super::{enable_v1, DEFAULT_TTL};
use serde_json::{json, Value};

/// Spellings of `legacy/closed/db` (and of its folder) a token allowed only
/// `legacy/open/*` might try: each is refused (403) or malformed (400).
fn spellings() -> Vec<&'static str> {
    vec![
        "legacy/closed/db",
        "legacy/closed/db/",
        "legacy/closed/db//",
        "legacy//closed/db",
        "legacy/closed//db",
        "LEGACY/closed/db",
        "legacy/CLOSED/db",
        "Legacy/closed/DB",
        "legacy/%63losed/db",
        "legacy%2Fclosed%2Fdb",
        "legacy/closed%2Fdb",
        "legacy/closed/db%2F",
        "legacy/open/../closed/db",
        "legacy/open/%2e%2e/closed/db",
        "legacy/./closed/db",
        "legacy/%252e%252e/closed/db",
        "legacy/closed%252Fdb",
        "legacy/%20closed/db",
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_without_the_capability_reaches_no_spelling() {
    let server = TestServer::dev();
    enable_v1(&server, "legacy", json!({ "type": "kv" })).await;
    server
        .root(
            "PUT",
            "legacy/closed/db",
            Some(json!({ "password": "top-secret" })),
        )
        .await;
    policy(
        &server,
        "open-only",
        r#"path "legacy/open/*" { capabilities = ["create", "read", "update", "delete", "list"] }"#,
    )
    .await;
    let user = token(&server, json!({ "policies": ["open-only"] })).await;

    // The policy works where it grants.
    let write = json!({ "x": "stolen" });
    let (status, _) = raw(&server, "PUT", "legacy/open/mine", &user, Some(&write)).await;
    assert_eq!(status, 204);
    let (status, _) = raw(&server, "GET", "legacy/open/mine", &user, None).await;
    assert_eq!(status, 200);
    let (status, _) = raw(&server, "LIST", "legacy/open/", &user, None).await;
    assert_eq!(status, 200);

    for path in spellings() {
        for (method, body) in [
            ("GET", None),
            ("PUT", Some(&write)),
            ("POST", Some(&write)),
            ("LIST", None),
            ("DELETE", None),
        ] {
            let (status, answer) = raw(&server, method, path, &user, body).await;
            assert!(
                status == 403 || status == 400,
                "{method} {path}: {status} {answer}"
            );
            assert!(!answer.contains("top-secret"), "{method} {path}: {answer}");
        }
        let listing = format!("{path}/");
        let (status, answer) = raw(&server, "LIST", &listing, &user, None).await;
        assert!(
            status == 403 || status == 400,
            "LIST {listing}: {status} {answer}"
        );
    }
    for folder in ["legacy/", "legacy", "legacy/closed", "legacy//", "LEGACY/"] {
        let (status, answer) = raw(&server, "LIST", folder, &user, None).await;
        assert!(
            status == 403 || status == 400,
            "LIST {folder}: {status} {answer}"
        );
    }
    // Decoded once only: `%252e%252e` is a literal folder inside `open/`.
    let (status, _) = raw(
        &server,
        "PUT",
        "legacy/open/%252e%252e/closed/db",
        &user,
        Some(&write),
    )
    .await;
    assert_eq!(status, 204);
    let (_, body) = server.root("LIST", "legacy/open/", None).await;
    assert_eq!(body["data"]["keys"], json!(["%2e%2e/", "mine"]));
    // Nothing changed and nothing new appeared.
    let (_, body) = server.root("GET", "legacy/closed/db", None).await;
    assert_eq!(body["data"], json!({ "password": "top-secret" }));
    let (_, body) = server.root("LIST", "legacy/", None).await;
    assert_eq!(body["data"]["keys"], json!(["closed/", "open/"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_get_400_never_500() {
    let server = TestServer::dev();
    let root = server.root_token.clone();
    enable_v1(&server, "legacy", json!({ "type": "kv" })).await;
    let send = |method: &'static str, path: String, body: String| {
        let server = &server;
        let root = root.clone();
        async move { raw_text(server, method, &path, &root, &body).await }
    };
    // Bodies that are not a JSON object of fields.
    let nested = format!("{{\"a\": {}{}}}", "[".repeat(2000), "]".repeat(2000));
    for body in [
        "[1, 2]",
        "\"text\"",
        "42",
        "true",
        "{",
        "{\"a\": }",
        "null",
        "{}",
        &nested,
    ] {
        let (status, answer) = send("PUT", "legacy/k".into(), body.to_string()).await;
        assert_eq!(status, 400, "body {:.40}: {answer}", body);
    }
    // Keys: over the limit, control characters, empty segments.
    let long = format!("legacy/{}", "k".repeat(2000));
    let (status, answer) = send("PUT", long.clone(), "{\"a\": 1}".into()).await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = send("GET", long, String::new()).await;
    assert_eq!(status, 404);
    let over = format!("legacy/{}", "k".repeat(20_000));
    let (status, answer) = send("PUT", over, "{\"a\": 1}".into()).await;
    assert_eq!(status, 400, "{answer:.200}");
    // Past the listener's header limit: refused at the edge (431, or the
    // connection is closed before an answer).
    let huge = format!("legacy/{}", "k".repeat(200_000));
    let (status, _) = send("PUT", huge, "{\"a\": 1}".into()).await;
    assert!(status < 500, "a huge key: {status}");
    for path in [
        "legacy/a%00b",
        "legacy/a%0Ab",
        "legacy/a%1Bb",
        "legacy/a%7Fb",
        "legacy/a%C2%85b",
        "legacy/a//b",
        "legacy/%FF",
    ] {
        for method in ["PUT", "GET", "DELETE", "LIST"] {
            let (status, answer) = send(method, path.into(), "{\"a\": 1}".into()).await;
            assert_eq!(status, 400, "{method} {path}: {answer}");
        }
    }
    // Odd but valid values are stored as given; an unusable `ttl` falls
    // back to the default lease duration on read.
    for ttl in [
        json!(1e30),
        json!(-1),
        json!("soon"),
        json!([1]),
        json!("99999999999999999h"),
    ] {
        let body = json!({ "ttl": ttl, "ctl": "\u{0}\u{1b}[31m\u{7f}", "\u{1}": "k" });
        let (status, answer) = send("PUT", "legacy/odd".into(), body.to_string()).await;
        assert_eq!(status, 204, "ttl {ttl}: {answer}");
        let (status, answer) = send("GET", "legacy/odd".into(), String::new()).await;
        assert_eq!(status, 200, "{answer}");
        let read: Value = serde_json::from_str(&answer).expect("json");
        assert_eq!(read["data"], body);
        assert_eq!(read["lease_duration"], DEFAULT_TTL, "ttl {ttl}");
    }
    // Tunes of the version option that make no sense.
    for options in [
        json!("2"),
        json!([2]),
        json!({ "version": [2] }),
        json!({ "version": 1e30 }),
        json!({ "version": "99999999999999999999" }),
        json!({ "version": "-1" }),
        json!({ "version": "two" }),
    ] {
        let body = json!({ "options": options }).to_string();
        let (status, answer) = send("POST", "sys/mounts/legacy/tune".into(), body).await;
        assert_eq!(status, 400, "options {options}: {answer}");
    }
    let body = json!({ "options": { "version": "2" } }).to_string();
    let (status, answer) = send("POST", "sys/mounts/sys/tune".into(), body).await;
    assert_eq!(status, 400, "{answer}");
    let (status, answer) = send("GET", "sys/internal/ui/mounts/legacy".into(), String::new()).await;
    assert_eq!(status, 200);
    let mount: Value = serde_json::from_str(&answer).expect("json");
    assert_eq!(mount["data"]["options"]["version"], "1", "still version 1");
    let (status, _) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200, "the server still answers");
}
