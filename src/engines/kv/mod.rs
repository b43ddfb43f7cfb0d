//! KV version 2: versioned key-value secrets with soft delete, undelete,
//! destroy, check-and-set and per-key metadata, on Vault's paths:
//! `config`, `data/P`, `metadata/P`, `delete/P`, `undelete/P`, `destroy/P`.
//! KV version 1 ([`v1`]) is the unversioned engine of the same mount type;
//! [`upgrade`] turns a v1 mount's data into v2's.
//!
//! Storage: `meta/P` holds a key's metadata (all versions' states),
//! `version/N/P` holds version N's data. A version write and its metadata
//! update land in one atomic, durable batch.

mod help;
mod metadata;
mod upgrade;
pub mod v1;

pub use v1::KvV1Engine;

use super::{Engine, EngineRequest};
use crate::barrier::{StorageView, Write};
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_bool, optional_duration, optional_string_map, optional_u64};
use metadata::{KeyMetadata, KvConfig, VersionState};
use serde_json::{json, Map, Value};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

const LOCK_STRIPES: usize = 64;

pub struct KvEngine {
    view: StorageView,
    // Tokio mutexes: a key's read-modify-write spans storage awaits. Striped
    // so writers to different keys rarely wait on each other.
    locks: Vec<tokio::sync::Mutex<()>>,
    upgrade: upgrade::Upgrade,
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_nanos(std::time::SystemTime::now()).to_string()
}

fn versions_field(data: &Map<String, Value>) -> Result<Vec<u64>, ApiError> {
    let list = match data.get("versions") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.parse().ok(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>(),
        Some(Value::String(s)) => s.split(',').map(|p| p.trim().parse().ok()).collect(),
        Some(Value::Number(n)) => n.as_u64().map(|v| vec![v]),
        _ => None,
    };
    match list {
        Some(versions) if !versions.is_empty() => Ok(versions),
        _ => Err(ApiError::bad("no version number provided")),
    }
}

/// A data write's secret (`data`) and check-and-set version (`options.cas`).
fn secret_and_cas(
    data: &Map<String, Value>,
) -> Result<(Map<String, Value>, Option<u64>), ApiError> {
    let secret = match data.get("data") {
        Some(Value::Object(map)) => map.clone(),
        Some(_) => {
            return Err(ApiError::bad(
                "data: expected a JSON object of key/value pairs",
            ))
        }
        None => return Err(ApiError::bad("no data provided")),
    };
    let cas = match data.get("options") {
        Some(Value::Object(options)) => optional_u64(options, "cas")?,
        Some(Value::Null) | None => None,
        Some(_) => return Err(ApiError::bad("options: expected an object")),
    };
    Ok((secret, cas))
}

/// Refuses a write without `cas` where the mount or key requires one, and
/// one whose `cas` is not the current version.
fn check_cas(config: &KvConfig, meta: &KeyMetadata, cas: Option<u64>) -> Result<(), ApiError> {
    if (config.cas_required || meta.cas_required) && cas.is_none() {
        return Err(ApiError::bad(
            "check-and-set parameter required for this call",
        ));
    }
    if let Some(cas) = cas {
        if cas != meta.current_version {
            return Err(ApiError::bad(
                "check-and-set parameter did not match the current version",
            ));
        }
    }
    Ok(())
}

impl KvEngine {
    /// A v2 engine that, before its first request, moves any v1 data left
    /// in its storage (see [`upgrade`]).
    pub fn new(view: StorageView) -> Self {
        Self::with_upgrade(view, false)
    }

    /// A v2 engine for a mount just upgraded from v1: it answers Vault's
    /// "upgrading" error until [`Engine::migrate`] has moved the v1 data.
    pub fn upgrading(view: StorageView) -> Self {
        Self::with_upgrade(view, true)
    }

    fn with_upgrade(view: StorageView, awaiting: bool) -> Self {
        Self {
            view,
            locks: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            upgrade: upgrade::Upgrade::new(awaiting),
        }
    }

    async fn lock(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        let mut hasher = DefaultHasher::new();
        key.hash(&mut hasher);
        let stripe = usize::try_from(
            hasher
                .finish()
                .checked_rem(LOCK_STRIPES as u64)
                .unwrap_or(0),
        )
        .unwrap_or(0);
        // In bounds: reduced modulo LOCK_STRIPES, the length of `locks`.
        #[allow(clippy::indexing_slicing)]
        self.locks[stripe].lock().await
    }

    async fn config(&self) -> Result<KvConfig, ApiError> {
        Ok(self.view.get_json("config").await?.unwrap_or_default())
    }

    async fn metadata(&self, key: &str) -> Result<Option<KeyMetadata>, ApiError> {
        Ok(self.view.get_json(&format!("meta/{key}")).await?)
    }

