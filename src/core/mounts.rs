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
    /// `cubbyhole/`, each token's private space, served by the core.
    Cubbyhole,
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
    /// The last remounts, for `sys/remount/status/ID` (a std lock: held to
    /// push or read, never across an await).
    moves: std::sync::Mutex<std::collections::VecDeque<Move>>,
}

/// One finished remount.
#[derive(Clone)]
pub struct Move {
    pub id: String,
    pub from: String,
    pub to: String,
}

/// How many finished remounts `sys/remount/status` remembers.
const MOVES_KEPT: usize = 100;

impl Backend {
    /// The mounts the core serves itself: never unmounted.
    pub fn is_builtin(&self) -> bool {
        matches!(self, Self::System | Self::Token | Self::Cubbyhole)
    }
}

fn cubbyhole_entry() -> MountEntry {
    use super::cubbyhole::{DESCRIPTION, KIND, PATH};
    MountEntry::new(PATH, KIND, DESCRIPTION)
}

impl Mounted {
    /// The plugin's storage: this mount's encrypted view.
    pub fn plugin_storage(
        &self,
        barrier: &Arc<Barrier>,
    ) -> crate::engines::plugin_storage::MountStorage {
        crate::engines::plugin_storage::MountStorage::new(
            Arc::clone(barrier),
            self.entry.storage_prefix(),
        )
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
    /// `auth/token/`, `cubbyhole/`) on first unseal. A table stored before
    /// `cubbyhole/` was built in gets it added.
    pub async fn load(barrier: Arc<Barrier>) -> Result<Self, ApiError> {
        let entries = match barrier.get_json::<Vec<MountEntry>>(TABLE_KEY).await? {
            Some(mut entries) => {
                if !entries.iter().any(|e| e.path == super::cubbyhole::PATH) {
                    entries.push(cubbyhole_entry());
                    barrier.put_json(TABLE_KEY, &entries).await?;
                }
                entries
            }
            None => {
                let entries = vec![
                    MountEntry::new(
                        "sys/",
                        "system",
                        "system endpoints used for control, policy and debugging",
                    ),
                    MountEntry::new("auth/token/", "token", "token based credentials"),
                    cubbyhole_entry(),
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
            moves: std::sync::Mutex::new(std::collections::VecDeque::new()),
        })
    }

    fn backend_for(barrier: &Arc<Barrier>, entry: &MountEntry) -> Result<Backend, ApiError> {
        let view = || StorageView::new(Arc::clone(barrier), entry.storage_prefix());
        if entry.is_auth() && entry.kind != "token" {
            return crate::auth::build(entry, view())
                .map(Backend::Auth)
                .ok_or_else(|| {
                    ApiError::bad(format!(
                        "unknown auth method type: {:?} (available: approle, jwt, userpass)",
                        entry.kind
                    ))
                });
        }
        Ok(match entry.kind.as_str() {
            "system" => Backend::System,
            "token" => Backend::Token,
            super::cubbyhole::KIND => Backend::Cubbyhole,
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
        check_free(&current, &entry.path, None)?;
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
        if found.backend.is_builtin() {
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

    /// Moves a mount to another path (`sys/remount`). Its storage is keyed
    /// by its uuid, so nothing is copied; the caller makes sure no lease
    /// names the old path.
    pub async fn remount(&self, from: &str, to: &str) -> Result<String, ApiError> {
        let _changing = self.changing.lock().await;
        let current = self.snapshot();
        let found = current
            .iter()
            .find(|m| m.entry.path == from)
            .ok_or_else(|| ApiError::bad(format!("no mount at {from:?}")))?;
        if found.backend.is_builtin() {
            return Err(ApiError::bad(format!("cannot remount {from:?}")));
        }
        check_free(&current, to, Some(from))?;
        let mut next = (*current).clone();
        for mounted in next.iter_mut().filter(|m| m.entry.path == from) {
            mounted.entry.path = to.to_string();
        }
        self.store(next).await?;
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(mut moves) = self.moves.lock() {
            if moves.len() >= MOVES_KEPT {
                moves.pop_front();
            }
            moves.push_back(Move {
                id: id.clone(),
                from: from.to_string(),
                to: to.to_string(),
            });
        }
        Ok(id)
    }

    /// A finished remount, by its id.
    pub fn moved(&self, id: &str) -> Option<Move> {
        self.moves
            .lock()
            .ok()
            .and_then(|moves| moves.iter().find(|m| m.id == id).cloned())
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

/// Refuses `path` when it is in use or overlaps a mount other than
/// `moving` (a mount may sit below `sys/`'s siblings, never inside one).
fn check_free(current: &[Mounted], path: &str, moving: Option<&str>) -> Result<(), ApiError> {
    let clash = current.iter().find(|m| {
        Some(m.entry.path.as_str()) != moving
            && (path.starts_with(&m.entry.path) || m.entry.path.starts_with(path))
    });
    let Some(clash) = clash else {
        return Ok(());
    };
    if clash.entry.path == path {
        return Err(ApiError::bad(format!("path is already in use at {path}")));
    }
    if clash.entry.kind != "system" || path.starts_with("sys/") {
        return Err(ApiError::bad(format!(
            "path {path} conflicts with existing mount {}",
            clash.entry.path
        )));
    }
    Ok(())
}
