//! Running statements: one transaction per call, retries on the errors
//! Postgres raises under concurrency, quoting, and error messages with no
//! secret in them.

use crate::pool::PgPool;
use qm_plugin_database::statements::{render_all, sanitize, Vars};
use qm_plugin_database::DriverError;
use std::time::Duration;
use tokio_postgres::error::SqlState;

const ATTEMPTS: u32 = 6;

/// SQL that gives `username` the password `password`: the given statements
/// (templates) if any, else `ALTER ROLE ... WITH PASSWORD`.
pub(crate) fn set_password_sql(username: &str, password: &str, statements: &[String]) -> String {
    if statements.is_empty() {
        return format!(
            "ALTER ROLE {} WITH PASSWORD {};",
            quote_ident(username),
            quote_literal(password)
        );
    }
    let vars = Vars {
        name: username,
        password,
        expiration: "",
    };
    render_all(statements, &vars)
}

/// `"name"` with inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub(crate) fn describe(error: &tokio_postgres::Error, secrets: &[&str]) -> DriverError {
    match error.as_db_error() {
        Some(db) => DriverError::Statement(sanitize(
            &format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            secrets,
        )),
        None => connection_error(error, secrets),
    }
}

/// Reaching the database failed (TLS, authentication, the network), with
/// the causes that say why and without `secrets`.
pub(crate) fn connection_error(
    error: &(dyn std::error::Error + 'static),
    secrets: &[&str],
) -> DriverError {
    DriverError::Connection(sanitize(&qm_pg_connect::error_chain(error), secrets))
}

fn retryable(error: &tokio_postgres::Error) -> bool {
    match error.as_db_error() {
        Some(db) => {
            *db.code() == SqlState::T_R_SERIALIZATION_FAILURE
                || *db.code() == SqlState::T_R_DEADLOCK_DETECTED
                || (*db.code() == SqlState::INTERNAL_ERROR && db.message().contains("concurrently"))
        }
        None => false,
    }
}

/// Runs `sql` (one or more statements) as one transaction, retrying
/// serialization failures, deadlocks and `tuple concurrently updated` with
/// exponential backoff and jitter.
pub(crate) async fn run_in_transaction(
    pool: &PgPool,
    sql: &str,
    secrets: &[&str],
) -> Result<(), DriverError> {
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let client = pool
            .get()
            .await
            .map_err(|e| connection_error(&e, secrets))?;
        // One round trip: several statements in one simple query run as one
        // implicit transaction, rolled back whole if any fails.
        let result = client.batch_execute(sql).await;
        match result {
            Ok(()) => return Ok(()),
            Err(e) if retryable(&e) && attempt < ATTEMPTS => {
                let base = 10u64 << attempt;
                let jitter = rand::random::<u64>().checked_rem(base).unwrap_or(0);
                tokio::time::sleep(Duration::from_millis(base.saturating_add(jitter))).await;
            }
            Err(e) => return Err(describe(&e, secrets)),
        }
    }
}

/// Whether a role of that name exists.
pub(crate) async fn role_exists(
    pool: &PgPool,
    name: &str,
    secrets: &[&str],
) -> Result<bool, DriverError> {
    let client = pool
        .get()
        .await
        .map_err(|e| connection_error(&e, secrets))?;
    let row = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .map_err(|e| describe(&e, secrets))?;
    Ok(row.is_some())
}

/// Which of `names` exist as roles, in order.
pub(crate) async fn existing_roles(
    pool: &PgPool,
    names: &[String],
    secrets: &[&str],
) -> Result<Vec<String>, DriverError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let client = pool
        .get()
        .await
        .map_err(|e| connection_error(&e, secrets))?;
    let rows = client
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname",
            &[&names],
        )
        .await
        .map_err(|e| describe(&e, secrets))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// The default revocation: end the user's sessions, hand what it owns to
/// the broker's user, drop its privileges and the role, in one transaction.
/// A user already gone is a success.
pub(crate) async fn drop_role(
    pool: &PgPool,
    name: &str,
    secrets: &[&str],
) -> Result<(), DriverError> {
    let ident = quote_ident(name);
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {} AND pid <> pg_backend_pid();\n\
         REASSIGN OWNED BY {ident} TO CURRENT_USER;\n\
         DROP OWNED BY {ident};\n\
         DROP ROLE IF EXISTS {ident};",
        quote_literal(name)
    );
    match run_in_transaction(pool, &sql, secrets).await {
        // `REASSIGN OWNED` names a role that is already gone: nothing to revoke.
        Err(DriverError::Statement(m)) if m.contains("42704") => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_default_password_statements() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(
            set_password_sql("v-a", "pw'1", &[]),
            "ALTER ROLE \"v-a\" WITH PASSWORD 'pw''1';"
        );
        assert_eq!(
            set_password_sql(
                "v-a",
                "pw1",
                &["ALTER USER {{name}} PASSWORD '{{password}}'".into()]
            ),
            "ALTER USER v-a PASSWORD 'pw1'"
        );
    }
}
