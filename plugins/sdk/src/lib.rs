//! The contract between Quartermaster's core and a secrets plugin.
//!
//! A plugin serves the paths below its mount (`database/...`, `aws/...`)
//! through [`SecretsEngine::handle`], keeping its configuration and roles in
//! the mount-scoped [`PluginStorage`] the core hands it (encrypted by the core;
//! the plugin never sees other mounts, tokens or HTTP). When a request should
//! mint a credential, the plugin answers [`Reply::Secret`] with a plan; the
//! core then records the lease durably (state *pending*) **before** it calls
//! [`SecretsEngine::activate`] to create the credential, and marks the lease
//! active after. So a crash at any point leaves either a pending lease (rolled
//! back at start through [`SecretsEngine::rollback`]) or an active one: never a
//! credential outside the ledger.
//!
//! Activation, renewal, revocation and rollback come back to the plugin with
//! the plan's `internal` record (a type the plugin defines, e.g. the
//! username; see [`lease`]), never with the secret itself. Passwords come
//! from one generator ([`password`]). With the `testkit` feature, `testkit`
//! offers an in-memory storage, a request builder and the conformance suite
//! every plugin runs.

pub mod duration;
pub mod help;
pub mod lease;
pub mod params;
pub mod password;
pub mod template;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod ttl;

pub use lease::{Internal, LeaseInfo, SecretPlan};

use lease::MapKeys;
use serde::Serialize;
use serde_json::{Map, Value};

/// The operation of a request, as Vault's ACLs distinguish them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Read,
    List,
    Create,
    Update,
    Delete,
    Patch,
}

/// A request below the plugin's mount.
pub struct Request<'a> {
    pub operation: Operation,
    /// Relative to the mount, without a leading slash: `creds/app-ro`.
    pub path: &'a str,
    pub data: &'a Map<String, Value>,
    /// The caller's token display name, for traceable credential names.
    pub display_name: &'a str,
    /// The mount's default and max lease TTL in seconds (system defaults applied).
    pub mount_default_ttl: i64,
    pub mount_max_ttl: i64,
    /// Unix seconds now.
    pub now: i64,
}

/// What a plugin answers. `Debug` shows keys, never values (a `Data`
/// answer may carry a static role's password).
pub enum Reply {
    /// 204.
    Empty,
    /// 200 with `data`.
    Data(Map<String, Value>),
    /// 200 with `data` and warnings.
    DataWithWarnings(Map<String, Value>, Vec<String>),
    /// A credential to lease and issue.
    Secret(SecretPlan),
    /// Revoke every lease under these prefixes (relative to the mount, e.g.
    /// `creds/deploy/`), then answer 200 with `data`. For plugins that end
    /// credentials in bulk at the backend (AWS `revoke-sessions`).
    RevokeLeases {
        prefixes: Vec<String>,
        data: Map<String, Value>,
    },
}

impl Reply {
    /// 200 with the fields of a JSON object.
    pub fn json(value: Value) -> Self {
        match value {
            Value::Object(map) => Self::Data(map),
            _ => Self::Data(Map::new()),
        }
    }

    /// The same answer with `warning` added (a 204 becomes a 200 that
    /// carries it, as in Vault).
    pub fn warn(self, warning: Option<String>) -> Self {
        let Some(warning) = warning else {
            return self;
        };
        match self {
            Self::Empty => Self::DataWithWarnings(Map::new(), vec![warning]),
            Self::Data(data) => Self::DataWithWarnings(data, vec![warning]),
            Self::DataWithWarnings(data, mut warnings) => {
                warnings.push(warning);
                Self::DataWithWarnings(data, warnings)
            }
            other => other,
        }
    }

    /// A LIST answer: `{"keys": [...]}`, or 404 when there are none, as Vault does.
    pub fn keys(keys: Vec<String>) -> Result<Self, PluginError> {
        if keys.is_empty() {
            return Err(PluginError::NotFound);
        }
        Ok(Self::json(serde_json::json!({ "keys": keys })))
    }
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Empty => f.write_str("Empty"),
            Self::Data(data) => f.debug_tuple("Data").field(&MapKeys(data)).finish(),
            Self::DataWithWarnings(data, warnings) => f
                .debug_tuple("DataWithWarnings")
                .field(&MapKeys(data))
                .field(warnings)
                .finish(),
            Self::Secret(plan) => f.debug_tuple("Secret").field(plan).finish(),
            Self::RevokeLeases { prefixes, data } => f
                .debug_struct("RevokeLeases")
                .field("prefixes", prefixes)
                .field("data", &MapKeys(data))
                .finish(),
        }
    }
}

