//! Running statements: templates, one transaction per call, retries on the
//! errors Postgres raises under concurrency, and error messages with no
//! secret in them.

use deadpool_postgres::Pool;
use qm_plugin_sdk::PluginError;
use std::time::Duration;
use tokio_postgres::error::SqlState;

const ATTEMPTS: u32 = 6;

/// Values substituted into `{{name}}`-style templates.
pub(crate) struct Vars<'a> {
    pub(crate) name: &'a str,
    pub(crate) password: &'a str,
    pub(crate) expiration: &'a str,
}

pub(crate) fn render(template: &str, vars: &Vars<'_>) -> String {
    template
        .replace("{{name}}", vars.name)
        .replace("{{username}}", vars.name)
        .replace("{{password}}", vars.password)
        .replace("{{expiration}}", vars.expiration)
}

/// Renders each statement and joins them into one multi-statement string.
pub(crate) fn render_all(statements: &[String], vars: &Vars<'_>) -> String {
    statements
        .iter()
        .map(|s| render(s, vars))
        .collect::<Vec<_>>()
        .join(";\n")
}

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

/// Unix seconds as Postgres timestamptz text (`2026-01-02 15:04:05+0000`).
pub(crate) fn expiration(unix: i64) -> String {
    let secs = u64::try_from(unix).unwrap_or(0);
    let text = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .unwrap_or(std::time::UNIX_EPOCH),
    )
    .to_string();
    text.replace('T', " ").replace('Z', "+0000")
}

/// `"name"` with inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'` with inner quotes doubled.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Removes every occurrence of each secret from a message.
pub(crate) fn sanitize(message: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(message.to_string(), |m, s| m.replace(s, "[redacted]"))
}

/// Why a statement run failed.
pub(crate) enum Failure {
    /// Postgres rejected a statement (syntax, permission, missing object).
    Statement(String),
    /// Could not reach or talk to Postgres.
    Connection(String),
}

impl Failure {
    /// A client-facing error; `what` says which statements failed.
    pub(crate) fn into_plugin_error(self, what: &str) -> PluginError {
        match self {
            Self::Statement(m) => PluginError::BadRequest(format!("{what} failed: {m}")),
            Self::Connection(m) => {
                PluginError::Backend(format!("{what}: database unavailable: {m}"))
            }
        }
    }

    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Statement(m) | Self::Connection(m) => m,
        }
    }
}

fn describe(error: &tokio_postgres::Error, secrets: &[&str]) -> Failure {
    match error.as_db_error() {
        Some(db) => Failure::Statement(sanitize(
            &format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
            secrets,
        )),
        None => Failure::Connection(sanitize(&error.to_string(), secrets)),
    }
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
    pool: &Pool,
    sql: &str,
    secrets: &[&str],
) -> Result<(), Failure> {
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        let client = pool
            .get()
            .await
            .map_err(|e| Failure::Connection(sanitize(&e.to_string(), secrets)))?;
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
pub(crate) async fn role_exists(pool: &Pool, name: &str) -> Result<bool, Failure> {
    let client = pool
        .get()
        .await
        .map_err(|e| Failure::Connection(e.to_string()))?;
    let row = client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&name])
        .await
        .map_err(|e| describe(&e, &[]))?;
    Ok(row.is_some())
}

/// Which of `names` exist as roles, in order.
pub(crate) async fn existing_roles(pool: &Pool, names: &[String]) -> Result<Vec<String>, Failure> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let client = pool
        .get()
        .await
        .map_err(|e| Failure::Connection(e.to_string()))?;
    let rows = client
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname = ANY($1) ORDER BY rolname",
            &[&names],
        )
        .await
        .map_err(|e| describe(&e, &[]))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}

/// The default revocation: end the user's sessions, hand what it owns to
/// the broker's user, drop its privileges and the role, in one transaction.
/// A user already gone is a success.
pub(crate) async fn drop_role(pool: &Pool, name: &str) -> Result<(), Failure> {
    let ident = quote_ident(name);
    let sql = format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = {} AND pid <> pg_backend_pid();\n\
         REASSIGN OWNED BY {ident} TO CURRENT_USER;\n\
         DROP OWNED BY {ident};\n\
         DROP ROLE IF EXISTS {ident};",
        quote_literal(name)
    );
    match run_in_transaction(pool, &sql, &[]).await {
        // `REASSIGN OWNED` names a role that is already gone: nothing to revoke.
        Err(Failure::Statement(m)) if m.contains("42704") => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_quoting_and_sanitizing() {
        let vars = Vars {
            name: "v-a",
            password: "pw123456",
            expiration: "2030-01-01 00:00:00+0000",
        };
        assert_eq!(
            render(
                "CREATE ROLE \"{{name}}\" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                &vars
            ),
            "CREATE ROLE \"v-a\" PASSWORD 'pw123456' VALID UNTIL '2030-01-01 00:00:00+0000'"
        );
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(
            sanitize("bad password hunter22 here", &["hunter22"]),
            "bad password [redacted] here"
        );
        assert_eq!(expiration(0), "1970-01-01 00:00:00+0000");
    }
}
