//! A bounded deadpool for one config, built from its connection string
//! (with libpq's TLS parameters, through `qm-pg-connect`) and credentials.
//! Errors never contain the password.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use qm_pg_connect::ConnectionUrl;
use qm_plugin_database::statements::sanitize;
use qm_plugin_database::{ConnectionConfig, DriverError};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The config's connection string with `{{username}}` and `{{password}}`
/// filled in.
pub(crate) fn connection_url(config: &ConnectionConfig<'_>) -> ConnectionUrl {
    ConnectionUrl::from_template(
        config.connection_url,
        &[
            ("{{username}}", config.username),
            ("{{password}}", config.password),
        ],
    )
}

/// Builds the pool (connecting lazily) for `url`, from [`connection_url`];
/// `secrets` are scrubbed from its errors.
pub(crate) fn build(
    config: &ConnectionConfig<'_>,
    url: &ConnectionUrl,
    secrets: &[&str],
) -> Result<Pool, DriverError> {
    let invalid = |e: String| {
        DriverError::Statement(sanitize(
            &url.scrub(&format!("connection_url: {e}")),
            secrets,
        ))
    };
    let settings = url.parse().map_err(invalid)?;
    let connector = settings.tls.connector().map_err(invalid)?;
    let mut pg = settings.config;
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
        connector,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(usize::try_from(config.max_open_connections.max(1)).unwrap_or(4))
        .build()
        .map_err(|e| DriverError::Statement(format!("cannot build the connection pool: {e}")))
}
