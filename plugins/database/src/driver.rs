//! The contract between the database engine and a database driver, as
//! OpenBao splits `builtin/logical/database` from its plugins' `NewUser`,
//! `UpdateUser` and `DeleteUser`.
//!
//! The engine owns everything Vault's `database/` paths mean: configs,
//! roles, static roles, TTLs, usernames, passwords, leases, rotation and
//! reconciliation. A [`Driver`] knows one kind of database: it names the
//! `plugin_name`s it serves and opens a [`Connection`] for one config: a
//! handle that owns that config's connection pool and runs statements
//! (the role's own, or the driver's defaults when a role gives none).
//!
//! Errors are [`DriverError`]s whose messages carry no secret: a driver
//! removes the config's password, the connection URL and any password it
//! was given from every message (see [`crate::statements::sanitize`]).

use std::sync::Arc;

/// A kind of database: PostgreSQL, MySQL/MariaDB.
pub trait Driver: Send + Sync {
    /// The `plugin_name`s (in `database/config/NAME`) this driver serves.
    fn plugin_names(&self) -> &'static [&'static str];

    /// The longest username the database accepts for `plugin_name` (one of
    /// [`Driver::plugin_names`]); generated usernames are cut to it.
    fn max_username_len(&self, plugin_name: &str) -> usize;

    /// A connection pool for one config. Connects lazily: a bad URL is an
    /// error here, an unreachable database one at first use (or at
    /// [`Connection::verify`]).
    fn open(&self, config: &ConnectionConfig<'_>) -> Result<Arc<dyn Connection>, DriverError>;
}

/// How to reach a database as the broker's own user (from
/// `database/config/NAME`). No `Debug`: it carries the password.
pub struct ConnectionConfig<'a> {
    pub plugin_name: &'a str,
    /// May hold `{{username}}` and `{{password}}`, filled in by the driver.
    pub connection_url: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    /// The pool's bound (at least 1).
    pub max_open_connections: u32,
    /// How many idle connections the pool keeps (1 to `max_open_connections`).
    pub max_idle_connections: u32,
    /// How long a connection is reused before it is closed; `None`: for ever.
    pub max_connection_lifetime: Option<std::time::Duration>,
}

/// A user to create. No `Debug`: it carries the password.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password: &'a str,
    /// The role's creation statements (templates; never empty).
    pub statements: &'a [String],
    /// Unix seconds the lease ends (`{{expiration}}`).
    pub expire_at: i64,
}

/// One config's handle on its database: a connection pool and the
/// statements to run there. Every method may be called concurrently.
#[async_trait::async_trait]
pub trait Connection: Send + Sync {
    /// Connects and runs a trivial query.
    async fn verify(&self) -> Result<(), DriverError>;

    /// Runs the creation statements, all or nothing where the database can.
    async fn new_user(&self, user: &NewUser<'_>) -> Result<(), DriverError>;

    /// Moves the user's expiry to `expire_at`: the given statements, or the
    /// driver's default (none where the database has no expiry).
    async fn update_expiration(
        &self,
        username: &str,
        statements: &[String],
        expire_at: i64,
    ) -> Result<(), DriverError>;

    /// Gives an existing user a new password (a static role, or the
    /// broker's own user for `rotate-root`): the given statements, or the
    /// driver's default.
    async fn update_password(
        &self,
        username: &str,
        password: &str,
        statements: &[String],
    ) -> Result<(), DriverError>;

    /// Removes the user: the given statements, or the driver's default.
    /// Succeeds when the user is already gone.
    async fn delete_user(&self, username: &str, statements: &[String]) -> Result<(), DriverError>;

    /// Which of `names` exist as users, sorted.
    async fn existing_users(&self, names: &[String]) -> Result<Vec<String>, DriverError>;

    /// Every login role, as the database's catalogs describe it (for
    /// discovery), and those of `retired` that exist without LOGIN now,
    /// sorted by name.
    async fn login_roles(&self, retired: &[String]) -> Result<Vec<LoginRole>, DriverError> {
        let _ = retired;
        Err(DriverError::Statement(
            "discovery is not supported for this database".into(),
        ))
    }

    /// Lets `username` log in again, or stops it (`NOLOGIN`): reversible
    /// retirement of a discovered role.
    async fn set_login(&self, username: &str, login: bool) -> Result<(), DriverError> {
        let _ = (username, login);
        Err(DriverError::Statement(
            "retiring roles is not supported for this database".into(),
        ))
    }

    /// Closes the pool (the config changed or went).
    async fn close(&self);
}

/// A login role found in the catalogs. Carries no secret (a password
/// verifier is never read).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LoginRole {
    pub name: String,
    /// Unix seconds of `VALID UNTIL`; `None`: the password never expires.
    pub valid_until: Option<i64>,
    /// The role's attributes that grant more than its privileges:
    /// `superuser`, `createrole`, `createdb`, `replication`, `bypassrls`.
    pub attributes: Vec<String>,
    /// The roles it is a member of, sorted.
    pub member_of: Vec<String>,
    /// Its table privileges: `schema.table: SELECT,UPDATE`, sorted.
    pub privileges: Vec<String>,
    /// Its sessions open at the time of the scan.
    pub connections: u32,
    /// Whether it is the user the broker connects as.
    pub current_user: bool,
    /// Whether it may log in (false: one of the retired roles asked for).
    pub can_login: bool,
}

/// Why a driver call failed. Messages carry no secret.
#[derive(Debug)]
pub enum DriverError {
    /// The database rejected a statement (syntax, permission, missing
    /// object), or the config is invalid: the caller's to fix.
    Statement(String),
    /// Could not reach or talk to the database: worth retrying.
    Connection(String),
}

impl DriverError {
    /// A client-facing error; `what` says which statements failed.
    pub fn into_plugin_error(self, what: &str) -> qm_plugin_sdk::PluginError {
        use qm_plugin_sdk::PluginError;
        match self {
            Self::Statement(m) => PluginError::BadRequest(format!("{what} failed: {m}")),
            Self::Connection(m) => {
                PluginError::Unreachable(format!("{what}: database unavailable: {m}"))
            }
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Self::Statement(m) | Self::Connection(m) => m,
        }
    }
}
