//! The PostgreSQL driver of the database engine (`postgresql-database-plugin`):
//! one bounded deadpool per config (keeping at most `max_idle_connections`
//! idle, none older than `max_connection_lifetime`), statements run as one
//! transaction each with retries on serialization failures, deadlocks and
//! `tuple concurrently updated`. Defaults as Vault's: renewal `ALTER ROLE ... VALID UNTIL`,
//! password changes `ALTER ROLE ... WITH PASSWORD`, and revocation that
//! ends the user's sessions, reassigns and drops what it owns, and drops
//! the role. Connections speak TLS as libpq would: `sslmode`, `sslrootcert`,
//! `sslcert` and `sslkey` in the `connection_url` (`qm-pg-connect`).

/// The catalog queries discovery runs (public for the benchmark that
/// times them straight against Postgres).
pub mod catalog;
mod connection;
mod pool;
mod sql;

use qm_plugin_database::{Connection, ConnectionConfig, Driver, DriverError};
use std::sync::Arc;

/// The plugin name clients give in `database/config/NAME`.
pub const PLUGIN_NAME: &str = "postgresql-database-plugin";

/// PostgreSQL's identifier limit (`NAMEDATALEN - 1`).
const MAX_IDENTIFIER: usize = 63;

/// The PostgreSQL driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct PostgresDriver;

impl Driver for PostgresDriver {
    fn plugin_names(&self) -> &'static [&'static str] {
        &[PLUGIN_NAME]
    }

    fn max_username_len(&self, _plugin_name: &str) -> usize {
        MAX_IDENTIFIER
    }

    fn open(&self, config: &ConnectionConfig<'_>) -> Result<Arc<dyn Connection>, DriverError> {
        let url = pool::connection_url(config);
        let mut secrets = url.passwords();
        secrets.push(config.password.to_string());
        let pool = {
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            pool::build(config, &url, &secrets)?
        };
        Ok(Arc::new(connection::PgConnection::new(pool, secrets)))
    }
}
