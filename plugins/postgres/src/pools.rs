//! One bounded connection pool per configured database, built from its
//! stored config on first use and replaced when the config changes.

use crate::config::DbConfig;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use qm_plugin_sdk::{PluginError, PluginStorage};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(crate) struct Pools {
    // A std mutex: held for a map lookup or insert, never across an await.
    by_name: Mutex<HashMap<String, Pool>>,
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Builds a pool from a config. Errors never contain the password.
pub(crate) fn build(config: &DbConfig) -> Result<Pool, PluginError> {
    let url = config
        .connection_url
        .replace("{{username}}", &encode(&config.username))
        .replace("{{password}}", &encode(&config.password));
    let secrets = [config.password.as_str(), url.as_str()];
    let mut pg = tokio_postgres::Config::from_str(&url).map_err(|e| {
        PluginError::BadRequest(crate::sql::sanitize(
            &format!("connection_url is not a valid PostgreSQL URL: {e}"),
            &secrets,
        ))
    })?;
    if !config.connection_url.contains("{{username}}") && !config.username.is_empty() {
        pg.user(&config.username);
    }
    if !config.connection_url.contains("{{password}}") && !config.password.is_empty() {
        pg.password(&config.password);
    }
    pg.connect_timeout(CONNECT_TIMEOUT);
    pg.application_name("quartermaster");
    let manager = Manager::from_config(
        pg,
        tokio_postgres::NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(usize::try_from(config.max_open_connections.max(1)).unwrap_or(4))
        .build()
        .map_err(|e| PluginError::BadRequest(format!("cannot build the connection pool: {e}")))
}

impl Pools {
    /// The pool for `name`, built from its stored config if needed.
    pub(crate) async fn get(
        &self,
        storage: &dyn PluginStorage,
        name: &str,
    ) -> Result<Pool, PluginError> {
        if let Some(pool) = self.by_name.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(pool);
        }
        let config = crate::config::load(storage, name).await?;
        let pool = build(&config)?;
        if let Ok(mut map) = self.by_name.lock() {
            map.entry(name.to_string()).or_insert_with(|| pool.clone());
        }
        Ok(pool)
    }

    pub(crate) fn replace(&self, name: &str, pool: Pool) {
        if let Ok(mut map) = self.by_name.lock() {
            if let Some(old) = map.insert(name.to_string(), pool) {
                old.close();
            }
        }
    }

    pub(crate) fn remove(&self, name: &str) {
        if let Ok(mut map) = self.by_name.lock() {
            if let Some(old) = map.remove(name) {
                old.close();
            }
        }
    }
}
