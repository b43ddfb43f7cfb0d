//! One config's MySQL/MariaDB connection: a bounded `mysql_async` pool,
//! and the driver calls run through it. As Vault's plugin does, each
//! statement field is split on `;` and the parts run in one transaction
//! (MySQL commits DDL such as `CREATE USER` implicitly, so "one
//! transaction" is as atomic as the server makes it). The config's password
//! is kept only to take it out of error messages.

use crate::dsn::Target;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder, Pool, PoolConstraints, PoolOpts, TxOpts};
use qm_plugin_database::statements::{expiration, render, sanitize, Vars};
use qm_plugin_database::{Connection, ConnectionConfig, DriverError, NewUser};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Names per `IN (...)` query (the protocol allows 65,535 parameters).
const PARAMS_PER_QUERY: usize = 1000;

/// Vault's default revocation.
const DEFAULT_REVOCATION: &str =
    "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{{name}}'@'%'; DROP USER '{{name}}'@'%'";
/// Vault's default password change (static roles, `rotate-root`).
const DEFAULT_ROTATION: &str = "ALTER USER '{{username}}'@'%' IDENTIFIED BY '{{password}}'";

/// A config's pool. No `Debug`: it holds the config's password.
pub(crate) struct MysqlConnection {
    pool: Pool,
    password: String,
}

impl MysqlConnection {
    /// A pool for `target` with the config's bounds. With mysql_async's
    /// default (no idle timeout) the pool's lower bound is how many idle
    /// connections it keeps; the lifetime is its absolute connection TTL.
    pub(crate) fn new(target: Target, config: &ConnectionConfig<'_>) -> Result<Self, DriverError> {
        let max = usize::try_from(config.max_open_connections.max(1)).unwrap_or(4);
        let idle = usize::try_from(config.max_idle_connections)
            .unwrap_or(max)
            .min(max);
        let constraints = PoolConstraints::new(idle, max).ok_or_else(|| {
            DriverError::Statement("max_open_connections: not a valid pool size".into())
        })?;
        let pool_opts = PoolOpts::default()
            .with_constraints(constraints)
            .with_abs_conn_ttl(config.max_connection_lifetime);
        let opts = OptsBuilder::default()
            .ip_or_hostname(target.host)
            .tcp_port(target.port)
            .user((!target.user.is_empty()).then_some(target.user))
            .pass((!target.password.is_empty()).then(|| target.password.clone()))
            .db_name(target.db)
            // Stay on the address given: a switch to the server's socket
            // would change who the server thinks we are.
            .prefer_socket(false)
            .pool_opts(pool_opts);
        Ok(Self {
            pool: Pool::new(opts),
            password: target.password,
        })
    }

    fn describe(&self, error: &mysql_async::Error, extra: &[&str]) -> DriverError {
        let mut secrets = vec![self.password.as_str()];
        secrets.extend_from_slice(extra);
        match error {
            mysql_async::Error::Server(e) => DriverError::Statement(sanitize(
                &format!("ERROR {} ({}): {}", e.code, e.state, e.message),
                &secrets,
            )),
            other => DriverError::Connection(sanitize(&other.to_string(), &secrets)),
        }
    }

    async fn conn(&self) -> Result<Conn, DriverError> {
        match tokio::time::timeout(CONNECT_TIMEOUT, self.pool.get_conn()).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(self.describe(&e, &[])),
            Err(_) => Err(DriverError::Connection(format!(
                "no connection within {}s",
                CONNECT_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Splits each template on `;`, renders the parts and runs them in one
    /// transaction. `secrets` are taken out of any error.
    async fn run(
        &self,
        templates: &[String],
        vars: &Vars<'_>,
        secrets: &[&str],
    ) -> Result<(), DriverError> {
        let mut conn = self.conn().await?;
        let mut tx = conn
            .start_transaction(TxOpts::default())
            .await
            .map_err(|e| self.describe(&e, secrets))?;
        let parts = templates
            .iter()
            .flat_map(|t| t.split(';'))
            .map(str::trim)
            .filter(|s| !s.is_empty());
        for part in parts {
            tx.query_drop(render(part, vars))
                .await
                .map_err(|e| self.describe(&e, secrets))?;
        }
        tx.commit().await.map_err(|e| self.describe(&e, secrets))
    }

    async fn user_exists(&self, username: &str) -> Result<bool, DriverError> {
        Ok(!self
            .existing_users(&[username.to_string()])
            .await?
            .is_empty())
    }
}

#[async_trait::async_trait]
impl Connection for MysqlConnection {
    async fn verify(&self) -> Result<(), DriverError> {
        let mut conn = self.conn().await?;
        conn.query_drop("SELECT 1")
            .await
            .map_err(|e| self.describe(&e, &[]))
    }

    async fn new_user(&self, user: &NewUser<'_>) -> Result<(), DriverError> {
        let expires = expiration(user.expire_at);
        let vars = Vars {
            name: user.username,
            password: user.password,
            expiration: &expires,
        };
        self.run(user.statements, &vars, &[user.password]).await
    }

    /// MySQL users have no expiry: Vault's default does nothing; a role's
    /// own renew statements run.
    async fn update_expiration(
        &self,
        username: &str,
        statements: &[String],
        expire_at: i64,
    ) -> Result<(), DriverError> {
        let expires = expiration(expire_at);
        let vars = Vars {
            name: username,
            password: "",
            expiration: &expires,
        };
        self.run(statements, &vars, &[]).await
    }

    async fn update_password(
        &self,
        username: &str,
        password: &str,
        statements: &[String],
    ) -> Result<(), DriverError> {
        let default = [DEFAULT_ROTATION.to_string()];
        let statements = if statements.is_empty() {
            &default[..]
        } else {
            statements
        };
        let vars = Vars {
            name: username,
            password,
            expiration: "",
        };
        self.run(statements, &vars, &[password]).await
    }

    async fn delete_user(&self, username: &str, statements: &[String]) -> Result<(), DriverError> {
        if !self.user_exists(username).await? {
            return Ok(());
        }
        let default = [DEFAULT_REVOCATION.to_string()];
        let statements = if statements.is_empty() {
            &default[..]
        } else {
            statements
        };
        let vars = Vars {
            name: username,
            password: "",
            expiration: "",
        };
        match self.run(statements, &vars, &[]).await {
            // Dropped by someone else meanwhile: nothing left to revoke.
            Err(DriverError::Statement(_)) if !self.user_exists(username).await? => Ok(()),
            other => other,
        }
    }

    async fn existing_users(&self, names: &[String]) -> Result<Vec<String>, DriverError> {
        let mut found = Vec::new();
        if names.is_empty() {
            return Ok(found);
        }
        let mut conn = self.conn().await?;
        for chunk in names.chunks(PARAMS_PER_QUERY) {
            let placeholders = vec!["?"; chunk.len()].join(", ");
            let sql =
                format!("SELECT DISTINCT User FROM mysql.user WHERE User IN ({placeholders})");
            let users: Vec<String> = conn
                .exec(sql, chunk.to_vec())
                .await
                .map_err(|e| self.describe(&e, &[]))?;
            found.extend(users);
        }
        found.sort();
        found.dedup();
        Ok(found)
    }

    async fn close(&self) {
        // Errors here mean the connections are gone already.
        let _ = self.pool.clone().disconnect().await;
    }
}
