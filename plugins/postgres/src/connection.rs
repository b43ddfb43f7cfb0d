//! One config's PostgreSQL connection: its pool, and the driver calls run
//! through it. The config's password (and any in its connection string) is
//! kept only to take it out of error messages.

use crate::pool::PgPool;
use crate::sql::{
    connection_error, drop_role, existing_roles, quote_ident, quote_literal, role_exists,
    run_in_transaction, set_password_sql,
};
use qm_plugin_database::statements::{expiration, render_all, Vars};
use qm_plugin_database::{Connection, DriverError, LoginRole, NewUser};

/// A config's pool. No `Debug`: it holds the config's passwords.
pub(crate) struct PgConnection {
    pool: PgPool,
    /// The config's password, as given and as written into its connection
    /// string, to scrub from error messages.
    secrets: Vec<String>,
}

impl PgConnection {
    pub(crate) fn new(pool: PgPool, secrets: Vec<String>) -> Self {
        Self { pool, secrets }
    }

    /// The config's secrets, then `extra` (a password being set), for
    /// scrubbing a message.
    fn secrets<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        extra
            .iter()
            .copied()
            .chain(self.secrets.iter().map(String::as_str))
            .collect()
    }
}

#[async_trait::async_trait]
impl Connection for PgConnection {
    async fn verify(&self) -> Result<(), DriverError> {
        let secrets = self.secrets(&[]);
        let client = self
            .pool
            .get()
            .await
            .map_err(|e| connection_error(&e, &secrets))?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| connection_error(&e, &secrets))?;
        Ok(())
    }

    async fn new_user(&self, user: &NewUser<'_>) -> Result<(), DriverError> {
        let expires = expiration(user.expire_at);
        let vars = Vars {
            name: user.username,
            password: user.password,
            expiration: &expires,
        };
        let sql = render_all(user.statements, &vars);
        run_in_transaction(&self.pool, &sql, &self.secrets(&[user.password])).await
    }

    async fn update_expiration(
        &self,
        username: &str,
        statements: &[String],
        expire_at: i64,
    ) -> Result<(), DriverError> {
        let expires = expiration(expire_at);
        let sql = if statements.is_empty() {
            format!(
                "ALTER ROLE {} VALID UNTIL {};",
                quote_ident(username),
                quote_literal(&expires)
            )
        } else {
            let vars = Vars {
                name: username,
                password: "",
                expiration: &expires,
            };
            render_all(statements, &vars)
        };
        run_in_transaction(&self.pool, &sql, &self.secrets(&[])).await
    }

    async fn update_password(
        &self,
        username: &str,
        password: &str,
        statements: &[String],
    ) -> Result<(), DriverError> {
        let sql = set_password_sql(username, password, statements);
        run_in_transaction(&self.pool, &sql, &self.secrets(&[password])).await
    }

    async fn delete_user(&self, username: &str, statements: &[String]) -> Result<(), DriverError> {
        let secrets = self.secrets(&[]);
        if statements.is_empty() {
            return drop_role(&self.pool, username, &secrets).await;
        }
        if !role_exists(&self.pool, username, &secrets).await? {
            return Ok(());
        }
        let vars = Vars {
            name: username,
            password: "",
            expiration: "",
        };
        run_in_transaction(&self.pool, &render_all(statements, &vars), &secrets).await
    }

    async fn existing_users(&self, names: &[String]) -> Result<Vec<String>, DriverError> {
        existing_roles(&self.pool, names, &self.secrets(&[])).await
    }

    async fn login_roles(&self, retired: &[String]) -> Result<Vec<LoginRole>, DriverError> {
        crate::catalog::login_roles(&self.pool, retired, &self.secrets(&[])).await
    }

    async fn set_login(&self, username: &str, login: bool) -> Result<(), DriverError> {
        crate::catalog::set_login(&self.pool, username, login, &self.secrets(&[])).await
    }

    async fn close(&self) {
        self.pool.close();
    }
}