    fn check_key(key: &str) -> Result<(), ApiError> {
        if key.is_empty() || key.ends_with('/') {
            return Err(ApiError::bad(
                "missing secret path: the path must name a secret, not a folder",
            ));
        }
        Ok(())
    }

    async fn read_data(&self, key: &str, data: &Map<String, Value>) -> Result<Response, ApiError> {
        Self::check_key(key)?;
        let meta = self.metadata(key).await?.ok_or(ApiError::NotFound)?;
        let wanted = optional_u64(data, "version")?
            .filter(|v| *v > 0)
            .unwrap_or(meta.current_version);
        let state = meta.versions.get(&wanted).ok_or(ApiError::NotFound)?;
        let version_meta = state.to_json(wanted, &meta);
        if state.destroyed || state.is_deleted(humantime::parse_rfc3339(&now_rfc3339()).ok()) {
            // Vault answers 404 but still shows the version's metadata.
            return Ok(
                Response::json(json!({"data": null, "metadata": version_meta})).with_status(404),
            );
        }
        let secret: Value = self
            .view
            .get_json(&format!("version/{wanted}/{key}"))
            .await?
            .unwrap_or(Value::Null);
        Ok(Response::json(
            json!({"data": secret, "metadata": version_meta}),
        ))
    }

    /// Writes a new version of a key (or, with `patch`, merges into the
    /// current one), within check-and-set, trimming the oldest versions.
    async fn write_data(
        &self,
        key: &str,
        data: &Map<String, Value>,
        patch: bool,
    ) -> Result<Response, ApiError> {
        Self::check_key(key)?;
        let (secret, cas) = secret_and_cas(data)?;
        let config = self.config().await?;
        let _guard = self.lock(key).await;
        let now = now_rfc3339();
        let mut meta = self
            .metadata(key)
            .await?
            .unwrap_or_else(|| KeyMetadata::new(&now));
        check_cas(&config, &meta, cas)?;
        let merged = if patch {
            self.patched(key, &meta, secret).await?
        } else {
            secret
        };
        let version = meta.current_version.saturating_add(1);
        meta.add_version(version, &now);
        let max_versions = meta.effective_max_versions(&config);
        let trimmed = meta.trim(max_versions);
        let mut writes = vec![Write::json(
            format!("version/{version}/{key}"),
            &Value::Object(merged),
        )];
        writes.extend(
            trimmed
                .iter()
                .map(|v| Write::Delete(format!("version/{v}/{key}"))),
        );
        writes.push(Write::json(format!("meta/{key}"), &meta));
        self.view.write(writes).await?;
        let state = meta.versions.get(&version).cloned().unwrap_or_default();
        Ok(Response::json(state.to_json(version, &meta)))
    }

