//! The SDK's conformance suite against the database engine with the
//! PostgreSQL driver and a real PostgreSQL: `$QM_TEST_PG_URL`,
//! else `postgresql://postgres@127.0.0.1:5432/postgres` (scripts/test.sh
//! provides one). Run with the default revocation (end sessions, reassign,
//! drop) and with a role's own revocation and rollback statements; and once
//! more over `sslmode=verify-full` against the TLS-only Postgres that
//! scripts/test.sh starts (`$QM_TEST_PG_TLS_URL`, `$QM_TEST_PG_TLS_CA`).

use qm_pg_connect::ConnectionUrl;
use qm_plugin_database::DatabaseEngine;
use qm_plugin_postgres::{PostgresDriver, PLUGIN_NAME};
use qm_plugin_sdk::testkit::{conformance, Fixture, TestRequest};
use qm_plugin_sdk::{PluginError, PluginStorage, SecretsEngine};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The database engine with this driver alone.
fn engine() -> DatabaseEngine {
    DatabaseEngine::new(vec![Arc::new(PostgresDriver)])
}

fn pg_url() -> String {
    std::env::var("QM_TEST_PG_URL")
        .unwrap_or_else(|_| "postgresql://postgres@127.0.0.1:5432/postgres".into())
}

struct Postgres {
    admin: tokio_postgres::Client,
    /// The config's `connection_url`; the admin connects with it too.
    url: String,
    /// The role's own revocation and rollback statements, if any.
    custom_statements: bool,
}

impl Postgres {
    async fn connect(url: String, custom_statements: bool) -> Self {
        let settings = ConnectionUrl::from(url.clone())
            .parse()
            .expect("the test URL");
        let connector = settings.tls.connector().expect("its TLS settings");
        let (admin, connection) = settings.config.connect(connector).await.expect(
            "connect to the test Postgres ($QM_TEST_PG_URL or 127.0.0.1:5432; scripts/test.sh)",
        );
        tokio::spawn(connection);
        Self {
            admin,
            url,
            custom_statements,
        }
    }
}

fn username(credential: &Map<String, Value>) -> Result<&str, String> {
    credential
        .get("username")
        .and_then(Value::as_str)
        .ok_or_else(|| "the credential has no username".to_string())
}

#[async_trait::async_trait]
impl Fixture for Postgres {
    async fn setup(
        &self,
        engine: &dyn SecretsEngine,
        storage: &dyn PluginStorage,
    ) -> Result<String, PluginError> {
        TestRequest::write("config/conformance")
            .data(json!({
                "plugin_name": PLUGIN_NAME,
                "connection_url": self.url,
                "allowed_roles": ["app"],
            }))
            .send(engine, storage)
            .await?;
        let mut role = Map::new();
        role.insert("db_name".into(), json!("conformance"));
        role.insert(
            "creation_statements".into(),
            json!(["CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'"]),
        );
        role.insert("default_ttl".into(), json!("1h"));
        if self.custom_statements {
            let drop = json!(["DROP ROLE IF EXISTS \"{{name}}\""]);
            role.insert("revocation_statements".into(), drop.clone());
            role.insert("rollback_statements".into(), drop);
            role.insert(
                "renew_statements".into(),
                json!(["ALTER ROLE \"{{name}}\" VALID UNTIL '{{expiration}}'"]),
            );
        }
        TestRequest::write("roles/app")
            .data(Value::Object(role))
            .send(engine, storage)
            .await?;
        Ok("creds/app".into())
    }

    async fn exists(&self, credential: &Map<String, Value>) -> Result<Option<bool>, String> {
        let row = self
            .admin
            .query_opt(
                "SELECT 1 FROM pg_roles WHERE rolname = $1",
                &[&username(credential)?],
            )
            .await
            .map_err(|e| e.to_string())?;
        Ok(Some(row.is_some()))
    }

    async fn forget(&self, credential: &Map<String, Value>) -> Result<(), String> {
        let name = username(credential)?.replace('"', "\"\"");
        self.admin
            .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
            .await
            .map_err(|e| e.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_the_default_revocation() {
    let fixture = Postgres::connect(pg_url(), false).await;
    let report = conformance(engine, &fixture).await;
    println!("{report}");
    report.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_with_a_roles_own_statements() {
    let fixture = Postgres::connect(pg_url(), true).await;
    let report = conformance(engine, &fixture).await;
    println!("{report}");
    report.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conforms_over_tls_with_verify_full() {
    let (Ok(url), Ok(ca)) = (
        std::env::var("QM_TEST_PG_TLS_URL"),
        std::env::var("QM_TEST_PG_TLS_CA"),
    ) else {
        eprintln!(
            "\n*** SKIPPED: QM_TEST_PG_TLS_URL is not set; run scripts/test.sh, \
             which starts a TLS-only PostgreSQL. ***\n"
        );
        return;
    };
    let url = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    let fixture = Postgres::connect(url, false).await;
    let report = conformance(engine, &fixture).await;
    println!("{report}");
    report.assert_passed();
}
