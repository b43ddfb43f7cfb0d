//! What Vault users set on `database/config/NAME` beyond the connection:
//! `username_template` (names of Vault's shape that log in to Postgres and
//! MariaDB), `password_policy` (its rules visible in dynamic credentials,
//! static-role rotations and `rotate-root`; a policy deleted later is a
//! clear 400), and the pool settings, read back as Vault shows them.
//! Hostile values in every new field are 4xx and the server keeps
//! answering.

use super::acl_bypass::raw;
use super::common::{connect_as, mount_database, pg, pg_url, unique, TestServer};
use super::mysql::{mysql_opts, pool_as, user_count};
use super::password_policies::{write_policy, DIGITS_12};
use mysql_async::prelude::Queryable;
use serde_json::{json, Value};

const TEMPLATE: &str = "qm-{{ .RoleName | truncate 6 }}-{{ random 12 }}-{{ unix_time }}";

fn only_digits(password: &str) -> bool {
    password.len() == 12 && password.chars().all(|c| c.is_ascii_digit())
}

async fn write(server: &TestServer, path: &str, body: Value) {
    let (status, answer) = server.root("POST", path, Some(body)).await;
    assert_eq!(status, 204, "{path}: {answer}");
}

async fn pg_role(server: &TestServer, role: &str) {
    write(
        server,
        &format!("database/roles/{role}"),
        json!({
            "db_name": "pg",
            "creation_statements": "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
            "default_ttl": "1h",
        }),
    )
    .await;
}