    /// The current version of a key with `changes` merged in (a null value
    /// removes its field); not found unless the current version is live.
    async fn patched(
        &self,
        key: &str,
        meta: &KeyMetadata,
        changes: Map<String, Value>,
    ) -> Result<Map<String, Value>, ApiError> {
        let current_is_live = meta
            .versions
            .get(&meta.current_version)
            .is_some_and(|s| !s.destroyed && s.deletion_time.is_empty());
        if !current_is_live {
            return Err(ApiError::NotFound);
        }
        let mut base: Map<String, Value> = self
            .view
            .get_json(&format!("version/{}/{key}", meta.current_version))
            .await?
            .unwrap_or_default();
        for (k, v) in changes {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
        Ok(base)
    }

    /// Applies `change` to the listed versions of a key.
    async fn change_versions(
        &self,
        key: &str,
        versions: &[u64],
        change: impl Fn(&mut VersionState, &str),
        destroy: bool,
    ) -> Result<Response, ApiError> {
        Self::check_key(key)?;
        let _guard = self.lock(key).await;
        let Some(mut meta) = self.metadata(key).await? else {
            return Ok(Response::empty());
        };
        let now = now_rfc3339();
        let mut writes = Vec::new();
        for version in versions {
            if let Some(state) = meta.versions.get_mut(version) {
                change(state, &now);
                if destroy {
                    writes.push(Write::Delete(format!("version/{version}/{key}")));
                }
            }
        }
        meta.updated_time = now;
        writes.push(Write::json(format!("meta/{key}"), &meta));
        self.view.write(writes).await?;
        Ok(Response::empty())
    }

    async fn write_metadata(
        &self,
        key: &str,
        data: &Map<String, Value>,
    ) -> Result<Response, ApiError> {
        Self::check_key(key)?;
        let max_versions = optional_u64(data, "max_versions")?;
        let cas_required = optional_bool(data, "cas_required")?;
        let delete_version_after = optional_duration(data, "delete_version_after")?;
        let custom_metadata = optional_string_map(data, "custom_metadata")?;
        let _guard = self.lock(key).await;
        let now = now_rfc3339();
        let mut meta = self
            .metadata(key)
            .await?
            .unwrap_or_else(|| KeyMetadata::new(&now));
        if let Some(v) = max_versions {
            meta.max_versions = v;
        }
        if let Some(v) = cas_required {
            meta.cas_required = v;
        }
        if let Some(v) = delete_version_after {
            meta.delete_version_after = v;
        }
        if let Some(v) = custom_metadata {
            meta.custom_metadata = Some(v);
        }
        meta.updated_time = now;
        self.view.put_json(&format!("meta/{key}"), &meta).await?;
        Ok(Response::empty())
    }

    async fn delete_metadata(&self, key: &str) -> Result<Response, ApiError> {
        Self::check_key(key)?;
        let _guard = self.lock(key).await;
        let Some(meta) = self.metadata(key).await? else {
            return Ok(Response::empty());
        };
        let mut writes: Vec<Write> = meta
            .versions
            .keys()
            .map(|v| Write::Delete(format!("version/{v}/{key}")))
            .collect();
        writes.push(Write::Delete(format!("meta/{key}")));
        self.view.write(writes).await?;
        Ok(Response::empty())
    }

    async fn list(&self, prefix: &str) -> Result<Response, ApiError> {
        let prefix = if prefix.is_empty() || prefix.ends_with('/') {
            prefix.to_string()
        } else {
            format!("{prefix}/")
        };
        Response::keys(self.view.list(&format!("meta/{prefix}")).await?)
    }

    async fn write_config(&self, data: &Map<String, Value>) -> Result<Response, ApiError> {
        let mut config = self.config().await?;
        if let Some(v) = optional_u64(data, "max_versions")? {
            config.max_versions = v;
        }
        if let Some(v) = optional_bool(data, "cas_required")? {
            config.cas_required = v;
        }
        if let Some(v) = optional_duration(data, "delete_version_after")? {
            config.delete_version_after = v;
        }
        self.view.put_json("config", &config).await?;
        Ok(Response::empty())
    }
}

#[async_trait::async_trait]
impl Engine for KvEngine {
    fn help(&self) -> &'static qm_plugin_sdk::help::Help {
        &help::V2
    }

    async fn handle(&self, req: &EngineRequest<'_>) -> Result<Response, ApiError> {
        use Operation::*;
        self.ready().await?;
        let (section, key) = req.path.split_once('/').unwrap_or((req.path, ""));
        match (section, req.operation) {
            ("config", Read) => Ok(Response::json(self.config().await?.to_json())),
            ("config", Create | Update) => self.write_config(req.data).await,
            ("data", Read) => self.read_data(key, req.data).await,
            ("data", Create | Update) => self.write_data(key, req.data, false).await,
            ("data", Patch) => self.write_data(key, req.data, true).await,
            ("data", Delete) => {
                let current = self.metadata(key).await?.map(|m| m.current_version);
                match current {
                    Some(v) if v > 0 => {
                        self.change_versions(key, &[v], |s, now| s.soft_delete(now), false)
                            .await
                    }
                    _ => Ok(Response::empty()),
                }
            }
            ("delete", Create | Update) => {
                let versions = versions_field(req.data)?;
                self.change_versions(key, &versions, |s, now| s.soft_delete(now), false)
                    .await
            }
            ("undelete", Create | Update) => {
                let versions = versions_field(req.data)?;
                self.change_versions(key, &versions, |s, _| s.undelete(), false)
                    .await
            }
            ("destroy", Create | Update) => {
                let versions = versions_field(req.data)?;
                self.change_versions(key, &versions, |s, _| s.destroyed = true, true)
                    .await
            }
            ("metadata", List) => self.list(key).await,
            ("metadata", Read) => {
                Self::check_key(key)?;
                let meta = self.metadata(key).await?.ok_or(ApiError::NotFound)?;
                Ok(Response::json(meta.to_json()))
            }
            ("metadata", Create | Update) => self.write_metadata(key, req.data).await,
            ("metadata", Delete) => self.delete_metadata(key).await,
            ("config" | "data" | "delete" | "undelete" | "destroy" | "metadata", _) => {
                Err(ApiError::UnsupportedOperation)
            }
            _ => Err(ApiError::NoHandler(format!(
                "no handler for route \"{}{}\". route entry not found.",
                req.mount.path, req.path
            ))),
        }
    }

    async fn migrate(&self) -> Result<(), ApiError> {
        self.migrate_now().await
    }

    async fn exists(&self, req: &EngineRequest<'_>) -> Result<bool, ApiError> {
        self.ready().await?;
        match req.path.split_once('/') {
            Some(("data" | "metadata", key)) if !key.is_empty() => {
                Ok(self.metadata(key).await?.is_some())
            }
            Some(("config", _)) | None => Ok(true),
            _ => Ok(true),
        }
    }
}
