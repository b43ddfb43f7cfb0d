//! The mount table: which backend serves which path prefix. Secret engines
//! and auth methods share one table (auth mounts live under `auth/`); the
//! table is stored at `core/mounts` and routing takes the longest prefix.

use crate::barrier::{Barrier, StorageView};
use crate::engines::{self, Engine};
use crate::error::ApiError;
use crate::logical::{MountConfig, MountEntry};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

const TABLE_KEY: &str = "core/mounts";

/// Who serves a mount.
#[derive(Clone)]
pub enum Backend {
    /// `sys/`, served by the core itself.
    System,
    /// `auth/token/`, the core's token store.
    Token,
    Engine(Arc<dyn Engine>),
    /// A secrets plugin (`plugins/*`), hosted through the SDK contract.
    Plugin(Arc<dyn qm_plugin_sdk::SecretsEngine>),
    /// An auth method (`auth/approle/`, `auth/jwt/`).
    Auth(Arc<dyn crate::auth::AuthMethod>),
}

#[derive(Clone)]
pub struct Mounted {
    pub entry: MountEntry,
    pub backend: Backend,
}

/// What a tune changes: the config always, the rest when given.
pub struct Tune {
    pub config: MountConfig,
    pub description: Option<String>,
    /// The whole new option map.
    pub options: Option<BTreeMap<String, String>>,
    /// The options upgrade a KV mount from version 1 to 2.
    pub kv_upgrade: bool,
}

/// An engine a tune replaced, and its replacement.
pub struct Replaced {
    pub old: Arc<dyn Engine>,
    pub new: Arc<dyn Engine>,
}

pub struct Mounts {
    barrier: Arc<Barrier>,
    // Copy-on-write: readers clone the Arc and route without holding the lock.
    table: RwLock<Arc<Vec<Mounted>>>,
    // A tokio mutex: it serializes table changes across the awaits of a store.
    changing: tokio::sync::Mutex<()>,
}

impl Mounted {
    /// The plugin's storage: this mount's encrypted view.
    pub fn plugin_storage(
        &self,
        barrier: &Arc<Barrier>,
    ) -> crate::engines::plugin_storage::MountStorage {
        crate::engines::plugin_storage::MountStorage(StorageView::new(
            Arc::clone(barrier),
            self.entry.storage_prefix(),
        ))
    }
}

/// The mount table as the lease manager reads it: the plugin mounted at a
/// path, with its storage.
pub struct MountIssuers {
    pub mounts: Arc<Mounts>,
    pub barrier: Arc<Barrier>,
}

impl crate::lease::Issuers for MountIssuers {
    fn issuer(&self, mount: &str) -> Option<crate::lease::Issuer> {
        let mounted = self.mounts.get(mount)?;
        match &mounted.backend {
            Backend::Plugin(plugin) => Some(crate::lease::Issuer {
                engine: Arc::clone(plugin),
                storage: Box::new(mounted.plugin_storage(&self.barrier)),
            }),
            _ => None,
        }
    }
}

impl Mounts {
    /// Loads the stored table, or creates the built-in one (`sys/`,
    /// `auth/token/`) on first unseal.
    pub async fn load(barrier: Arc<Barrier>) -> Result<Self, ApiError> {
        let entries = match barrier.get_json::<Vec<MountEntry>>(TABLE_KEY).await? {
            Some(entries) => entries,
            None => {
                let entries = vec![
                    MountEntry::new(
                        "sys/",
                        "system",
                        "system endpoints used for control, policy and debugging",
                    ),
                    MountEntry::new("auth/token/", "token", "token based credentials"),
                ];
                barrier.put_json(TABLE_KEY, &entries).await?;
                entries
            }
        };
        let mut table = Vec::with_capacity(entries.len());
        for entry in entries {
            let backend = Self::backend_for(&barrier, &entry)?;
            table.push(Mounted { entry, backend });
        }
        Ok(Self {
            barrier,
            table: RwLock::new(Arc::new(table)),
            changing: tokio::sync::Mutex::new(()),
        })
    }

