//! The MySQL/MariaDB driver of the database engine, under Vault's names:
//! `mysql-database-plugin` (usernames up to 32 characters, MySQL 5.7+ and
//! MariaDB) and `mysql-legacy-database-plugin`,
//! `mysql-aurora-database-plugin`, `mysql-rds-database-plugin` (16, as
//! MySQL before 5.7). One bounded `mysql_async` pool per config, without
//! TLS, keeping at most `max_idle_connections` idle and closing
//! connections older than `max_connection_lifetime`. Defaults as Vault's: revocation `REVOKE ALL PRIVILEGES, GRANT
//! OPTION` and `DROP USER '{{name}}'@'%'`, password changes `ALTER USER ...
//! IDENTIFIED BY`, and no expiry (MySQL users have none).

mod connection;
mod dsn;

use qm_plugin_database::{Connection, ConnectionConfig, Driver, DriverError};
use std::sync::Arc;

/// The plugin name for MySQL 5.7+ and MariaDB.
pub const PLUGIN_NAME: &str = "mysql-database-plugin";

/// Every name this driver serves; all but the first have 16-character usernames.
const PLUGIN_NAMES: [&str; 4] = [
    PLUGIN_NAME,
    "mysql-legacy-database-plugin",
    "mysql-aurora-database-plugin",
    "mysql-rds-database-plugin",
];

/// Vault's `UsernameLen` and `LegacyUsernameLen`.
const USERNAME_LEN: usize = 32;
const LEGACY_USERNAME_LEN: usize = 16;

/// The MySQL/MariaDB driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct MysqlDriver;

impl Driver for MysqlDriver {
    fn plugin_names(&self) -> &'static [&'static str] {
        &PLUGIN_NAMES
    }

    fn max_username_len(&self, plugin_name: &str) -> usize {
        if plugin_name == PLUGIN_NAME {
            USERNAME_LEN
        } else {
            LEGACY_USERNAME_LEN
        }
    }

    fn open(&self, config: &ConnectionConfig<'_>) -> Result<Arc<dyn Connection>, DriverError> {
        let target = dsn::parse(config).map_err(DriverError::Statement)?;
        let connection = connection::MysqlConnection::new(target, config)?;
        Ok(Arc::new(connection))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vaults_names_and_username_limits() {
        let driver = MysqlDriver;
        assert_eq!(driver.max_username_len("mysql-database-plugin"), 32);
        for legacy in &PLUGIN_NAMES[1..] {
            assert!(driver.plugin_names().contains(legacy));
            assert_eq!(driver.max_username_len(legacy), 16);
        }
    }
}
