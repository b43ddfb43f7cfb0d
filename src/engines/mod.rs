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
}

#[async_trait::async_trait]
pub trait Engine: Send + Sync {
    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response, ApiError>;

    /// Whether a write's target exists already: ACLs check `update` then,
    /// `create` otherwise.
    async fn exists(&self, _req: &EngineRequest<'_>) -> Result<bool, ApiError> {
        Ok(true)
    }
}

/// Builds the engine for a mount of type `entry.kind`.
pub fn build(entry: &MountEntry, view: StorageView) -> Result<Arc<dyn Engine>, ApiError> {
    match entry.kind.as_str() {
        "kv" | "kv-v2" => {
            if entry.options.get("version").is_some_and(|v| v != "2") {
                return Err(ApiError::bad(
                    "only KV version 2 is supported: mount with options version=2",
                ));
            }
            Ok(Arc::new(kv::KvEngine::new(view)))
        }
        other => Err(ApiError::bad(format!("unknown backend type: {other:?}"))),
    }
}
