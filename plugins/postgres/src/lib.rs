//! The PostgreSQL driver of the database engine (`postgresql-database-plugin`):
//! one bounded deadpool per config, statements run as one transaction each
//! with retries on serialization failures, deadlocks and `tuple concurrently
//! updated`. Defaults as Vault's: renewal `ALTER ROLE ... VALID UNTIL`,
//! password changes `ALTER ROLE ... WITH PASSWORD`, and revocation that
//! ends the user's sessions, reassigns and drops what it owns, and drops
//! the role.

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
        let pool = pool::build(config)?;
        Ok(Arc::new(connection::PgConnection::new(
            pool,
            config.password,
        )))
    }
}
