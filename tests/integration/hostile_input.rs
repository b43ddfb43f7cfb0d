//! Hostile values in every field that takes a duration, a count or a name,
//! on every endpoint that has one: each must get a 4xx (or, where the value
//! is merely odd, anything but a 5xx), and the server must keep answering,
//! including the reads that once panicked on a stored value.

use super::acl_bypass::raw;
use super::common::{mount_database_role, TestServer};
use serde_json::{json, Value};

/// Values no duration field may accept.
fn bad_durations() -> Vec<Value> {
    vec![
        json!(1e30),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(-1),
        json!(i64::MIN),
        json!(1.5),
        json!("abc"),
        json!("300000000000"),
        json!("9223372036854775807"),
        json!("99999999999999999999h"),
        json!("1e300h"),
        json!("-5s"),
        json!("1.5.5h"),
        json!("10000-01-01T00:00:00Z"),
        json!("1".repeat(1 << 20)),
        json!([1]),
        json!({ "a": 1 }),
        json!(true),
    ]
}

/// Values no count field may accept.
fn bad_counts() -> Vec<Value> {
    vec![
        json!(-1),
        json!(i64::MIN),
        json!(1.5),
        json!(1e30),
        json!(u64::MAX),
        json!("abc"),
        json!("-1"),
        json!("1.5"),
        json!("99999999999999999999999"),
        json!("9".repeat(1 << 20)),
        json!([1]),
        json!({ "a": 1 }),
    ]
}

/// Odd but possibly valid values: they may be accepted, never a 5xx.
fn odd_values() -> Vec<Value> {
    vec![
        json!(""),
        json!(0),
        json!("0"),
        json!(null),
        json!(i64::MAX),
        json!("x".repeat(1 << 20)),
    ]
}

/// (method, path, base body, fields, whether they are durations).
fn endpoints(lease: &str) -> Vec<(&'static str, String, Value, Vec<&'static str>, bool)> {
    let db_role = json!({
        "db_name": "pg",
        "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}'",
    });
    let jwt_role = json!({ "role_type": "jwt", "user_claim": "sub", "bound_audiences": "qm" });
    let aws_role = json!({
        "credential_type": "assumed_role",
        "role_arns": "arn:aws:iam::123456789012:role/deploy",
    });
    vec![
        (
            "POST",
            "auth/token/create".into(),
            json!({}),
            vec!["ttl", "explicit_max_ttl", "period"],
            true,
        ),
        (
            "POST",
            "auth/token/create".into(),
            json!({}),
            vec!["num_uses"],
            false,
        ),
        (
            "POST",
            "auth/token/create-orphan".into(),
            json!({}),
            vec!["ttl", "period"],
            true,
        ),
        (
            "POST",
            "auth/token/roles/r".into(),
            json!({}),
            vec![
                "token_period",
                "period",
                "token_explicit_max_ttl",
                "explicit_max_ttl",
            ],
            true,
        ),
        (
            "POST",
            "auth/token/renew-self".into(),
            json!({}),
            vec!["increment"],
            true,
        ),
        (
            "POST",
            "sys/mounts/secret/tune".into(),
            json!({}),
            vec!["default_lease_ttl", "max_lease_ttl"],
            true,
        ),
        (
            "POST",
            "secret/metadata/k".into(),
            json!({}),
            vec!["delete_version_after"],
            true,
        ),
        (
            "POST",
            "secret/metadata/k".into(),
            json!({}),
            vec!["max_versions"],
            false,
        ),
        (
            "POST",
            "auth/approle/role/r".into(),
            json!({}),
            vec![
                "token_ttl",
                "token_max_ttl",
                "token_explicit_max_ttl",
                "token_period",
                "secret_id_ttl",
                "period",
                "ttl",
                "max_ttl",
            ],
            true,
        ),
        (
            "POST",
            "auth/approle/role/r".into(),
            json!({}),
            vec!["token_num_uses", "secret_id_num_uses"],
            false,
        ),
        (
            "POST",
            "auth/approle/role/r/secret-id".into(),
            json!({}),
            vec!["ttl"],
            true,
        ),
        (
            "POST",
            "auth/approle/role/r/secret-id".into(),
            json!({}),
            vec!["num_uses"],
            false,
        ),
        (
            "POST",
            "auth/jwt/role/r".into(),
            jwt_role,
            vec!["token_ttl", "token_max_ttl", "token_period"],
            true,
        ),
        (
            "POST",
            "database/roles/r".into(),
            db_role.clone(),
            vec!["default_ttl", "max_ttl"],
            true,
        ),
        (
            "POST",
            "database/roles/r".into(),
            db_role,
            vec!["max_active_leases"],
            false,
        ),
        (
            "POST",
            "aws/roles/r".into(),
            aws_role,
            vec!["default_sts_ttl", "max_sts_ttl"],
            true,
        ),
        (
            "PUT",
            "sys/leases/renew".into(),
            json!({ "lease_id": lease }),
            vec!["increment"],
            true,
        ),
        (
            "GET",
            "sys/nhi/identities".into(),
            json!({}),
            vec!["unused_for", "expires_within"],
            true,
        ),
        (
            "GET",
            "sys/nhi/identities".into(),
            json!({}),
            vec!["offset", "limit", "risk_above"],
            false,
        ),
        (
            "POST",
            "sys/nhi/drift/config".into(),
            json!({}),
            vec!["learning_requests", "burst_factor"],
            false,
        ),
    ]
}

