//! The identity inventory on a small estate: owners on roles and tokens,
//! what each can reach, its leases, risk reasons, the orphan filter,
//! exports, and offboarding (dry run, then for real: leases and Postgres
//! users gone, tokens refused, roles disabled or re-assigned, on the audit
//! record).

use super::common::{ok_stdout, pg_roles, pg_url, TestServer};
use serde_json::{json, Value};

const CREATE_USER: &str =
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'";

async fn ok(server: &TestServer, method: &str, path: &str, body: Value) -> Value {
    let (status, answer) = server.root(method, path, Some(body)).await;
    assert!(status == 200 || status == 204, "{path}: {status} {answer}");
    answer
}

async fn identities(server: &TestServer, query: &str) -> Vec<Value> {
    let (status, body) = server
        .root("GET", &format!("sys/nhi/identities?{query}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"]["identities"]
        .as_array()
        .cloned()
        .expect("identities")
}

fn find<'a>(list: &'a [Value], id: &str) -> &'a Value {
    list.iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("{id} in {list:#?}"))
}

fn has_reason(identity: &Value, text: &str) -> bool {
    identity["risk_reasons"].as_array().is_some_and(|r| {
        r.iter()
            .any(|r| r.as_str().is_some_and(|r| r.contains(text)))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_risk_and_offboarding() {
    let server = TestServer::dev();
    let log = server.temp_path("audit.log");
    ok(
        &server,
        "PUT",
        "sys/audit/file",
        json!({"type": "file", "options": {"file_path": log}}),
    )
    .await;
    ok(
        &server,
        "POST",
        "sys/mounts/database",
        json!({"type": "database"}),
    )
    .await;
    for name in ["pg", "old"] {
        ok(&server, "POST", &format!("database/config/{name}"),
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg_url(), "allowed_roles": "*"})).await;
    }
    ok(&server, "POST", "database/roles/app", json!({
        "db_name": "pg", "creation_statements": [CREATE_USER, "GRANT pg_read_all_data TO \"{{name}}\""],
        "default_ttl": "1h", "max_ttl": "2h",
        "owner": "alice", "purpose": "billing API reads", "environment": "prod", "labels": {"team": "billing"},
    })).await;
    ok(
        &server,
        "POST",
        "database/roles/legacy",
        json!({"db_name": "old", "creation_statements": CREATE_USER}),
    )
    .await;
    ok(&server, "DELETE", "database/config/old", json!({})).await;
    ok(
        &server,
        "POST",
        "database/roles/reports",
        json!({
            "db_name": "pg", "creation_statements": CREATE_USER, "owner": "dave",
        }),
    )
    .await;
    ok(
        &server,
        "PUT",
        "sys/policies/acl/wild",
        json!({"policy": "path \"*\" { capabilities = [\"read\", \"sudo\"] }"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "auth/approle/role/ci",
        json!({"token_policies": "wild", "owner": "alice"}),
    )
    .await;
    let bob = ok(
        &server,
        "POST",
        "auth/token/create",
        json!({"policies": ["default"], "ttl": "1h", "meta": {"owner": "bob", "purpose": "cron"}}),
    )
    .await;
    let bob_accessor = bob["auth"]["accessor"]
        .as_str()
        .expect("accessor")
        .to_string();
    let mut users = Vec::new();
    for _ in 0..2 {
        let creds = ok(&server, "GET", "database/creds/app", json!(null)).await;
        users.push(
            creds["data"]["username"]
                .as_str()
                .expect("username")
                .to_string(),
        );
    }
    let role_id = ok(&server, "GET", "auth/approle/role/ci/role-id", json!(null)).await;
    let role_id = role_id["data"]["role_id"]
        .as_str()
        .expect("role_id")
        .to_string();
    let secret_id = ok(&server, "POST", "auth/approle/role/ci/secret-id", json!({})).await;
    let secret_id = secret_id["data"]["secret_id"]
        .as_str()
        .expect("secret_id")
        .to_string();
    let login = |server: &TestServer| {
        let body = json!({"role_id": role_id, "secret_id": secret_id});
        let server_addr = server.addr.clone();
        async move {
            let response = reqwest::Client::new()
                .post(format!("{server_addr}/v1/auth/approle/login"))
                .json(&body)
                .send()
                .await
                .expect("login");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, ci_login) = login(&server).await;
    assert_eq!(status, 200, "{ci_login}");
    let ci_token = ci_login["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();

    // The role read shows its ownership; the backend never saw the fields.
    let app = ok(&server, "GET", "database/roles/app", json!(null)).await;
    assert_eq!(app["data"]["owner"], "alice");
    assert_eq!(app["data"]["labels"]["team"], "billing");

    let all = identities(&server, "limit=1000").await;
    let app = find(&all, "database/roles/app");
    assert_eq!(app["identity_type"], "db_role");
    assert_eq!(
        (
            app["owner"].as_str(),
            app["purpose"].as_str(),
            app["environment"].as_str()
        ),
        (Some("alice"), Some("billing API reads"), Some("prod"))
    );
    assert_eq!(app["active_leases"], 2);
    assert!(
        app["permissions"]
            .to_string()
            .contains("GRANT pg_read_all_data"),
        "{app}"
    );
    assert!(
        app["creation_date"].is_string() && app["last_accessed"].is_string(),
        "{app}"
    );
    assert!(!has_reason(app, "no owner"), "{app}");
    let legacy = find(&all, "database/roles/legacy");
    assert!(
        has_reason(legacy, "no owner") && legacy["orphaned"] == true,
        "{legacy}"
    );
    let ci = find(&all, "auth/approle/role/ci");
    assert_eq!(ci["identity_type"], "approle");
    assert!(has_reason(ci, "policy \"wild\" grants \"*\""), "{ci}");
    assert!(has_reason(ci, "any network"), "{ci}");
    let bob_id = format!("auth/token/accessors/{bob_accessor}");
    let bob_token = find(&all, &bob_id);
    assert_eq!(
        (
            bob_token["identity_type"].as_str(),
            bob_token["owner"].as_str()
        ),
        (Some("token"), Some("bob"))
    );
    let root = all
        .iter()
        .find(|i| i["name"] == "root")
        .expect("the root token");
    assert!(
        has_reason(root, "never expires") && has_reason(root, "root policy"),
        "{root}"
    );
    assert!(root["risk_score"].as_u64().unwrap_or(0) >= 70);

    // Leases are listed when asked for, owned by their role's owner.
    let leases = identities(&server, "kind=lease").await;
    assert_eq!(leases.len(), 2, "{leases:#?}");
    assert!(
        leases.iter().all(|l| l["owner"] == "alice"
            && l["permissions"] == json!(["a credential of database/roles/app"])
            && l["expiration"].is_string()),
        "{leases:#?}"
    );

    // Filters and exports.
    let approles = identities(&server, "kind=approle").await;
    assert_eq!(approles.len(), 1);
    assert_eq!(identities(&server, "owner=alice").await.len(), 2);
    let orphans = identities(&server, "orphaned=true").await;
    assert_eq!(
        orphans.iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        vec![json!("database/roles/legacy")]
    );
    let risky = identities(&server, "risk_above=60&sort=risk").await;
    assert_eq!(risky[0]["name"], "root");
    let csv = ok_stdout(&server.qm(&server.root_token, &["nhi", "list", "--export", "csv"]));
    assert!(csv.starts_with("id,identity_type,name,owner"), "{csv}");
    assert!(
        csv.contains("database/roles/app,db_role,app,alice"),
        "{csv}"
    );
    let table = ok_stdout(&server.qm(&server.root_token, &["nhi", "list", "--sort", "risk"]));
    assert!(
        table.starts_with("ID") && table.contains("auth/approle/role/ci"),
        "{table}"
    );

    // Revocation by label takes the leases of billing's roles, roles stay.
    let extra = ok(&server, "GET", "database/creds/app", json!(null)).await;
    let extra_user = extra["data"]["username"]
        .as_str()
        .expect("username")
        .to_string();
    let (status, _) = server.root("POST", "sys/nhi/revoke", Some(json!({}))).await;
    assert_eq!(status, 400, "a selector is required");
    let by_label = ok(
        &server,
        "POST",
        "sys/nhi/revoke",
        json!({"labels": {"team": "billing"}}),
    )
    .await;
    assert_eq!(
        by_label["data"]["matched"],
        json!(["database/roles/app"]),
        "{by_label}"
    );
    assert_eq!(by_label["data"]["revoked_leases"], 3, "{by_label}");
    assert!(pg_roles(&extra_user).await.is_empty());
    let again = ok(&server, "GET", "database/creds/app", json!(null)).await;
    users = vec![again["data"]["username"]
        .as_str()
        .expect("username")
        .to_string()];

    // Offboarding alice: the dry run changes nothing.
    let dry = ok(
        &server,
        "POST",
        "sys/nhi/owners/alice/offboard",
        json!({"dry_run": true}),
    )
    .await;
    assert_eq!(dry["data"]["identities"].as_array().map(Vec::len), Some(2));
    assert_eq!(pg_roles(&users[0]).await.len(), 1);
    let done = ok(&server, "POST", "sys/nhi/owners/alice/offboard", json!({})).await;
    assert_eq!(done["data"]["revoked_leases"], 1, "{done}");
    for user in &users {
        assert!(pg_roles(user).await.is_empty(), "{user} dropped");
    }
    let (status, body) = server.root("GET", "database/creds/app", None).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["errors"][0]
        .as_str()
        .is_some_and(|e| e.contains("disabled")));
    assert_eq!(
        login(&server).await.0,
        403,
        "logins through her AppRole are refused"
    );
    let (status, _) = server
        .call("GET", "auth/token/lookup-self", Some(&ci_token), None)
        .await;
    assert_eq!(
        status, 403,
        "tokens that came through her AppRole are revoked"
    );
    let app = find(
        &identities(&server, "owner=alice").await,
        "database/roles/app",
    )
    .clone();
    assert!(
        has_reason(&app, "offboarded") && app["orphaned"] == true,
        "{app}"
    );

    // Bob's token goes; dave's role is handed to erin and keeps working.
    ok(&server, "POST", "sys/nhi/owners/bob/offboard", json!({})).await;
    let (status, _) = server
        .root(
            "POST",
            "auth/token/lookup-accessor",
            Some(json!({"accessor": bob_accessor})),
        )
        .await;
    assert_eq!(status, 400, "bob's token is revoked");
    let handed = ok(
        &server,
        "POST",
        "sys/nhi/owners/dave/offboard",
        json!({"reassign_to": "erin"}),
    )
    .await;
    assert_eq!(
        handed["data"]["reassigned_roles"],
        json!(["database/roles/reports"])
    );
    let reports = ok(&server, "GET", "database/roles/reports", json!(null)).await;
    assert_eq!(reports["data"]["owner"], "erin");
    let creds = ok(&server, "GET", "database/creds/reports", json!(null)).await;
    assert!(creds["data"]["username"].is_string());

    let audit = std::fs::read_to_string(&log).expect("audit log");
    assert!(
        audit.contains("\"path\":\"sys/nhi/owners/alice/offboard\""),
        "offboarding is on the audit record"
    );
}

/// Serves on loopback and collects each request body (the drift webhook).
fn webhook() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buffer = vec![0u8; 16384];
            let n = stream.read(&mut buffer).unwrap_or(0);
            if let Ok(mut seen) = sink.lock() {
                seen.push(String::from_utf8_lossy(&buffer[..n]).to_string());
            }
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    (url, seen)
}

async fn get_from(server: &TestServer, token: &str, path: &str, from: &str) -> u16 {
    let client = reqwest::Client::builder()
        .local_address(from.parse::<std::net::IpAddr>().expect("ip"))
        .build()
        .expect("client");
    client
        .get(format!("{}/v1/{path}", server.addr))
        .header("X-Vault-Token", token)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// The "new path" alert names the baseline it broke; a token that may only
/// read the alerts cannot acknowledge it, however the path is spelled; root
/// can, once, and the filter sees it.
async fn acknowledge_an_alert(server: &TestServer, found: &[Value]) {
    let alert = found
        .iter()
        .find(|a| a["reason"] == "new path")
        .expect("a new path alert");
    assert_eq!(alert["acknowledged"], false, "{alert}");
    assert_eq!(
        alert["baseline"]["paths"],
        json!(["secret/data/app"]),
        "{alert}"
    );
    assert!(
        alert["baseline"]["learned_requests"].as_u64() > Some(0),
        "{alert}"
    );
    let id = alert["id"].as_str().expect("an id").to_string();
    let reader = server
        .token_with_policy(
            "alerts-reader",
            r#"path "sys/nhi/alerts" { capabilities = ["read", "list"] }"#,
        )
        .await;
    let upper = id.to_uppercase();
    let encoded = format!("sys/nhi/alerts/{}/%61ck", id.replace('-', "%2D"));
    for spelled in [
        format!("sys/nhi/alerts/{id}/ack"),
        format!("sys/nhi/alerts/{id}/ack/"),
        format!("sys/nhi/alerts//{id}/ack"),
        format!("sys/nhi//alerts/{id}/ack"),
        format!("sys/nhi/alerts/{upper}/ack"),
        format!("sys/NHI/alerts/{id}/ack"),
        encoded,
    ] {
        for method in ["POST", "PUT"] {
            let (status, body) =
                super::acl_bypass::raw(server, method, &spelled, &reader, Some(&json!({}))).await;
            assert!(
                matches!(status, 403 | 404 | 400 | 405),
                "{method} {spelled} by a reader: {status} {body}"
            );
        }
    }
    let (_, listed) = server
        .root("GET", "sys/nhi/alerts?acknowledged=true", None)
        .await;
    assert_eq!(
        listed["data"]["alerts"],
        json!([]),
        "a reader acknowledged: {listed}"
    );

    // Root acknowledges, concurrently: one name and one time for all.
    let ack = format!("sys/nhi/alerts/{id}/ack");
    let acks = (0..8).map(|_| server.root("POST", &ack, None));
    let answers = futures::future::join_all(acks).await;
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["data"]["acknowledged"], true, "{body}");
        assert_eq!(body["data"]["acknowledged_by"], "root", "{body}");
        assert_eq!(
            body["data"]["acknowledged_at"], answers[0].1["data"]["acknowledged_at"],
            "{body}"
        );
    }
    let (_, done) = server
        .root("GET", "sys/nhi/alerts?acknowledged=true", None)
        .await;
    let ids: Vec<&Value> = done["data"]["alerts"]
        .as_array()
        .map(|a| a.iter().map(|a| &a["id"]).collect())
        .unwrap_or_default();
    assert_eq!(ids, vec![&json!(id)], "{done}");
    let (_, pending) = server
        .root("GET", "sys/nhi/alerts?acknowledged=false", None)
        .await;
    assert!(
        pending["data"]["alerts"]
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(|a| a["id"] != json!(id))),
        "{pending}"
    );
    for (path, want) in [
        ("sys/nhi/alerts/not-a-uuid/ack".to_string(), 400),
        (format!("sys/nhi/alerts/{}/ack", uuid::Uuid::new_v4()), 404),
        ("sys/nhi/alerts/%3Cscript%3E/ack".to_string(), 400),
    ] {
        let (status, body) = server.root("POST", &path, None).await;
        assert_eq!(status, want, "{path}: {body}");
        assert!(body["errors"].is_array(), "{path}: {body}");
    }
    let (status, body) = server
        .root("GET", "sys/nhi/alerts?acknowledged=maybe", None)
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_alerts_for_a_new_path_a_new_network_and_a_burst() {
    let server = TestServer::dev();
    let (hook, delivered) = webhook();
    ok(
        &server,
        "PUT",
        "sys/policies/acl/reader",
        json!({"policy": "path \"secret/data/*\" { capabilities = [\"read\", \"update\"] }"}),
    )
    .await;
    for path in ["secret/data/app/db", "secret/data/billing/key"] {
        ok(&server, "POST", path, json!({"data": {"v": "x"}})).await;
    }
    ok(
        &server,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "auth/approle/role/ci",
        json!({"token_policies": "reader", "owner": "alice"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "sys/nhi/drift/config",
        json!({"learning_requests": "20", "burst_factor": "5", "webhook_url": hook}),
    )
    .await;
    let role_id = ok(&server, "GET", "auth/approle/role/ci/role-id", json!(null)).await;
    let secret_id = ok(&server, "POST", "auth/approle/role/ci/secret-id", json!({})).await;
    let (_, login) = server
        .call(
            "POST",
            "auth/approle/login",
            None,
            Some(json!({
                "role_id": role_id["data"]["role_id"], "secret_id": secret_id["data"]["secret_id"],
            })),
        )
        .await;
    let token = login["auth"]["client_token"]
        .as_str()
        .expect("token")
        .to_string();

    // Learning, then normal traffic: no alert.
    for _ in 0..30 {
        assert_eq!(
            get_from(&server, &token, "secret/data/app/db", "127.0.0.1").await,
            200
        );
    }
    let alerts = |body: &Value| {
        body["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let (_, body) = server.root("GET", "sys/nhi/alerts", None).await;
    assert!(alerts(&body).is_empty(), "normal traffic raised {body}");

    // A path never used, then a network never seen.
    assert_eq!(
        get_from(&server, &token, "secret/data/billing/key", "127.0.0.1").await,
        200
    );
    assert_eq!(
        get_from(&server, &token, "secret/data/app/db", "127.0.1.1").await,
        200
    );
    // A burst: far more requests in a minute than the busiest learned one.
    for _ in 0..260 {
        get_from(&server, &token, "secret/data/app/db", "127.0.0.1").await;
    }
    let (_, body) = server.root("GET", "sys/nhi/alerts", None).await;
    let found = alerts(&body);
    let reasons: Vec<&str> = found.iter().filter_map(|a| a["reason"].as_str()).collect();
    assert!(reasons.contains(&"new path"), "{body}");
    assert!(reasons.contains(&"new source network"), "{body}");
    assert!(reasons.contains(&"burst"), "{body}");
    assert!(
        found
            .iter()
            .all(|a| a["identity"] == "auth/approle/role/ci"),
        "{body}"
    );
    acknowledge_an_alert(&server, &found).await;
    let metrics = server
        .text("sys/metrics?format=prometheus", &server.root_token)
        .await
        .1;
    assert!(
        metrics.contains("qm_drift_alerts_total{reason=\"new path\"} 1"),
        "{metrics}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while delivered.lock().map(|d| d.len()).unwrap_or(0) < 2 && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let bodies = delivered.lock().map(|d| d.join("\n")).unwrap_or_default();
    assert!(
        bodies.contains("new path") && bodies.contains("secret/data/billing/key"),
        "{bodies}"
    );

    // With deny on the mount, a departure is refused.
    ok(
        &server,
        "POST",
        "sys/nhi/drift/config",
        json!({"deny_mounts": ["secret"]}),
    )
    .await;
    ok(
        &server,
        "POST",
        "secret/data/payroll/key",
        json!({"data": {"v": "x"}}),
    )
    .await;
    let (status, body) = server
        .call("GET", "secret/data/payroll/key", Some(&token), None)
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("baseline")),
        "{body}"
    );
    assert_eq!(
        get_from(&server, &token, "secret/data/app/db", "127.0.0.1").await,
        200,
        "the usual path still works"
    );

    // Its policy lets it write, yet it has only ever read.
    let ci = find(
        &identities(&server, "kind=approle").await,
        "auth/approle/role/ci",
    )
    .clone();
    assert!(has_reason(&ci, "were all reads"), "{ci}");
}

/// A static user whose rotation keeps failing (the user was dropped behind
/// the broker's back) shows as overdue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_user_not_rotated_in_its_period_is_risky() {
    let server = TestServer::dev();
    let user = format!("qm_static_{}", super::common::unique());
    let pg = super::common::pg().await;
    pg.batch_execute(&format!("CREATE ROLE {user} LOGIN PASSWORD 'initial'"))
        .await
        .expect("create user");
    ok(
        &server,
        "POST",
        "sys/mounts/database",
        json!({"type": "database"}),
    )
    .await;
    ok(&server, "POST", "database/config/pg",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": pg_url(), "allowed_roles": "*"})).await;
    ok(
        &server,
        "POST",
        "database/static-roles/batch",
        json!({"db_name": "pg", "username": user, "rotation_period": "5s", "owner": "ops"}),
    )
    .await;
    pg.batch_execute(&format!("DROP ROLE {user}"))
        .await
        .expect("drop user");
    let id = "database/static-roles/batch";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let all = identities(&server, "kind=static_db_user").await;
        let batch = find(&all, id);
        if has_reason(batch, "not rotated for") {
            assert_eq!(batch["owner"], "ops");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never overdue: {batch}"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_can_be_required_and_risk_weights_configured() {
    let mut server = TestServer::from_config("", "[nhi.risk_weights]\nno_owner = 40\n");
    server.init_and_unseal().await;
    ok(
        &server,
        "POST",
        "sys/auth/strict",
        json!({"type": "approle", "options": {"require_owner": "true"}}),
    )
    .await;
    let (status, body) = server
        .root(
            "POST",
            "auth/strict/role/nameless",
            Some(json!({"token_policies": "default"})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .is_some_and(|e| e.starts_with("owner: required")),
        "{body}"
    );
    ok(
        &server,
        "POST",
        "auth/strict/role/owned",
        json!({"token_policies": "default", "owner": "alice"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "sys/auth/approle",
        json!({"type": "approle"}),
    )
    .await;
    ok(
        &server,
        "POST",
        "auth/approle/role/loose",
        json!({"token_policies": "default"}),
    )
    .await;
    let loose = find(
        &identities(&server, "kind=approle").await,
        "auth/approle/role/loose",
    )
    .clone();
    assert!(has_reason(&loose, "+40: no owner"), "{loose}");
}
