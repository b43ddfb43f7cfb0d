//! A bounded deadpool for one config, built from its URL and credentials.
//! Errors never contain the password.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use qm_plugin_database::statements::sanitize;
use qm_plugin_database::{ConnectionConfig, DriverError};
use std::str::FromStr;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Builds the pool (connecting lazily).
pub(crate) fn build(config: &ConnectionConfig<'_>) -> Result<Pool, DriverError> {
    let url = config
        .connection_url
        .replace("{{username}}", &encode(config.username))
        .replace("{{password}}", &encode(config.password));
    let secrets = [config.password, url.as_str()];
    let mut pg = tokio_postgres::Config::from_str(&url).map_err(|e| {
        DriverError::Statement(sanitize(
            &format!("connection_url is not a valid PostgreSQL URL: {e}"),
            &secrets,
        ))
    })?;
    if !config.connection_url.contains("{{username}}") && !config.username.is_empty() {
        pg.user(config.username);
    }
    if !config.connection_url.contains("{{password}}") && !config.password.is_empty() {
        pg.password(config.password);
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
        .map_err(|e| DriverError::Statement(format!("cannot build the connection pool: {e}")))
}