/// What went wrong, in terms the core maps to HTTP and to retry decisions.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The request is invalid (400). The message names the problem.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing at this path (404).
    #[error("not found")]
    NotFound,
    /// No handler for this path below the mount (404 with a message).
    #[error("{0}")]
    NoHandler(String),
    /// The path exists but not for this operation (405).
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// A quota refused the request (429).
    #[error("{0}")]
    TooMany(String),
    /// The backend (database, cloud API) failed; worth retrying. The message
    /// is sanitized: no connection string, no password.
    #[error("{0}")]
    Backend(String),
    /// The backend could not be reached at all (refused, timed out, the
    /// connection dropped): the lease manager retries a revocation that
    /// failed this way as soon as [`SecretsEngine::probe`] finds the backend
    /// answering again, instead of waiting out its backoff. Sanitized as
    /// [`PluginError::Backend`].
    #[error("{0}")]
    Unreachable(String),
    /// The plugin's own storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The disk under the store is full (503); the message says so.
    #[error("{0}")]
    StorageFull(String),
}

/// A change in an atomic batch of [`PluginStorage::write`].
pub enum Write {
    Put(String, Vec<u8>),
    Delete(String),
}

/// The plugin's own storage, scoped to its mount and encrypted by the core.
#[async_trait::async_trait]
pub trait PluginStorage: Send + Sync {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PluginError>;
    /// Applies all writes atomically and durably.
    async fn write(&self, writes: Vec<Write>) -> Result<(), PluginError>;
    /// Applies all writes atomically; they become durable with the next
    /// durable write (the core's lease write that always follows in issue
    /// and revoke). For bookkeeping that may be lost with a crash.
    async fn write_relaxed(&self, writes: Vec<Write>) -> Result<(), PluginError> {
        self.write(writes).await
    }
    /// Direct children of `prefix`: `name`, or `name/` for a folder.
    async fn list(&self, prefix: &str) -> Result<Vec<String>, PluginError>;
    /// The core's password policy `name` (`sys/policies/password/NAME`),
    /// parsed; `None` when there is none. Storage without the core (the
    /// test kit's) has none.
    async fn password_policy(
        &self,
        _name: &str,
    ) -> Result<Option<password::PasswordPolicy>, PluginError> {
        Ok(None)
    }
}

impl dyn PluginStorage + '_ {
    /// Reads and decodes a JSON value.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, PluginError> {
        match self.get(key).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| PluginError::Storage(format!("{key}: {e}"))),
        }
    }

    /// Encodes and stores a JSON value.
    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), PluginError> {
        let bytes = serde_json::to_vec(value).map_err(|e| PluginError::Storage(e.to_string()))?;
        self.write(vec![Write::Put(key.to_string(), bytes)]).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), PluginError> {
        self.write(vec![Write::Delete(key.to_string())]).await
    }
}

/// A secrets engine plugin.
#[async_trait::async_trait]
pub trait SecretsEngine: Send + Sync {
    /// What `?help=1` answers below the mount.
    fn help(&self) -> &'static help::Help;

    /// Serves a request below the mount.
    async fn handle(
        &self,
        req: &Request<'_>,
        storage: &dyn PluginStorage,
    ) -> Result<Reply, PluginError>;

    /// Whether a write's target exists (ACL `update` vs `create`).
    async fn exists(
        &self,
        _req: &Request<'_>,
        _storage: &dyn PluginStorage,
    ) -> Result<bool, PluginError> {
        Ok(true)
    }

    /// Creates the credential of a plan whose lease is now durable (pending).
    /// `secret` is the plan's `data`. Returns fields to add to the caller's
    /// data (e.g. STS keys known only after the call).
    async fn activate(
        &self,
        _lease: &LeaseInfo,
        _secret: &Map<String, Value>,
        _storage: &dyn PluginStorage,
    ) -> Result<Map<String, Value>, PluginError> {
        Ok(Map::new())
    }

    /// Extends the credential to `lease.expire_at`.
    async fn renew(
        &self,
        _lease: &LeaseInfo,
        _storage: &dyn PluginStorage,
    ) -> Result<(), PluginError> {
        Ok(())
    }

    /// Ends the credential. Succeeds if it is already gone. Warnings are
    /// shown to whoever revoked and recorded with the revocation.
    async fn revoke(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<Vec<String>, PluginError>;

    /// Undoes a credential that may or may not have been created (a pending
    /// lease found at start). Defaults to revoke.
    async fn rollback(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<(), PluginError> {
        self.revoke(lease, storage).await.map(|_| ())
    }

    /// Whether the credential of `lease` still exists at the backend;
    /// `None` when the engine cannot tell (an STS session). After a
    /// snapshot restore, the core closes restored leases whose credential
    /// is gone.
    async fn credential_exists(
        &self,
        _lease: &LeaseInfo,
        _storage: &dyn PluginStorage,
    ) -> Result<Option<bool>, PluginError> {
        Ok(None)
    }

    /// Whether the backend holding `lease`'s credential answers now, by a
    /// cheap call (`SELECT 1`). The core asks about once a second while
    /// revocations there fail as [`PluginError::Unreachable`], and retries
    /// them on the first `Some(true)`. `None`: the engine cannot tell (then
    /// those revocations keep their backoff).
    async fn probe(&self, _lease: &LeaseInfo, _storage: &dyn PluginStorage) -> Option<bool> {
        None
    }

    /// Called about once a minute while unsealed (scheduled rotations).
    async fn periodic(&self, _storage: &dyn PluginStorage, _now: i64) -> Result<(), PluginError> {
        Ok(())
    }
}
