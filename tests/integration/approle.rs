//! AppRole login and response wrapping, through raw HTTP and the real `bao`
//! CLI: a role's token reads what its policy allows and nothing else;
//! used-up, expired and out-of-network secret IDs are refused; a wrapped
//! secret ID opens once.

use super::common::{ok_stdout, TestServer};
use serde_json::{json, Value};

const READER: &str = r#"path "secret/data/app/*" { capabilities = ["read"] }"#;

/// Enables AppRole (dev mode has KV at `secret/`), a policy, and a role `app` with it; returns the role ID.
async fn setup(server: &TestServer) -> String {
    for (path, body) in [
        ("sys/auth/approle", json!({"type": "approle"})),
        ("sys/policies/acl/app-reader", json!({"policy": READER})),
        (
            "auth/approle/role/app",
            json!({"token_policies": "app-reader", "token_ttl": "10m", "token_max_ttl": "1h"}),
        ),
        (
            "secret/data/app/db",
            json!({"data": {"password": "kv-marker-51c2"}}),
        ),
        ("secret/data/other/db", json!({"data": {"password": "x"}})),
    ] {
        let (status, body) = server.root("POST", path, Some(body)).await;
        assert!(status == 204 || status == 200, "{path}: {status} {body}");
    }
    let (status, body) = server
        .root("GET", "auth/approle/role/app/role-id", None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["role_id"]
        .as_str()
        .expect("role_id")
        .to_string()
}

async fn secret_id(server: &TestServer, body: Value) -> (String, String) {
    let (status, body) = server
        .root("POST", "auth/approle/role/app/secret-id", Some(body))
        .await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["secret_id"]
            .as_str()
            .expect("secret_id")
            .into(),
        body["data"]["secret_id_accessor"]
            .as_str()
            .expect("accessor")
            .into(),
    )
}