async fn creds(server: &TestServer, role: &str) -> (String, String) {
    let (status, body) = server
        .root("GET", &format!("database/creds/{role}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    (
        body["data"]["username"].as_str().expect("username").into(),
        body["data"]["password"].as_str().expect("password").into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templated_usernames_log_in_and_pool_settings_read_back() {
    let server = TestServer::dev();
    mount_database(&server).await;
    let root = server.root_token.clone();
    // Through the bao CLI, as an operator would write it.
    let url = format!("connection_url={}", pg_url());
    let template = format!("username_template={TEMPLATE}");
    super::common::ok_stdout(&server.bao(
        &root,
        &[
            "write",
            "database/config/pg",
            "plugin_name=postgresql-database-plugin",
            &url,
            "allowed_roles=*",
            &template,
            "max_open_connections=3",
            "max_idle_connections=2",
            "max_connection_lifetime=90s",
        ],
    ));
    let (status, body) = server.root("GET", "database/config/pg", None).await;
    assert_eq!(status, 200, "{body}");
    let details = &body["data"]["connection_details"];
    assert_eq!(details["max_open_connections"], 3, "{body}");
    assert_eq!(details["max_idle_connections"], 2, "{body}");
    assert_eq!(details["max_connection_lifetime"], "1m30s", "{body}");
    assert_eq!(details["username_template"], TEMPLATE, "{body}");
    assert_eq!(body["data"]["password_policy"], "", "{body}");
    let role = format!("reader{}", unique());
    pg_role(&server, &role).await;
    let before = chrono_now();
    let mut names = Vec::new();
    for _ in 0..3 {
        let (username, password) = creds(&server, &role).await;
        let parts: Vec<&str> = username.split('-').collect();
        assert_eq!(parts.len(), 4, "{username}");
        assert_eq!(parts[0], "qm");
        assert_eq!(parts[1], &role[..6], "{username}");
        assert_eq!(parts[2].len(), 12, "{username}");
        assert!(
            parts[2].chars().all(|c| c.is_ascii_alphanumeric()),
            "{username}"
        );
        let when: i64 = parts[3].parse().expect("unix time");
        assert!(when >= before && when <= chrono_now(), "{username}");
        let client = connect_as(&username, &password).await.expect("log in");
        let row = client
            .query_one("SELECT current_user::text", &[])
            .await
            .expect("query");
        assert_eq!(row.get::<_, String>(0), username);
        names.push(username);
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 3, "every name is new");
    // The settings are kept when other fields change, and a write that
    // names them brings no unrecognized-parameters warning.
    let (status, body) = server
        .root(
            "POST",
            "database/config/pg",
            Some(json!({ "max_connection_lifetime": "2h" })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = server.root("GET", "database/config/pg", None).await;
    let details = &body["data"]["connection_details"];
    assert_eq!(details["max_connection_lifetime"], "2h0m0s", "{body}");
    assert_eq!(details["max_open_connections"], 3, "{body}");
    assert_eq!(details["username_template"], TEMPLATE, "{body}");
    // An empty template brings the default names back.
    write(
        &server,
        "database/config/pg",
        json!({ "username_template": "" }),
    )
    .await;
    let (username, _) = creds(&server, &role).await;
    assert!(username.starts_with("v-root-"), "{username}");
    for name in names.iter().chain([&username]) {
        let _ = pg()
            .await
            .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
            .await;
    }
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_policy_shapes_every_password_the_engine_sets() {
    let server = TestServer::dev();
    let suffix = unique();
    let admin = format!("qm_admin_{suffix}");
    let static_user = format!("qm_static_{suffix}");
    let seen = format!("qm_seen_{suffix}");
    pg().await
        .batch_execute(&format!(
            "CREATE ROLE {admin} WITH LOGIN SUPERUSER PASSWORD 'start';\
             CREATE ROLE {static_user} WITH LOGIN PASSWORD 'start';\
             CREATE TABLE {seen} (password text)"
        ))
        .await
        .expect("fixture");
    mount_database(&server).await;
    let config = json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": pg_url(),
        "allowed_roles": "*",
        "password_policy": "digits",
    });
    let (status, body) = server
        .root("POST", "database/config/pg", Some(config.clone()))
        .await;
    assert_eq!(status, 400, "a policy that does not exist: {body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("\"digits\" of database config \"pg\" does not exist"),
        "{body}"
    );
    write_policy(&server, "digits", DIGITS_12).await;
    let mut config = config;
    config["username"] = json!(admin);
    // rotate-root's statements also keep the new password where the test can see it.
    config["root_rotation_statements"] = json!([
        "ALTER ROLE \"{{username}}\" WITH PASSWORD '{{password}}'",
        format!("INSERT INTO {seen} VALUES ('{{{{password}}}}')"),
    ]);
    write(&server, "database/config/pg", config).await;
    let (_, body) = server.root("GET", "database/config/pg", None).await;
    assert_eq!(body["data"]["password_policy"], "digits", "{body}");

    let role = format!("app{suffix}");
    pg_role(&server, &role).await;
    let (username, password) = creds(&server, &role).await;
    assert!(only_digits(&password), "dynamic: {password}");
    connect_as(&username, &password).await.expect("log in");

    write(
        &server,
        "database/static-roles/fixed",
        json!({ "db_name": "pg", "username": static_user, "rotation_period": "1h" }),
    )
    .await;
    let (status, body) = server
        .root("GET", "database/static-creds/fixed", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let first = body["data"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    assert!(only_digits(&first), "static: {first}");
    let (status, body) = server
        .root("POST", "database/rotate-role/fixed", None)
        .await;
    assert!(status < 300, "{body}");
    let (_, body) = server
        .root("GET", "database/static-creds/fixed", None)
        .await;
    let second = body["data"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    assert!(only_digits(&second) && second != first, "rotated: {second}");

    let (status, body) = server.root("POST", "database/rotate-root/pg", None).await;
    assert!(status < 300, "{body}");
    let rows = pg()
        .await
        .query(&format!("SELECT password FROM {seen}"), &[])
        .await
        .expect("seen");
    assert_eq!(rows.len(), 1);
    let root_password: String = rows[0].get(0);
    assert!(only_digits(&root_password), "rotate-root: {root_password}");

    // The policy goes: every password the engine would set is a 400 that
    // names it, and nothing else breaks.
    let (status, _) = server
        .root("DELETE", "sys/policies/password/digits", None)
        .await;
    assert_eq!(status, 204);
    for (method, path) in [
        ("GET", format!("database/creds/{role}")),
        ("POST", "database/rotate-role/fixed".to_string()),
        ("POST", "database/rotate-root/pg".to_string()),
    ] {
        let (status, body) = server.root(method, &path, None).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(
            body["errors"][0]
                .as_str()
                .unwrap_or_default()
                .contains("password policy \"digits\""),
            "{path}: {body}"
        );
    }
    let (status, body) = server
        .root("GET", "database/static-creds/fixed", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["password"],
        second.as_str(),
        "the last password stays"
    );
    let (status, _) = server.call("GET", "sys/health", None, None).await;
    assert_eq!(status, 200);
    let _ = pg()
        .await
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS \"{username}\"; DROP TABLE IF EXISTS {seen}; DROP ROLE IF EXISTS {static_user}; DROP ROLE IF EXISTS {admin}"
        ))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_takes_templates_within_its_32_characters_and_pool_settings() {
    let admin = pool_as(None);
    let server = TestServer::dev();
    mount_database(&server).await;
    let opts = mysql_opts();
    let mut config = json!({
        "plugin_name": "mysql-database-plugin",
        "connection_url": format!("{{{{username}}}}:{{{{password}}}}@tcp({}:{})/", opts.ip_or_hostname(), opts.tcp_port()),
        "username": opts.user().unwrap_or("root"),
        "password": opts.pass().unwrap_or(""),
        "allowed_roles": "app",
        "max_open_connections": 2,
        "max_idle_connections": 1,
        "max_connection_lifetime": "1m",
        // Vault's PostgreSQL default is 63 long: too long for MySQL.
        "username_template": r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#,
    });
    let (status, body) = server
        .root("POST", "database/config/maria", Some(config.clone()))
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap_or_default()
            .contains("longer than the database's 32"),
        "{body}"
    );
    let template = r#"{{ printf "v_%s_%s" (.RoleName | truncate 4) (random 20) | truncate 32 }}"#;
    config["username_template"] = json!(template);
    write(&server, "database/config/maria", config).await;
    let (_, body) = server.root("GET", "database/config/maria", None).await;
    let details = &body["data"]["connection_details"];
    assert_eq!(
        (
            details["max_open_connections"].clone(),
            details["max_idle_connections"].clone()
        ),
        (json!(2), json!(1)),
        "{body}"
    );
    assert_eq!(details["max_connection_lifetime"], "1m0s");
    write(
        &server,
        "database/roles/app",
        json!({
            "db_name": "maria",
            "creation_statements": "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'",
        }),
    )
    .await;
    let (status, body) = server.root("GET", "database/creds/app", None).await;
    assert_eq!(status, 200, "{body}");
    let username = body["data"]["username"]
        .as_str()
        .expect("username")
        .to_string();
    let password = body["data"]["password"]
        .as_str()
        .expect("password")
        .to_string();
    assert!(
        username.starts_with("v_app_") && username.len() == 26,
        "{username}"
    );
    let user_pool = pool_as(Some((&username, &password)));
    let mut conn = user_pool.get_conn().await.expect("log in as the new user");
    let me: Option<String> = conn
        .query_first("SELECT CURRENT_USER()")
        .await
        .expect("query");
    assert!(me.unwrap_or_default().starts_with(&format!("{username}@")));
    drop(conn);
    let _ = user_pool.disconnect().await;
    let lease = body["lease_id"].as_str().expect("lease").to_string();
    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/revoke",
            Some(json!({ "lease_id": lease, "sync": true })),
        )
        .await;
    assert!(status < 300, "{body}");
    assert_eq!(user_count(&admin, &username).await, 0);
    let _ = admin.disconnect().await;
}

/// Values no new field may take: each is a 4xx, the stored config is
/// unchanged, and the server answers on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_in_the_new_config_fields_are_4xx() {
    let server = TestServer::dev();
    mount_database(&server).await;
    write_policy(&server, "digits", DIGITS_12).await;
    let good = json!({
        "plugin_name": "postgresql-database-plugin",
        "connection_url": pg_url(),
        "allowed_roles": "*",
        "password_policy": "digits",
        "username_template": TEMPLATE,
        "max_open_connections": 3,
        "max_idle_connections": 2,
        "max_connection_lifetime": "90s",
    });
    write(&server, "database/config/pg", good).await;
    let (_, before) = server.root("GET", "database/config/pg", None).await;
    let deep = "{{ ".to_string() + &"(".repeat(5_000) + "random 10" + &")".repeat(5_000) + " }}";
    let nested = "{{ ".to_string() + &"(".repeat(50) + "random 10" + &")".repeat(50) + " }}";
    let long = "{{ random 10 }}".to_string() + &"x".repeat(1 << 20);
    let counts = [
        json!(-1),
        json!(1001),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e30),
        json!(1.5),
        json!("abc"),
        json!("9".repeat(1 << 20)),
        json!([1]),
        json!({ "a": 1 }),
    ];
    let durations = [
        json!(-1),
        json!("-5s"),
        json!(i64::MAX),
        json!(1e30),
        json!("1e300h"),
        json!("abc"),
        json!("1".repeat(1 << 20)),
        json!([1]),
        json!(true),
    ];
    let templates = [
        json!("{{"),
        json!("{{ random 10"),
        json!("}}{{ random 10"),
        json!("{{ sha256 .RoleName }}{{ random 10 }}"),
        json!("{{ if .RoleName }}{{ random 10 }}{{ end }}"),
        json!("{{ .Nope }}{{ random 10 }}"),
        json!("{{ .RoleName }}"),
        json!("{{ random 100000 }}"),
        json!("{{ printf \"%s\" }}{{ random 10 }}"),
        json!("{{ random 10 }}{{ .RoleName | replace \"\" \"xxxxxxxxxxxx\" | replace \"\" \"xxxxxxxxxxxx\" | replace \"\" \"xxxxxxxxxxxx\" }}"),
        json!("'; DROP TABLE x; --{{ random 10 }}"),
        json!(deep),
        json!(nested),
        json!(long),
        json!(5),
        json!(["{{ random 10 }}"]),
    ];
    let policies = [
        json!("nope"),
        json!("UPPER"),
        json!("a/../b"),
        json!("x".repeat(1 << 20)),
        json!(5),
        json!(["digits"]),
        json!({ "a": 1 }),
    ];
    let mut cases: Vec<(&str, &Value)> = Vec::new();
    cases.extend(counts.iter().map(|v| ("max_open_connections", v)));
    cases.extend(counts.iter().map(|v| ("max_idle_connections", v)));
    cases.extend(durations.iter().map(|v| ("max_connection_lifetime", v)));
    cases.extend(templates.iter().map(|v| ("username_template", v)));
    cases.extend(policies.iter().map(|v| ("password_policy", v)));
    let root = server.root_token.clone();
    for (field, value) in cases {
        let body = json!({ field: value });
        let (status, answer) = raw(&server, "POST", "database/config/pg", &root, Some(&body)).await;
        let shown: String = value.to_string().chars().take(60).collect();
        assert!(
            (400..500).contains(&status),
            "{field}={shown}: {status} {answer}"
        );
        let answer: Value = serde_json::from_str(&answer).unwrap_or(Value::Null);
        assert!(answer["errors"][0].is_string(), "{field}={shown}: {answer}");
        let (status, _) = server.call("GET", "sys/health", None, None).await;
        assert_eq!(status, 200, "after {field}={shown}");
    }
    let (_, after) = server.root("GET", "database/config/pg", None).await;
    assert_eq!(after["data"], before["data"], "nothing was changed");
}
