//! The SDK's conformance suite against the database engine with the MySQL
//! driver and a real MariaDB (or MySQL): `$QM_TEST_MYSQL_URL`, else
//! `mysql://root@127.0.0.1:3306/` (scripts/test.sh provides one). Run with
//! Vault's default revocation, with a role's own revocation and rollback
//! statements, and under the legacy name (16-character usernames).

use mysql_async::prelude::Queryable;
use qm_plugin_database::DatabaseEngine;
use qm_plugin_mysql::{MysqlDriver, PLUGIN_NAME};
use qm_plugin_sdk::testkit::{conformance, Fixture, TestRequest};
use qm_plugin_sdk::{PluginError, PluginStorage, SecretsEngine};
use serde_json::{json, Map, Value};
use std::sync::Arc;

fn mysql_url() -> String {
    std::env::var("QM_TEST_MYSQL_URL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/".into())
}

/// The database engine with this driver alone.
fn engine() -> DatabaseEngine {
    DatabaseEngine::new(vec![Arc::new(MysqlDriver)])
}

struct Mysql {
    admin: mysql_async::Pool,
    plugin_name: &'static str,
    /// The role's own revocation and rollback statements, if any.
    custom_statements: bool,
}

impl Mysql {
    fn new(plugin_name: &'static str, custom_statements: bool) -> Self {
        let opts = mysql_async::Opts::from_url(&mysql_url()).expect("QM_TEST_MYSQL_URL");
        let opts = mysql_async::OptsBuilder::from_opts(opts).prefer_socket(false);
        Self {
            admin: mysql_async::Pool::new(opts),
            plugin_name,
            custom_statements,
        }
    }

    fn max_len(&self) -> usize {
        if self.plugin_name == PLUGIN_NAME {
            32
        } else {
            16
        }
    }
}

fn username(credential: &Map<String, Value>) -> Result<String, String> {
    credential
        .get("username")
        .and_then(Value::as_str)
        .map(String::from)
        .ok_or_else(|| "the credential has no username".to_string())
}

#[async_trait::async_trait]
impl Fixture for Mysql {
    async fn setup(
        &self,
        engine: &dyn SecretsEngine,
        storage: &dyn PluginStorage,
    ) -> Result<String, PluginError> {
        TestRequest::write("config/conformance")
            .data(json!({
                "plugin_name": self.plugin_name,
                "connection_url": mysql_url(),
                "allowed_roles": ["app"],
            }))
            .send(engine, storage)
            .await?;
        let mut role = Map::new();
        role.insert("db_name".into(), json!("conformance"));
        role.insert(
            "creation_statements".into(),
            json!("CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT USAGE ON *.* TO '{{name}}'@'%'"),
        );
        role.insert("default_ttl".into(), json!("1h"));
        if self.custom_statements {
            let drop = json!(["DROP USER IF EXISTS '{{name}}'@'%'"]);
            role.insert("revocation_statements".into(), drop.clone());
            role.insert("rollback_statements".into(), drop);
        }
        TestRequest::write("roles/app")
            .data(Value::Object(role))
            .send(engine, storage)
            .await?;
        Ok("creds/app".into())
    }

    async fn exists(&self, credential: &Map<String, Value>) -> Result<Option<bool>, String> {
        let name = username(credential)?;
        if name.len() > self.max_len() {
            return Err(format!("{name} is longer than {}", self.max_len()));
        }
        let mut conn = self.admin.get_conn().await.map_err(|e| e.to_string())?;
        let count: Option<u64> = conn
            .exec_first("SELECT COUNT(*) FROM mysql.user WHERE User = ?", (name,))
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(count.unwrap_or(0) > 0))
    }

    async fn forget(&self, credential: &Map<String, Value>) -> Result<(), String> {
        let name = username(credential)?.replace('\'', "''");
        let mut conn = self.admin.get_conn().await.map_err(|e| e.to_string())?;
        conn.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
            .await
            .map_err(|e| e.to_string())
    }
}

async fn run(fixture: Mysql) {
    let report = conformance(engine, &fixture).await;
    println!("{report}");
    report.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_the_default_revocation() {
    run(Mysql::new(PLUGIN_NAME, false)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_a_roles_own_statements() {
    run(Mysql::new(PLUGIN_NAME, true)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_under_the_legacy_name_with_short_usernames() {
    run(Mysql::new("mysql-legacy-database-plugin", false)).await;
}
