//! KV version 1: one unversioned JSON object per path, as Vault's
//! passthrough backend keeps it (a mount of type `kv` with `options.version`
//! "1", or with no version, Vault's default for `kv`).
//!
//! - read `P`: `{"data": {...}}`, the stored object as written, with a
//!   `lease_duration` and no lease: the object's own `ttl` (or the older
//!   `lease`) field when it parses as a duration, else the mount's default
//!   lease TTL (the system's, 768h, when the mount sets none). Nothing is
//!   registered with the lease manager: the TTL is a re-read hint, as Vault.
//! - write `P` (create or update): any non-empty JSON object replaces the
//!   stored one; 204.
//! - list `P/`: the direct children, folders ending in `/`; 404 when empty.
//! - delete `P`: 204, whether or not anything was stored.
//!
//! Storage: `v1/P` inside the mount's view holds P's object. The prefix keeps
//! v1 data apart from v2's `meta/`, `version/` and `config`, so an upgrade to
//! v2 (see [`super::upgrade`]) can tell what is left to migrate.
//!
//! The path is used exactly as the pipeline canonicalised it (the spelling
//! the ACL checked): nothing here trims, folds or decodes it.

use super::super::{Engine, EngineRequest};
use crate::barrier::StorageView;
use crate::duration::field_seconds;
use crate::error::ApiError;
use crate::logical::{LeaseBlock, Operation, Response};
use serde_json::{Map, Value};

/// Where v1 objects live inside the mount's storage view.
pub(super) const V1_PREFIX: &str = "v1/";

/// The longest secret path a write accepts, in bytes: longer ones are
/// refused rather than stored under keys no client can comfortably address.
pub(super) const MAX_KEY_BYTES: usize = 1024;

pub struct KvV1Engine {
    view: StorageView,
}

/// The stored key of a secret path, or why the path names no secret.
fn key_of(path: &str) -> Result<String, ApiError> {
    if path.is_empty() {
        return Err(ApiError::bad("missing path"));
    }
    if path.ends_with('/') {
        return Err(ApiError::bad(
            "missing secret path: the path must name a secret, not a folder",
        ));
    }
    if path.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad(format!(
            "secret path is longer than {MAX_KEY_BYTES} bytes"
        )));
    }
    Ok(format!("{V1_PREFIX}{path}"))
}

/// The lease duration a read reports: the object's `ttl` (or `lease`) when
/// it parses as a duration, else the mount's default.
fn lease_duration(secret: &Map<String, Value>, default: i64) -> i64 {
    let field = secret.get("ttl").or_else(|| secret.get("lease"));
    match field_seconds(field, "ttl") {
        Ok(Some(seconds)) => seconds,
        _ => default,
    }
}

impl KvV1Engine {
    pub fn new(view: StorageView) -> Self {
        Self { view }
    }

    async fn read(&self, path: &str, default_ttl: i64) -> Result<Response, ApiError> {
        // Nothing is stored at a folder or an overlong path.
        let Ok(key) = key_of(path) else {
            return Err(ApiError::NotFound);
        };
        let secret: Map<String, Value> =
            self.view.get_json(&key).await?.ok_or(ApiError::NotFound)?;
        let lease_duration = lease_duration(&secret, default_ttl);
        let mut response = Response::data(secret);
        response.lease = Some(LeaseBlock {
            lease_id: String::new(),
            lease_duration,
            renewable: false,
        });
        Ok(response)
    }

    async fn write(&self, path: &str, data: &Map<String, Value>) -> Result<Response, ApiError> {
        let key = key_of(path)?;
        if data.is_empty() {
            return Err(ApiError::bad("missing data fields"));
        }
        // One put: a write replaces the whole object atomically, so no lock
        // is needed (last writer wins, as Vault).
        self.view.put_json(&key, data).await?;
        Ok(Response::empty())
    }

    async fn delete(&self, path: &str) -> Result<Response, ApiError> {
        let key = key_of(path)?;
        self.view.delete(&key).await?;
        Ok(Response::empty())
    }

    async fn list(&self, path: &str) -> Result<Response, ApiError> {
        // The pipeline gives a LIST path with exactly one trailing `/`, or
        // "" at the mount's root.
        let prefix = if path.is_empty() || path.ends_with('/') {
            format!("{V1_PREFIX}{path}")
        } else {
            format!("{V1_PREFIX}{path}/")
        };
        Response::keys(self.view.list(&prefix).await?)
    }
}

#[async_trait::async_trait]
impl Engine for KvV1Engine {
    fn help(&self) -> &'static qm_plugin_sdk::help::Help {
        &super::help::V1
    }

    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response, ApiError> {
        match req.operation {
            Operation::Read => self.read(req.path, req.default_lease_ttl).await,
            Operation::Create | Operation::Update => self.write(req.path, req.data).await,
            Operation::Delete => self.delete(req.path).await,
            Operation::List => self.list(req.path).await,
            Operation::Patch => Err(ApiError::UnsupportedOperation),
        }
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool, ApiError> {
        match key_of(req.path) {
            Ok(key) => Ok(self.view.get_bytes(&key).await?.is_some()),
            // The write is refused anyway; `update` is the stricter check.
            Err(_) => Ok(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn lease_duration_follows_ttl_then_lease_then_the_default() {
        let default = 2_764_800;
        assert_eq!(lease_duration(&object(json!({"a": 1})), default), default);
        assert_eq!(lease_duration(&object(json!({"ttl": "1h"})), default), 3600);
        assert_eq!(lease_duration(&object(json!({"ttl": 90})), default), 90);
        assert_eq!(
            lease_duration(&object(json!({"lease": "2m"})), default),
            120
        );
        for bad in [json!("soon"), json!(-5), json!([1]), json!(1e30)] {
            assert_eq!(
                lease_duration(&object(json!({ "ttl": bad })), default),
                default
            );
        }
    }

    #[test]
    fn keys_name_secrets_not_folders() {
        assert_eq!(key_of("a/b").ok().as_deref(), Some("v1/a/b"));
        assert!(key_of("").is_err());
        assert!(key_of("a/").is_err());
        assert!(key_of(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
        assert!(key_of(&"k".repeat(MAX_KEY_BYTES)).is_ok());
    }
}