/// Sends `field = value` to the endpoint, in the body or (GET) the query.
async fn send(
    server: &TestServer,
    method: &str,
    path: &str,
    base: &Value,
    field: &str,
    value: &Value,
) -> u16 {
    let root = server.root_token.clone();
    if method == "GET" {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let query: String = url_encode(&text);
        let (status, _) = raw(
            server,
            "GET",
            &format!("{path}?{field}={query}"),
            &root,
            None,
        )
        .await;
        return status;
    }
    let mut body = base.clone();
    body[field] = value.clone();
    raw(server, method, path, &root, Some(&body)).await.0
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

async fn setup(server: &TestServer) -> String {
    mount_database_role(server, "1h", "2h").await;
    for (path, body) in [
        ("sys/auth/approle", json!({ "type": "approle" })),
        ("sys/auth/jwt", json!({ "type": "jwt" })),
        ("sys/mounts/aws", json!({ "type": "aws" })),
        (
            "auth/approle/role/r",
            json!({ "token_policies": "default" }),
        ),
        (
            "auth/jwt/config",
            json!({ "jwt_validation_pubkeys": [] , "bound_issuer": "qm"}),
        ),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert!(
            status < 300 || path == "auth/jwt/config",
            "{path}: {status} {body}"
        );
    }
    let (status, body) = server.root("GET", "database/creds/app", None).await;
    assert_eq!(status, 200, "{body}");
    body["lease_id"].as_str().expect("lease").to_string()
}

async fn still_answers(server: &TestServer, context: &str) {
    let (status, body) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200, "after {context}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_in_every_duration_count_and_name_field() {
    let server = TestServer::dev();
    let lease = setup(&server).await;
    let mut failures = Vec::new();
    for (method, path, base, fields, durations) in endpoints(&lease) {
        let bad = if durations {
            bad_durations()
        } else {
            bad_counts()
        };
        for field in fields {
            for value in &bad {
                let status = send(&server, method, &path, &base, field, value).await;
                let shown: String = value.to_string().chars().take(40).collect();
                if !(400..500).contains(&status) {
                    failures.push(format!("{method} {path} {field}={shown}: {status}"));
                }
            }
            for value in odd_values() {
                let status = send(&server, method, &path, &base, field, &value).await;
                let shown: String = value.to_string().chars().take(40).collect();
                if status >= 500 {
                    failures.push(format!("{method} {path} {field}={shown}: {status}"));
                }
            }
            still_answers(&server, &format!("{method} {path} {field}")).await;
        }
    }
    let long = "n".repeat(1 << 20);
    for name in [
        "",
        "..",
        "a/../b",
        "%00",
        "%0A",
        "a%20",
        " a",
        long.as_str(),
    ] {
        for (method, template, body) in [
            (
                "PUT",
                "sys/policies/acl/{}",
                json!({ "policy": "path \"x\" { capabilities = [\"read\"] }" }),
            ),
            ("POST", "auth/approle/role/{}", json!({})),
            (
                "POST",
                "auth/jwt/role/{}",
                json!({ "role_type": "jwt", "user_claim": "sub" }),
            ),
            ("POST", "auth/token/roles/{}", json!({})),
            (
                "POST",
                "database/roles/{}",
                json!({ "db_name": "pg", "creation_statements": "SELECT 1" }),
            ),
            (
                "POST",
                "sys/nhi/owners/{}/offboard",
                json!({ "dry_run": true }),
            ),
            ("PUT", "sys/leases/revoke/{}", json!({})),
        ] {
            let path = template.replace("{}", name);
            let (status, _) = raw(&server, method, &path, &server.root_token, Some(&body)).await;
            let shown: String = path.chars().take(60).collect();
            let must_refuse = name.len() < 64 && name != "a%20" && !name.is_empty();
            if status >= 500 || (must_refuse && !(400..500).contains(&status)) {
                failures.push(format!("{method} {shown}: {status}"));
            }
        }
        still_answers(
            &server,
            &format!("name {:?}", name.chars().take(10).collect::<String>()),
        )
        .await;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The reads that once panicked on a stored value.
    for (method, path, body) in [
        ("GET", "sys/nhi/identities", None),
        (
            "POST",
            "sys/nhi/revoke",
            Some(json!({ "kind": "token", "dry_run": true })),
        ),
        (
            "POST",
            "secret/data/k",
            Some(json!({ "data": { "a": "b" } })),
        ),
        ("LIST", "auth/approle/role/r/secret-id", None),
    ] {
        let (status, body) = server.root(method, path, body).await;
        assert!(status < 500, "{method} {path}: {status} {body}");
    }
}

/// The five panics of the security review, each as reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reported_panics_are_clear_400s() {
    let server = TestServer::dev();
    let lease = setup(&server).await;
    let cases = [
        (
            "POST",
            "auth/token/create",
            json!({ "period": "300000000000" }),
        ),
        (
            "POST",
            "secret/metadata/k",
            json!({ "delete_version_after": "9223372036854775807" }),
        ),
        (
            "POST",
            "auth/approle/role/r/secret-id",
            json!({ "ttl": "300000000000" }),
        ),
        (
            "PUT",
            "sys/leases/renew",
            json!({ "lease_id": lease, "increment": 9_223_372_036_854_775_807i64 }),
        ),
    ];
    for (method, path, body) in cases {
        let (status, answer) = server.root(method, path, Some(body)).await;
        assert_eq!(status, 400, "{path}: {answer}");
        let message = answer["errors"][0].as_str().unwrap_or_default();
        assert!(
            message.contains("duration") || message.contains("increment"),
            "{path}: {answer}"
        );
    }
    let (status, _) = server.root("POST", "sys/nhi/owners/offboard", None).await;
    assert!((400..500).contains(&status), "empty owner: {status}");
    let (status, body) = server.root("GET", "sys/nhi/identities", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .root(
            "POST",
            "secret/data/k",
            Some(json!({ "data": { "a": "b" } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/lookup",
            Some(json!({ "lease_id": lease })),
        )
        .await;
    assert_eq!(status, 200, "the lease survived the hostile renew: {body}");
}

/// Policy text nested hundreds of levels deep once overflowed the parser's
/// stack and aborted the whole server; now each is a 400 naming the depth
/// or the construct, on both policy endpoints, and the server answers on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_policies_are_400s_not_a_crash() {
    let server = TestServer::dev();
    let deep = 5_000;
    let hostile = [
        format!("path \"a\" {{ capabilities = {} }}", "[".repeat(deep)),
        format!("x = {}", "{ y = ".repeat(deep)),
        format!("path \"a\" {{ capabilities = [{}1] }}", "- ".repeat(deep)),
        format!("x = {}", "1+".repeat(deep) + "1"),
        format!("x = {}", "(".repeat(deep)),
        format!("{{\"path\": {}}}", "[".repeat(deep)),
    ];
    for (index, text) in hostile.iter().enumerate() {
        for path in ["sys/policies/acl/deep", "sys/policy/deep"] {
            let (status, body) = server
                .root("PUT", path, Some(json!({ "policy": text })))
                .await;
            assert_eq!(status, 400, "case {index} on {path}: {body}");
            still_answers(&server, &format!("case {index} on {path}")).await;
        }
    }
    // Strings stay literal, as in Vault's HCL 1: `${` and `%{` are no
    // templates, however many there are.
    let directives = "%{if x}".repeat(deep);
    let literal =
        format!(r#"path "secret/data/${{app}}/{directives}*" {{ capabilities = ["read"] }}"#);
    let (status, body) = server
        .root(
            "PUT",
            "sys/policies/acl/literal",
            Some(json!({ "policy": &literal })),
        )
        .await;
    assert!(status < 300, "{body}");
    let (status, body) = server.root("GET", "sys/policies/acl/literal", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["policy"], literal.as_str());
}