    fn backend_for(barrier: &Arc<Barrier>, entry: &MountEntry) -> Result<Backend, ApiError> {
        let view = || StorageView::new(Arc::clone(barrier), entry.storage_prefix());
        if entry.is_auth() && entry.kind != "token" {
            return crate::auth::build(entry, view())
                .map(Backend::Auth)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "unknown auth method type: {:?} (available: approle, jwt)",
                        entry.kind
                    ))
                });
        }
        Ok(match entry.kind.as_str() {
            "system" => Backend::System,
            "token" => Backend::Token,
            kind => match crate::plugins::build(kind) {
                Some(plugin) => Backend::Plugin(plugin),
                None => Backend::Engine(engines::build(entry, view())?),
            },
        })
    }

    pub fn snapshot(&self) -> Arc<Vec<Mounted>> {
        self.table
            .read()
            .map(|t| Arc::clone(&t))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    /// The mount serving `path` (longest prefix) and the path relative to it.
    pub fn route(&self, path: &str) -> Option<(Mounted, String)> {
        let table = self.snapshot();
        table
            .iter()
            .filter(|m| path.starts_with(&m.entry.path) || format!("{path}/") == m.entry.path)
            .max_by_key(|m| m.entry.path.len())
            .map(|m| {
                let relative = path.get(m.entry.path.len()..).unwrap_or("").to_string();
                (m.clone(), relative)
            })
    }

    pub fn get(&self, mount_path: &str) -> Option<Mounted> {
        self.snapshot()
            .iter()
            .find(|m| m.entry.path == mount_path)
            .cloned()
    }

    /// Adds a mount; the path must not overlap an existing one.
    pub async fn mount(&self, entry: MountEntry) -> Result<(), ApiError> {
        let _changing = self.changing.lock().await;
        let current = self.snapshot();
        if let Some(clash) = current.iter().find(|m| {
            entry.path.starts_with(&m.entry.path) || m.entry.path.starts_with(&entry.path)
        }) {
            if clash.entry.path == entry.path {
                return Err(ApiError::bad(format!(
                    "path is already in use at {}",
                    entry.path
                )));
            }
            if clash.entry.kind != "system" || entry.path.starts_with("sys/") {
                return Err(ApiError::bad(format!(
                    "path {} conflicts with existing mount {}",
                    entry.path, clash.entry.path
                )));
            }
        }
        let backend = Self::backend_for(&self.barrier, &entry)?;
        let mut next = (*current).clone();
        next.push(Mounted { entry, backend });
        self.store(next).await
    }

    /// Removes a mount and everything its backend stored.
    pub async fn unmount(&self, mount_path: &str) -> Result<(), ApiError> {
        let _changing = self.changing.lock().await;
        let current = self.snapshot();
        let Some(found) = current.iter().find(|m| m.entry.path == mount_path) else {
            return Ok(());
        };
        if matches!(found.backend, Backend::System | Backend::Token) {
            return Err(ApiError::bad(format!("cannot unmount {mount_path:?}")));
        }
        let prefix = found.entry.storage_prefix();
        let next: Vec<Mounted> = current
            .iter()
            .filter(|m| m.entry.path != mount_path)
            .cloned()
            .collect();
        self.store(next).await?;
        let keys = self.barrier.keys(&prefix).await?;
        for chunk in keys.chunks(1000) {
            let deletes = chunk
                .iter()
                .map(|k| crate::barrier::Write::Delete(k.clone()))
                .collect();
            self.barrier.write(deletes).await?;
        }
        Ok(())
    }

    /// Applies a tune to one mount: its config, description and options.
    /// A KV upgrade also rebuilds the mount's engine (other option changes
    /// keep the serving one, so two engines never share a mount's keys);
    /// the engine it replaced and the one now serving are returned, so the
    /// caller can drain the old one and migrate data for the new one.
    pub async fn tune(&self, mount_path: &str, tune: Tune) -> Result<Option<Replaced>, ApiError> {
        let _changing = self.changing.lock().await;
        let current = self.snapshot();
        let mut next = (*current).clone();
        let mounted = next
            .iter_mut()
            .find(|m| m.entry.path == mount_path)
            .ok_or_else(|| ApiError::bad(format!("no mount at {mount_path}")))?;
        mounted.entry.config = tune.config;
        if let Some(description) = tune.description {
            mounted.entry.description = description;
        }
        let mut replaced = None;
        if let Some(options) = tune.options {
            mounted.entry.options = options;
            if tune.kv_upgrade {
                if let Backend::Engine(old) = &mounted.backend {
                    let view =
                        StorageView::new(Arc::clone(&self.barrier), mounted.entry.storage_prefix());
                    let new = engines::build_retuned(&mounted.entry, view, tune.kv_upgrade)?;
                    replaced = Some(Replaced {
                        old: Arc::clone(old),
                        new: Arc::clone(&new),
                    });
                    mounted.backend = Backend::Engine(new);
                }
            }
        }
        self.store(next).await?;
        Ok(replaced)
    }

    async fn store(&self, next: Vec<Mounted>) -> Result<(), ApiError> {
        let entries: Vec<&MountEntry> = next.iter().map(|m| &m.entry).collect();
        self.barrier.put_json(TABLE_KEY, &entries).await?;
        if let Ok(mut table) = self.table.write() {
            *table = Arc::new(next);
        }
        Ok(())
    }
}
