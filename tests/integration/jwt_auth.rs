//! JWT login with tokens signed by keys made for the test (RS256, ES256,
//! EdDSA): valid tokens log in and their claims land on the token; expired,
//! wrong-audience, wrong-issuer, badly signed and claim-mismatched tokens
//! are refused. Keys come inline as PEM or from a JWKS URL served on
//! loopback; the real `bao` CLI logs in too.

use super::common::{ok_stdout, TestServer};
use super::jwt_keys::{jwks, TestKey};
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;

const ISSUER: &str = "https://jenkins.example.com/oidc";

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Claims as Jenkins' OIDC provider plugin issues them for a build.
fn build_claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": "quartermaster",
        "sub": "https://jenkins.example.com/job/payments/job/deploy/",
        "build_number": 42,
        "job": "payments/deploy",
        "branch": "main",
        "iat": now(),
        "nbf": now(),
        "exp": now() + 300,
    })
}

async fn setup(server: &TestServer, config: Value) {
    let role = json!({
        "role_type": "jwt",
        "bound_audiences": ["quartermaster"],
        "bound_claims_type": "glob",
        "bound_claims": {"job": "payments/*", "branch": ["main", "release-*"]},
        "user_claim": "sub",
        "claim_mappings": {"job": "job", "build_number": "build"},
        "token_policies": ["deployer"],
        "token_ttl": "15m",
    });
    for (path, body) in [
        ("sys/auth/jwt", json!({"type": "jwt"})),
        ("auth/jwt/config", config),
        ("auth/jwt/role/deploy", role),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert_eq!(status, 204, "{path}: {body}");
    }
}

async fn login(server: &TestServer, jwt: &str) -> (u16, Value) {
    server
        .call(
            "POST",
            "auth/jwt/login",
            None,
            Some(json!({"role": "deploy", "jwt": jwt})),
        )
        .await
}

fn refusal(answer: &(u16, Value)) -> String {
    assert_eq!(answer.0, 400, "expected a refusal: {}", answer.1);
    answer.1["errors"][0]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_login_checks_signature_time_audience_issuer_and_claims() {
    let server = TestServer::dev();
    let keys = [
        TestKey::rsa("rsa-1"),
        TestKey::ec("ec-1"),
        TestKey::ed("ed-1"),
    ];
    let pems: Vec<&str> = keys.iter().map(|k| k.public_pem.as_str()).collect();
    setup(
        &server,
        json!({"jwt_validation_pubkeys": pems, "bound_issuer": ISSUER}),
    )
    .await;

    for key in &keys {
        let (status, body) = login(&server, &key.sign(&build_claims())).await;
        assert_eq!(status, 200, "{}: {body}", key.alg);
        let auth = &body["auth"];
        assert_eq!(auth["policies"], json!(["default", "deployer"]));
        assert_eq!(auth["lease_duration"], 900);
        assert_eq!(auth["metadata"]["role"], "deploy");
        assert_eq!(auth["metadata"]["job"], "payments/deploy");
        assert_eq!(auth["metadata"]["build"], "42");
    }
    let key = &keys[0];
    let with = |change: Value| {
        let mut claims = build_claims();
        for (k, v) in change.as_object().expect("object") {
            claims[k] = v.clone();
        }
        key.sign(&claims)
    };

    let expired = with(json!({"iat": now() - 900, "nbf": now() - 900, "exp": now() - 600}));
    assert!(refusal(&login(&server, &expired).await).contains("expired"));
    let early = with(json!({"nbf": now() + 600, "iat": now() + 600}));
    assert!(refusal(&login(&server, &early).await).contains("not valid yet"));
    let audience = with(json!({"aud": "someone-else"}));
    assert!(refusal(&login(&server, &audience).await).contains("aud"));
    let issuer = with(json!({"iss": "https://evil.example.com"}));
    assert!(refusal(&login(&server, &issuer).await).contains("iss"));
    let other_job = with(json!({"job": "billing/deploy"}));
    assert!(refusal(&login(&server, &other_job).await).contains("job"));
    let other_branch = with(json!({"branch": "feature-x"}));
    assert!(refusal(&login(&server, &other_branch).await).contains("branch"));
    let release = with(json!({"branch": "release-7"}));
    assert_eq!(login(&server, &release).await.0, 200, "glob any-of");

    let stranger = TestKey::ec("stranger");
    let forged = stranger.sign(&build_claims());
    assert!(refusal(&login(&server, &forged).await).contains("signature"));
    let mut tampered = key.sign(&build_claims());
    tampered.insert(tampered.len() - 3, 'A');
    refusal(&login(&server, &tampered).await);
    refusal(&login(&server, "not.a.jwt").await);

    let (status, body) = server
        .call(
            "POST",
            "auth/jwt/login",
            None,
            Some(json!({"role": "nope", "jwt": key.sign(&build_claims())})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

/// Serves one JWKS document to every request, on loopback.
fn serve_jwks(document: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{document}",
                document.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    format!("http://{addr}/jwks")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_keys_and_the_bao_cli_login() {
    let server = TestServer::dev();
    let (ec, ed) = (TestKey::ec("kid-ec"), TestKey::ed("kid-ed"));
    let url = serve_jwks(jwks(&[&ec, &ed]));
    setup(&server, json!({"jwks_url": url, "bound_issuer": ISSUER})).await;

    let (status, body) = login(&server, &ed.sign(&build_claims())).await;
    assert_eq!(status, 200, "{body}");

    let out = ok_stdout(&server.bao(
        "",
        &[
            "write",
            "-format=json",
            "auth/jwt/login",
            "role=deploy",
            &format!("jwt={}", ec.sign(&build_claims())),
        ],
    ));
    let login: Value = serde_json::from_str(&out).expect("json");
    let token = login["auth"]["client_token"].as_str().expect("token");
    let (status, me) = server
        .call("GET", "auth/token/lookup-self", Some(token), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(me["data"]["path"], "auth/jwt/login");
    assert_eq!(me["data"]["meta"]["job"], "payments/deploy");
    assert_eq!(
        me["data"]["display_name"],
        "jwt-https://jenkins.example.com/job/payments/job/deploy/"
    );

    // A config whose keys cannot be fetched is refused when written.
    let (status, body) = server
        .root(
            "POST",
            "auth/jwt/config",
            Some(json!({"jwks_url": "http://127.0.0.1:1/jwks"})),
        )
        .await;
    assert_eq!(status, 502, "{body}");
}
