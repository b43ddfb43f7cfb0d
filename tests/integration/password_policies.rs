//! `sys/policies/password/NAME` as Vault clients use it: written, read,
//! listed and deleted over HTTP and through the bao CLI, passwords made by
//! `NAME/generate` that follow the rules, hostile policy text refused
//! with a 400 while the server keeps answering, and every spelling of a
//! policy's paths refused to a token without the capability.

use super::acl_bypass::{policy, raw, token};
use super::common::{ok_stdout, TestServer};
use base64::Engine as _;
use serde_json::{json, Value};

/// Only digits, 12 of them.
pub(crate) const DIGITS_12: &str = r#"
length = 12
rule "charset" {
  charset   = "0123456789"
  min-chars = 12
}
"#;

pub(crate) async fn write_policy(server: &TestServer, name: &str, text: &str) {
    let (status, body) = server
        .root(
            "PUT",
            &format!("sys/policies/password/{name}"),
            Some(json!({ "policy": text })),
        )
        .await;
    assert_eq!(status, 204, "{name}: {body}");
}

async fn generated(server: &TestServer, name: &str) -> String {
    let (status, body) = server
        .root(
            "GET",
            &format!("sys/policies/password/{name}/generate"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["password"]
        .as_str()
        .expect("a password")
        .to_string()
}

fn only_digits(password: &str, length: usize) -> bool {
    password.len() == length && password.chars().all(|c| c.is_ascii_digit())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_policies_are_written_read_listed_generated_and_deleted() {
    let server = TestServer::dev();
    write_policy(&server, "digits", DIGITS_12).await;
    let (status, body) = server
        .root("GET", "sys/policies/password/digits", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["policy"], DIGITS_12);
    for _ in 0..20 {
        let password = generated(&server, "digits").await;
        assert!(only_digits(&password, 12), "{password}");
    }
    // Base64 of the text, as Vault accepts it, is stored decoded.
    let mixed = "length = 20\nrule \"charset\" {\n charset = \"abc\"\n min-chars = 1\n}\nrule \"charset\" {\n charset = \"XYZ\"\n min-chars = 19\n}\n";
    let encoded = base64::engine::general_purpose::STANDARD.encode(mixed);
    write_policy(&server, "mixed", &encoded).await;
    let (_, body) = server
        .root("GET", "sys/policies/password/mixed", None)
        .await;
    assert_eq!(body["data"]["policy"], mixed);
    let password = generated(&server, "mixed").await;
    assert_eq!(password.len(), 20);
    assert!(
        password.chars().filter(|c| "XYZ".contains(*c)).count() >= 19,
        "{password}"
    );
    // JSON, as HCL's JSON form.
    write_policy(
        &server,
        "json",
        r#"{"length": 8, "rule": {"charset": {"charset": "ab", "min-chars": 1}}}"#,
    )
    .await;
    for list in [
        "LIST sys/policies/password",
        "GET sys/policies/password?list=true",
    ] {
        let (method, path) = list.split_once(' ').expect("method and path");
        let (status, body) = server.root(method, path, None).await;
        assert_eq!(status, 200, "{list}: {body}");
        assert_eq!(
            body["data"]["keys"],
            json!(["digits", "json", "mixed"]),
            "{list}"
        );
    }
    let (status, _) = server
        .root("DELETE", "sys/policies/password/json", None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = server.root("GET", "sys/policies/password/json", None).await;
    assert_eq!(status, 404);
    let (status, body) = server
        .root("GET", "sys/policies/password/json/generate", None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["errors"], json!(["policy does not exist"]));
    let (status, body) = server
        .root("PUT", "sys/policies/password/empty", Some(json!({})))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body["errors"][0]
        .as_str()
        .unwrap_or_default()
        .contains("policy: required"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bao_cli_writes_reads_and_generates() {
    let server = TestServer::dev();
    let file = server.temp_path("digits.hcl");
    std::fs::write(&file, DIGITS_12).expect("policy file");
    let root = server.root_token.clone();
    let policy_arg = format!("policy=@{}", file.display());
    ok_stdout(&server.bao(
        &root,
        &["write", "sys/policies/password/digits", &policy_arg],
    ));
    let text = ok_stdout(&server.bao(
        &root,
        &["read", "-field=policy", "sys/policies/password/digits"],
    ));
    assert_eq!(text.trim_end(), DIGITS_12.trim_end());
    let password = ok_stdout(&server.bao(
        &root,
        &[
            "read",
            "-field=password",
            "sys/policies/password/digits/generate",
        ],
    ));
    assert!(only_digits(password.trim_end(), 12), "{password}");
    let listed = ok_stdout(&server.bao(&root, &["list", "-format=json", "sys/policies/password"]));
    let listed: Value = serde_json::from_str(&listed).expect("json");
    assert_eq!(listed, json!(["digits"]));
    let bad = server.bao(
        &root,
        &["write", "sys/policies/password/bad", "policy=length = 2"],
    );
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("length must be 4 to 1024"), "{stderr}");
    ok_stdout(&server.bao(&root, &["delete", "sys/policies/password/digits"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_password_policies_are_400s_and_the_server_keeps_answering() {
    let server = TestServer::dev();
    let deep = 5_000;
    let charset = |inner: &str| format!("length = 8\nrule \"charset\" {{ {inner} }}");
    let hostile = [
        format!("length = {}", "[".repeat(deep)),
        format!("length = 8\nrule = {}", "{ y = ".repeat(deep)),
        format!("length = {}", "- ".repeat(deep)),
        format!("{{\"length\": {}}}", "[".repeat(deep)),
        format!(
            "length = 8\n{}",
            "rule \"charset\" { charset = \"a\" }\n".repeat(10_000)
        ),
        charset(&format!("charset = \"{}'\"", "a".repeat(1 << 20))),
        charset("charset = \"\""),
        charset("charset = \"a\" min-chars = 99999999999999999999"),
        charset("charset = \"a\" min-chars = -1"),
        charset("charset = \"a\" min-chars = 9"),
        charset("charset = 5"),
        "length = 99999999999999999999999\nrule \"charset\" { charset = \"a\" }".into(),
        "length = -8\nrule \"charset\" { charset = \"a\" }".into(),
        "length = 1e300\nrule \"charset\" { charset = \"a\" }".into(),
        "length = 1025\nrule \"charset\" { charset = \"a\" }".into(),
        "length = 8\nrule \"unicode\" { charset = \"a\" }".into(),
        "length = 8".into(),
        "x".repeat(1 << 20),
        "length = 8 rule \"charset\" {".into(),
    ];
    for (index, text) in hostile.iter().enumerate() {
        for body in [
            json!({ "policy": text }),
            json!({ "policy": [text] }),
            json!({ "policy": { "a": text } }),
        ] {
            let (status, answer) = server
                .root("PUT", "sys/policies/password/hostile", Some(body))
                .await;
            assert_eq!(status, 400, "case {index}: {answer}");
            assert!(answer["errors"][0].is_string(), "case {index}: {answer}");
        }
        let (status, body) = server.call("GET", "sys/health", None, None).await;
        assert_eq!(status, 200, "after case {index}: {body}");
    }
    let (status, _) = server
        .root("GET", "sys/policies/password/hostile", None)
        .await;
    assert_eq!(status, 404, "nothing was stored");
    let (status, body) = server
        .root(
            "PUT",
            "sys/policies/password/hostile",
            Some(json!({ "policy": "length = 8\nrule \"unicode\" { charset = \"a\" }" })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("unknown rule type \"unicode\""),
        "{body}"
    );
    for name in ["UPPER", "a%20b", "x*", "x+y"] {
        let (status, body) = raw(
            &server,
            "PUT",
            &format!("sys/policies/password/{name}"),
            &server.root_token,
            Some(&json!({ "policy": DIGITS_12 })),
        )
        .await;
        assert!((400..500).contains(&status), "{name}: {status} {body}");
    }
}

/// A token allowed one policy is refused the others' read, write, delete
/// and generate, however the path is spelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_policy_paths_need_their_capability_every_spelling() {
    let server = TestServer::dev();
    write_policy(&server, "secret", DIGITS_12).await;
    write_policy(&server, "open", DIGITS_12).await;
    policy(
        &server,
        "one-policy",
        r#"path "sys/policies/password/open" { capabilities = ["read", "update"] }
           path "sys/policies/password/open/generate" { capabilities = ["read"] }"#,
    )
    .await;
    let caller = token(&server, json!({ "policies": ["one-policy"] })).await;
    let (status, body) = raw(
        &server,
        "GET",
        "sys/policies/password/open/generate",
        &caller,
        None,
    )
    .await;
    assert_eq!(status, 200, "the allowed path works: {body}");
    let (status, _) = raw(&server, "GET", "sys/policies/password/open", &caller, None).await;
    assert_eq!(status, 200);
    let (status, _) = raw(&server, "LIST", "sys/policies/password", &caller, None).await;
    assert_eq!(status, 403, "listing is its own capability");
    let spellings = [
        "sys/policies/password/secret",
        "sys/policies/password/secret/",
        "sys/policies/password/secret//",
        "sys/policies/password//secret",
        "sys//policies/password/secret",
        "sys/policies/password/./secret",
        "sys/policies/password/x/../secret",
        "sys/policies/password/SECRET",
        "sys/policies/password/Secret/",
        "sys/policies/password/%73ecret",
        "sys/policies/password/secret%2F",
        "sys/policies%2Fpassword/secret",
        "sys/policies/password/secret%20",
        "sys/policies/password/%20secret",
        "sys/policies/password/secret%00",
        "sys/policies/password/secret/generate",
        "sys/policies/password/secret/generate/",
        "sys/policies/password/SECRET/generate",
        "sys/policies/password/secret//generate",
        "sys/policies/password/secret/%67enerate",
        "sys/policies/password/secret%2Fgenerate",
        "sys/policies/password/secret/GENERATE",
        "sys/policies/password/open/../secret/generate",
    ];
    let replacement = json!({ "policy": "length = 4\nrule \"charset\" { charset = \"a\" }" });
    for spelling in spellings {
        for (method, body) in [
            ("GET", None),
            ("PUT", Some(&replacement)),
            ("DELETE", None),
            ("LIST", None),
        ] {
            let (status, answer) = raw(&server, method, spelling, &caller, body).await;
            assert!(
                (400..500).contains(&status),
                "{method} {spelling}: {status} {answer}"
            );
            assert!(
                !answer.contains("password\":"),
                "{method} {spelling}: {answer}"
            );
        }
    }
    let (status, body) = server
        .root("GET", "sys/policies/password/secret", None)
        .await;
    assert_eq!(status, 200, "the policy is still there: {body}");
    assert_eq!(body["data"]["policy"], DIGITS_12, "and unchanged");
}
