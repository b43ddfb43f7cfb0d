//! A mount's storage view, offered to plugins through the SDK's
//! `PluginStorage` contract (plugins never see the core's types), with
//! read access to the core's password policies.

use crate::barrier::{self, Barrier, StorageView};
use crate::policy::password::PasswordPolicies;
use crate::policy::PolicyError;
use async_trait::async_trait;
use qm_plugin_sdk::password::PasswordPolicy;
use qm_plugin_sdk::{PluginError, PluginStorage, Write};
use std::sync::Arc;

/// Plugin storage backed by the encrypted barrier, scoped to one mount.
pub struct MountStorage {
    view: StorageView,
    password_policies: PasswordPolicies,
}

impl MountStorage {
    /// The mount's view at `prefix`.
    pub fn new(barrier: Arc<Barrier>, prefix: impl Into<String>) -> Self {
        Self {
            view: StorageView::new(Arc::clone(&barrier), prefix),
            password_policies: PasswordPolicies::new(barrier),
        }
    }
}

fn storage_error(e: barrier::BarrierError) -> PluginError {
    match e {
        barrier::BarrierError::Storage(full @ crate::storage::StorageError::Full(_)) => {
            PluginError::StorageFull(full.to_string())
        }
        other => PluginError::Storage(other.to_string()),
    }
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
        self.view.get_bytes(key).await.map_err(storage_error)
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), PluginError> {
        self.view
            .write(convert(writes))
            .await
            .map_err(storage_error)
    }

    async fn write_relaxed(&self, writes: Vec<Write>) -> Result<(), PluginError> {
        self.view
            .write_relaxed_async(convert(writes))
            .await
            .map_err(storage_error)
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PluginError> {
        self.view.list(prefix).await.map_err(storage_error)
    }

    async fn password_policy(&self, name: &str) -> Result<Option<PasswordPolicy>, PluginError> {
        self.password_policies.get(name).await.map_err(|e| match e {
            PolicyError::Invalid(m) => PluginError::BadRequest(format!("password_policy: {m}")),
            other => PluginError::Storage(other.to_string()),
        })
    }
}
