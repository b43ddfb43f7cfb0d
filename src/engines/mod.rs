//! Secrets engines built into the server. An engine sees only its request
//! (operation, path relative to its mount, data) and its own storage view;
//! never HTTP, tokens or other mounts.

pub mod kv;
pub mod plugin_storage;

use crate::barrier::StorageView;
use crate::error::ApiError;
use crate::logical::MountEntry;
use crate::logical::{Operation, Response};
use serde_json::{Map, Value};
use std::sync::Arc;

/// A request as an engine sees it.
pub struct EngineRequest<'a> {
    pub operation: Operation,
    /// Relative to the mount, without a leading slash.
    pub path: &'a str,
    pub data: &'a Map<String, Value>,
    pub mount: &'a MountEntry,
    /// The mount's default lease TTL in seconds (the system's when the
    /// mount sets none), capped by its maximum.
    pub default_lease_ttl: i64,
}

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    /// What `?help=1` answers below the mount.
    fn help(&self) -> &'static qm_plugin_sdk::help::Help;

    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response, ApiError>;

    /// Whether a write's target exists already: ACLs check `update` then,
    /// `create` otherwise.
    async fn exists(&self, _req: &EngineRequest<'_>) -> Result<bool, ApiError> {
        Ok(true)
    }

    /// Finishes moving data stored in an older layout (a KV v1 mount tuned
    /// to v2) before the engine serves; a no-op for most engines.
    async fn migrate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// The KV version a `kv` mount entry asks for: `options.version` "1", ""
/// or absent is version 1 (Vault's default for `kv`), "2" is version 2; a
/// `kv-v2` entry is version 2.
pub fn kv_version(entry: &MountEntry) -> Result<u8, ApiError> {
    match (
        entry.kind.as_str(),
        entry.options.get("version").map(String::as_str),
    ) {
        ("kv-v2", None | Some("2")) => Ok(2),
        ("kv", None | Some("" | "1")) => Ok(1),
        ("kv", Some("2")) => Ok(2),
        _ => Err(ApiError::bad(
            "could not understand version: KV versions are 1 and 2",
        )),
    }
}

/// Builds the engine for a mount of type `entry.kind`.
pub fn build(entry: &MountEntry, view: StorageView) -> Result<Arc<dyn Engine>, ApiError> {
    match entry.kind.as_str() {
        "kv" | "kv-v2" => Ok(match kv_version(entry)? {
            1 => Arc::new(kv::KvV1Engine::new(view)),
            _ => Arc::new(kv::KvEngine::new(view)),
        }),
        other => Err(ApiError::bad(format!("unknown backend type: {other:?}"))),
    }
}

/// Builds the engine that replaces a mount's after its options were tuned:
/// a KV mount upgraded to v2 gets an engine that waits for
/// [`Engine::migrate`] before it serves (see `kv::upgrade`).
pub fn build_retuned(
    entry: &MountEntry,
    view: StorageView,
    kv_upgrade: bool,
) -> Result<Arc<dyn Engine>, ApiError> {
    if kv_upgrade && kv_version(entry)? == 2 {
        return Ok(Arc::new(kv::KvEngine::upgrading(view)));
    }
    build(entry, view)
}
