//! One config's PostgreSQL connection: its pool, and the driver calls run
//! through it. The config's password is kept only to take it out of error
//! messages.

use crate::sql::{
    drop_role, existing_roles, quote_ident, quote_literal, role_exists, run_in_transaction,
    set_password_sql,
};
use deadpool_postgres::Pool;
use qm_plugin_database::statements::{expiration, render_all, Vars};
use qm_plugin_database::{Connection, DriverError, NewUser};

/// A config's pool. No `Debug`: it holds the config's password.
pub(crate) struct PgConnection {
    pool: Pool,
    password: String,
}

impl PgConnection {
    pub(crate) fn new(pool: Pool, password: &str) -> Self {
        Self {
            pool,
            password: password.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl Connection for PgConnection {
    async fn verify(&self) -> Result<(), DriverError> {
        let secrets = [self.password.as_str()];
        let describe = |e: &dyn std::fmt::Display| {
            DriverError::Connection(qm_plugin_database::statements::sanitize(
                &e.to_string(),
                &secrets,
            ))
        };
        let client = self.pool.get().await.map_err(|e| describe(&e))?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|e| describe(&e))?;
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
        run_in_transaction(&self.pool, &sql, &[user.password, &self.password]).await
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
        run_in_transaction(&self.pool, &sql, &[&self.password]).await
    }

    async fn update_password(
        &self,
        username: &str,
        password: &str,
        statements: &[String],
    ) -> Result<(), DriverError> {
        let sql = set_password_sql(username, password, statements);
        run_in_transaction(&self.pool, &sql, &[password, &self.password]).await
    }

    async fn delete_user(&self, username: &str, statements: &[String]) -> Result<(), DriverError> {
        let secrets = [self.password.as_str()];
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
        existing_roles(&self.pool, names, &[&self.password]).await
    }

    async fn close(&self) {
        self.pool.close();
    }
}
