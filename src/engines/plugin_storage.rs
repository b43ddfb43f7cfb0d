//! A mount's storage view, offered to plugins through the SDK's
//! `PluginStorage` contract (plugins never see the core's types).

use crate::barrier::{self, StorageView};
use async_trait::async_trait;
use qm_plugin_sdk::{PluginError, PluginStorage, Write};

/// Plugin storage backed by the encrypted barrier, scoped to one mount.
pub struct MountStorage(pub StorageView);

fn storage_error(e: barrier::BarrierError) -> PluginError {
    PluginError::Storage(e.to_string())
}

fn convert(writes: Vec<Write>) -> Vec<barrier::Write> {
    writes
        .into_iter()
        .map(|w| match w {
            Write::Put(key, value) => barrier::Write::Put(key, value),
            Write::Delete(key) => barrier::Write::Delete(key),
        })
        .collect()
}

#[async_trait]
impl PluginStorage for MountStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        self.0.get_bytes(key).await.map_err(storage_error)
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), PluginError> {
        self.0.write(convert(writes)).await.map_err(storage_error)
    }

    async fn write_relaxed(&self, writes: Vec<Write>) -> Result<(), PluginError> {
        self.0
            .write_relaxed_async(convert(writes))
            .await
            .map_err(storage_error)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PluginError> {
        self.0.list(prefix).await.map_err(storage_error)
    }
}
