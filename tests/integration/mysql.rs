//! Leased MariaDB/MySQL users through the same `database/` engine, against
//! the real test MariaDB (`$QM_TEST_MYSQL_URL`, else
//! `mysql://root@127.0.0.1:3306/`; scripts/test.sh provides one): the config
//! picks the MySQL driver by `plugin_name`, the credentials log in, and the
//! user is gone after revocation.

use super::common::{mount_database, unique, TestServer};
use mysql_async::prelude::Queryable;
use mysql_async::{Opts, OptsBuilder, Pool};
use serde_json::json;

pub(crate) fn mysql_opts() -> Opts {
    let url = std::env::var("QM_TEST_MYSQL_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/".into());
    Opts::from_url(&url).expect("QM_TEST_MYSQL_URL is a mysql:// URL")
}

/// A pool on the test server as `user` (or as the admin in the URL).
pub(crate) fn pool_as(user: Option<(&str, &str)>) -> Pool {
    let mut builder = OptsBuilder::from_opts(mysql_opts()).prefer_socket(false);
    if let Some((name, password)) = user {
        builder = builder.user(Some(name)).pass(Some(password));
    }
    Pool::new(builder)
}

pub(crate) async fn user_count(admin: &Pool, name: &str) -> u64 {
    let mut conn = admin.get_conn().await.expect("admin connection");
    conn.exec_first::<u64, _, _>("SELECT COUNT(*) FROM mysql.user WHERE User = ?", (name,))
        .await
        .expect("count users")
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_credentials_log_in_and_are_dropped_on_revoke() {
    let admin = pool_as(None);
    let db = format!("qm_t_{}", unique());
    admin
        .get_conn()
        .await
        .expect("connect to the test MariaDB ($QM_TEST_MYSQL_URL; scripts/test.sh)")
        .query_drop(format!(
            "CREATE DATABASE {db}; CREATE TABLE {db}.t (id INT); INSERT INTO {db}.t VALUES (42)"
        ))
        .await
        .expect("fixture");

    let server = TestServer::dev();
    mount_database(&server).await;
    // Vault's Go DSN form, the admin's name and password as config fields.
    let opts = mysql_opts();
    let (status, body) = server
        .root(
            "POST",
            "database/config/maria",
            Some(json!({
                "plugin_name": "mysql-database-plugin",
                "connection_url": format!(
                    "{{{{username}}}}:{{{{password}}}}@tcp({}:{})/",
                    opts.ip_or_hostname(),
                    opts.tcp_port()
                ),
                "username": opts.user().unwrap_or("root"),
                "password": opts.pass().unwrap_or(""),
                "allowed_roles": "app",
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = server
        .root(
            "POST",
            "database/roles/app",
            Some(json!({
                "db_name": "maria",
                "creation_statements": format!(
                    "CREATE USER '{{{{name}}}}'@'%' IDENTIFIED BY '{{{{password}}}}';\
                     GRANT SELECT ON {db}.* TO '{{{{name}}}}'@'%'"
                ),
                "default_ttl": "1h",
            })),
        )
        .await;
    assert_eq!(status, 204, "{body}");

    let (status, body) = server.root("GET", "database/creds/app", None).await;
    assert_eq!(status, 200, "{body}");
    let lease_id = body["lease_id"].as_str().expect("lease id").to_string();
    let username = body["data"]["username"].as_str().expect("username");
    let password = body["data"]["password"].as_str().expect("password");
    assert!(
        username.starts_with("v-") && username.len() <= 32,
        "{username}"
    );

    let user_pool = pool_as(Some((username, password)));
    let mut conn = user_pool.get_conn().await.expect("log in as the new user");
    let row: Option<i32> = conn
        .query_first(format!("SELECT id FROM {db}.t"))
        .await
        .expect("read as the new user");
    assert_eq!(row, Some(42));
    drop(conn);
    let _ = user_pool.disconnect().await;

    let (status, body) = server
        .root(
            "PUT",
            "sys/leases/revoke",
            Some(json!({"lease_id": lease_id})),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(user_count(&admin, username).await, 0, "{username} survived");
    let mut conn = admin.get_conn().await.expect("admin connection");
    conn.query_drop(format!("DROP DATABASE {db}"))
        .await
        .expect("cleanup");
}