async fn login(server: &TestServer, role_id: &str, secret_id: &str) -> (u16, Value) {
    server
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": role_id, "secret_id": secret_id})),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approle_login_gets_a_token_bound_by_its_policy() {
    let server = TestServer::dev();
    let role_id = setup(&server).await;
    let (secret, _) = secret_id(&server, json!({"metadata": "{\"job\": \"build-42\"}"})).await;

    let (status, body) = login(&server, &role_id, &secret).await;
    assert_eq!(status, 200, "{body}");
    let auth = &body["auth"];
    assert_eq!(auth["policies"], json!(["app-reader", "default"]));
    assert_eq!(auth["lease_duration"], 600);
    assert_eq!(auth["metadata"]["role_name"], "app");
    assert_eq!(auth["metadata"]["job"], "build-42");
    let token = auth["client_token"].as_str().expect("token");

    let (status, body) = server
        .call("GET", "secret/data/app/db", Some(token), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["data"]["password"], "kv-marker-51c2");
    let (status, _) = server
        .call("GET", "secret/data/other/db", Some(token), None)
        .await;
    assert_eq!(status, 403, "outside the policy");

    // The token records where it came from.
    let (_, me) = server
        .call("GET", "auth/token/lookup-self", Some(token), None)
        .await;
    assert_eq!(me["data"]["path"], "auth/approle/login");
    assert_eq!(me["data"]["display_name"], "approle");

    // Wrong credentials are refused alike.
    let (status, body) = login(&server, &role_id, "not-a-secret-id").await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0], "invalid role or secret ID");
    let (status, _) = login(&server, "not-a-role-id", &secret).await;
    assert_eq!(status, 400);
    let (status, body) = server
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({"role_id": role_id})),
        )
        .await;
    assert_eq!(
        (status, body["errors"][0].as_str()),
        (400, Some("missing secret_id"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn used_up_expired_and_out_of_network_secret_ids_are_refused() {
    let server = TestServer::dev();
    let role_id = setup(&server).await;

    let (once, accessor) = secret_id(&server, json!({"num_uses": 1})).await;
    let (status, lookup) = server
        .root(
            "POST",
            "auth/approle/role/app/secret-id-accessor/lookup",
            Some(json!({"secret_id_accessor": accessor})),
        )
        .await;
    assert_eq!(status, 200, "{lookup}");
    assert_eq!(lookup["data"]["secret_id_num_uses"], 1);
    assert!(
        !lookup.to_string().contains(&once),
        "lookups never show the secret ID"
    );
    assert_eq!(login(&server, &role_id, &once).await.0, 200);
    assert_eq!(login(&server, &role_id, &once).await.0, 400, "used up");

    let (short, _) = secret_id(&server, json!({"ttl": "1s"})).await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(login(&server, &role_id, &short).await.0, 400, "expired");

    let (elsewhere, _) = secret_id(&server, json!({"cidr_list": "10.0.0.0/8"})).await;
    let (status, body) = login(&server, &role_id, &elsewhere).await;
    assert_eq!(status, 400);
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("unauthorized through CIDR restrictions")),
        "{body}"
    );
    let (here, _) = secret_id(&server, json!({"cidr_list": "127.0.0.1/32"})).await;
    assert_eq!(login(&server, &role_id, &here).await.0, 200);

    // A token bound to another network is issued but cannot be used from here.
    let (bound, _) = secret_id(&server, json!({"token_bound_cidrs": ["10.0.0.0/8"]})).await;
    let (status, body) = login(&server, &role_id, &bound).await;
    assert_eq!(status, 200, "{body}");
    let token = body["auth"]["client_token"].as_str().expect("token");
    let (status, _) = server
        .call("GET", "auth/token/lookup-self", Some(token), None)
        .await;
    assert_eq!(status, 403);

    // Destroyed secret IDs are gone from the list and cannot log in.
    let (doomed, doomed_accessor) = secret_id(&server, json!({})).await;
    let (_, listed) = server
        .root("LIST", "auth/approle/role/app/secret-id", None)
        .await;
    assert!(listed["data"]["keys"]
        .as_array()
        .expect("keys")
        .contains(&json!(doomed_accessor)));
    let (status, _) = server
        .root(
            "POST",
            "auth/approle/role/app/secret-id/destroy",
            Some(json!({"secret_id": doomed})),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(login(&server, &role_id, &doomed).await.0, 400);

    // Deleting the role ends its secret IDs too.
    let (survivor, _) = secret_id(&server, json!({})).await;
    server.root("DELETE", "auth/approle/role/app", None).await;
    assert_eq!(login(&server, &role_id, &survivor).await.0, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_secret_id_opens_once() {
    let server = TestServer::dev();
    let role_id = setup(&server).await;
    let root = server.root_token.clone();

    let (status, wrapped) = server
        .call_with(
            "POST",
            "auth/approle/role/app/secret-id",
            Some(&root),
            Some(json!({})),
            &[("X-Vault-Wrap-TTL", "120s")],
        )
        .await;
    assert_eq!(status, 200, "{wrapped}");
    assert_eq!(wrapped["data"], Value::Null, "only the wrapping token");
    let info = &wrapped["wrap_info"];
    assert_eq!(info["ttl"], 120);
    assert_eq!(info["creation_path"], "auth/approle/role/app/secret-id");
    let wrapping_token = info["token"].as_str().expect("token").to_string();

    let (status, lookup) = server
        .call(
            "POST",
            "sys/wrapping/lookup",
            None,
            Some(json!({"token": wrapping_token})),
        )
        .await;
    assert_eq!(status, 200, "{lookup}");
    assert_eq!(
        lookup["data"]["creation_path"],
        "auth/approle/role/app/secret-id"
    );

    // The job unwraps with the wrapping token itself, as Vault Agent does.
    let (status, unwrapped) = server
        .call("POST", "sys/wrapping/unwrap", Some(&wrapping_token), None)
        .await;
    assert_eq!(status, 200, "{unwrapped}");
    let secret = unwrapped["data"]["secret_id"].as_str().expect("secret_id");
    assert_eq!(login(&server, &role_id, secret).await.0, 200);

    let (status, again) = server
        .call("POST", "sys/wrapping/unwrap", Some(&wrapping_token), None)
        .await;
    assert_eq!(status, 400, "{again}");
    assert_eq!(
        again["errors"][0],
        "wrapping token is not valid or does not exist"
    );

    // The wrapping token grants nothing else.
    let (_, wrapped) = server
        .call_with(
            "POST",
            "sys/wrapping/wrap",
            Some(&root),
            Some(json!({"note": "hello"})),
            &[("X-Vault-Wrap-TTL", "1m")],
        )
        .await;
    let other = wrapped["wrap_info"]["token"].as_str().expect("token");
    let (status, _) = server
        .call("GET", "secret/data/app/db", Some(other), None)
        .await;
    assert_eq!(status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bao_cli_logs_in_with_approle_and_unwraps() {
    let server = TestServer::dev();
    let role_id = setup(&server).await;
    let root = server.root_token.clone();

    let wrapped = ok_stdout(&server.bao(
        &root,
        &[
            "write",
            "-wrap-ttl=60s",
            "-format=json",
            "-f",
            "auth/approle/role/app/secret-id",
        ],
    ));
    let wrapped: Value = serde_json::from_str(&wrapped).expect("json");
    let wrapping_token = wrapped["wrap_info"]["token"].as_str().expect("token");
    let unwrapped = ok_stdout(&server.bao("", &["unwrap", "-format=json", wrapping_token]));
    let unwrapped: Value = serde_json::from_str(&unwrapped).expect("json");
    let secret = unwrapped["data"]["secret_id"].as_str().expect("secret_id");

    let out = ok_stdout(&server.bao(
        "",
        &[
            "write",
            "-format=json",
            "auth/approle/login",
            &format!("role_id={role_id}"),
            &format!("secret_id={secret}"),
        ],
    ));
    let login: Value = serde_json::from_str(&out).expect("json");
    let token = login["auth"]["client_token"].as_str().expect("token");
    let read = ok_stdout(&server.bao(token, &["kv", "get", "-field=password", "secret/app/db"]));
    assert_eq!(read.trim(), "kv-marker-51c2");
}

/// AppRole's per-field endpoints (`role/NAME/token-ttl`, ...) read, set
/// and reset one field, as Vault's; hostile values and callers without the
/// capability get nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approle_per_field_endpoints() {
    let server = TestServer::dev();
    let (code, _) = server
        .root(
            "POST",
            "sys/auth/approle",
            Some(serde_json::json!({"type": "approle"})),
        )
        .await;
    assert_eq!(code, 204);
    let base = "auth/approle/role/fields";
    let (code, body) = server
        .root(
            "POST",
            base,
            Some(serde_json::json!({"token_policies": ["default"]})),
        )
        .await;
    assert_eq!(code, 204, "{body}");
    for (segment, field, value, read_back) in [
        (
            "token-ttl",
            "token_ttl",
            serde_json::json!("1h"),
            serde_json::json!(3600),
        ),
        (
            "token-max-ttl",
            "token_max_ttl",
            serde_json::json!(7200),
            serde_json::json!(7200),
        ),
        (
            "secret-id-ttl",
            "secret_id_ttl",
            serde_json::json!("10m"),
            serde_json::json!(600),
        ),
        (
            "secret-id-num-uses",
            "secret_id_num_uses",
            serde_json::json!(3),
            serde_json::json!(3),
        ),
        (
            "token-num-uses",
            "token_num_uses",
            serde_json::json!(2),
            serde_json::json!(2),
        ),
        (
            "period",
            "token_period",
            serde_json::json!("30m"),
            serde_json::json!(1800),
        ),
        (
            "policies",
            "token_policies",
            serde_json::json!(["dev", "ops"]),
            serde_json::json!(["dev", "ops"]),
        ),
        (
            "token-bound-cidrs",
            "token_bound_cidrs",
            serde_json::json!(["127.0.0.1/32"]),
            serde_json::json!(["127.0.0.1/32"]),
        ),
        (
            "secret-id-bound-cidrs",
            "secret_id_bound_cidrs",
            serde_json::json!(["127.0.0.0/8"]),
            serde_json::json!(["127.0.0.0/8"]),
        ),
        (
            "bind-secret-id",
            "bind_secret_id",
            serde_json::json!(false),
            serde_json::json!(false),
        ),
    ] {
        let path = format!("{base}/{segment}");
        let (code, body) = server
            .root("POST", &path, Some(serde_json::json!({ field: value })))
            .await;
        assert_eq!(code, 204, "{segment}: {body}");
        let (code, body) = server.root("GET", &path, None).await;
        assert_eq!(code, 200, "{segment}: {body}");
        assert_eq!(body["data"][field], read_back, "{segment}: {body}");
        let (_, whole) = server.root("GET", base, None).await;
        assert_eq!(
            whole["data"][field], read_back,
            "{segment}: the role says so too"
        );
    }
    // Reset to the default; bind_secret_id back to true first, so the role
    // keeps a constraint.
    for segment in ["bind-secret-id", "token-ttl", "policies"] {
        let (code, body) = server
            .root("DELETE", &format!("{base}/{segment}"), None)
            .await;
        assert_eq!(code, 204, "{segment}: {body}");
    }
    let (_, whole) = server.root("GET", base, None).await;
    assert_eq!(whole["data"]["token_ttl"], 0);
    assert_eq!(whole["data"]["bind_secret_id"], true);
    assert_eq!(whole["data"]["token_policies"], serde_json::json!([]));
    for (segment, body) in [
        ("token-ttl", serde_json::json!({"token_ttl": "-5s"})),
        ("token-ttl", serde_json::json!({"token_ttl": "soon"})),
        ("token-ttl", serde_json::json!({})),
        ("policies", serde_json::json!({"token_policies": ["root"]})),
        (
            "token-bound-cidrs",
            serde_json::json!({"token_bound_cidrs": ["999.0.0.0/8"]}),
        ),
        (
            "secret-id-num-uses",
            serde_json::json!({"secret_id_num_uses": -1}),
        ),
        (
            "local-secret-ids",
            serde_json::json!({"local_secret_ids": true}),
        ),
    ] {
        let (code, answer) = server
            .root("POST", &format!("{base}/{segment}"), Some(body.clone()))
            .await;
        assert!(
            matches!(code, 400 | 405),
            "{segment} {body}: {code} {answer}"
        );
    }
    super::acl_bypass::policy(
        &server,
        "approle-read-only",
        r#"path "auth/approle/role/*" { capabilities = ["read"] }"#,
    )
    .await;
    let reader = super::acl_bypass::token(
        &server,
        serde_json::json!({"policies": ["approle-read-only"]}),
    )
    .await;
    for path in [
        "auth/approle/role/fields/token-ttl",
        "auth/approle/role/fields/token-ttl/",
        "auth/approle//role/fields/token-ttl",
        "auth/approle/role/FIELDS/token-ttl",
        "auth/approle/role/fields/token%2Dttl",
    ] {
        let (code, body) = super::acl_bypass::raw(
            &server,
            "POST",
            path,
            &reader,
            Some(&serde_json::json!({"token_ttl": "99h"})),
        )
        .await;
        assert!(matches!(code, 400 | 403), "{path}: {code} {body}");
    }
    let (_, whole) = server.root("GET", base, None).await;
    assert_eq!(whole["data"]["token_ttl"], 0, "nothing was changed");
}
