//! Non-human identities: who owns each identity-bearing object, when it was
//! last used, and whether it was disabled (its owner offboarded).
//!
//! Identities are the objects that mint credentials or are credentials:
//! engine roles (`database/roles/NAME`, `database/static-roles/NAME`,
//! `aws/roles/NAME`), auth roles (`auth/approle/role/NAME`,
//! `auth/jwt/role/NAME`) and tokens (`auth/token/accessors/ACCESSOR`). A
//! write to a role may carry `owner`, `purpose`, `environment` and `labels`;
//! the core keeps them here, next to the backend's own role (no plugin needs
//! to know), and adds them to the role's read. Tokens take theirs from
//! `meta.owner`, `meta.purpose`, `meta.environment`.
//!
//! Keys below `sys/nhi/`: `meta/<identity>`, `used/<identity>` (unix
//! seconds, written at most once a minute per identity, relaxed),
//! `owners/<owner>` (offboarding time), `drift-config`,
//! `by-owner/<owner>/<identity>` (the roles by owner, `owner_index`),
//! `drift/workloads/<identity>` (drift baselines).

pub mod drift;
pub mod hooks;
pub mod inventory;
mod owner_index;
pub mod paths;
pub mod risk_index;

use crate::barrier::{StorageView, Write};
use crate::error::ApiError;
use crate::params::{optional_str, optional_string_map};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

/// The points each risk reason adds (`[nhi.risk_weights]` in the config).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskWeights {
    pub no_owner: u32,
    pub owner_offboarded: u32,
    pub broad_policy: u32,
    pub never_expires: u32,
    pub long_ttl: u32,
    pub unused: u32,
    pub many_leases: u32,
    pub rotation_overdue: u32,
    pub unbound_secret_ids: u32,
    pub aws_wildcard: u32,
    pub backend_gone: u32,
    pub unused_write: u32,
    pub token_gone: u32,
    pub privileged: u32,
    pub exposed_in_files: u32,
    pub old_credential: u32,
}

impl Default for RiskWeights {
    fn default() -> Self {
        Self {
            no_owner: 25,
            owner_offboarded: 30,
            broad_policy: 25,
            never_expires: 20,
            long_ttl: 10,
            unused: 15,
            many_leases: 10,
            rotation_overdue: 20,
            unbound_secret_ids: 10,
            aws_wildcard: 20,
            backend_gone: 10,
            unused_write: 10,
            token_gone: 30,
            privileged: 25,
            exposed_in_files: 30,
            old_credential: 10,
        }
    }
}

/// The `[nhi]` section of the server config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NhiSettings {
    /// Refuse to create a role (or a token) without an owner.
    pub require_owner: bool,
    pub risk_weights: RiskWeights,
}

/// How often one identity's last use is written.
const TOUCH_EVERY: i64 = 60;
/// Past this many remembered identities, the stale ones are forgotten.
const TOUCHED_KEPT: usize = 100_000;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IdentityMeta {
    pub owner: String,
    pub purpose: String,
    pub environment: String,
    pub labels: BTreeMap<String, String>,
    /// Unix seconds of the first write the broker saw.
    pub created: i64,
    /// Why the identity may no longer mint credentials, if it may not.
    #[serde(default)]
    pub disabled: Option<String>,
}

/// The ownership fields of a role write.
#[derive(Debug, Default)]
pub struct OwnershipFields {
    owner: Option<String>,
    purpose: Option<String>,
    environment: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

impl OwnershipFields {
    /// Whether the write names an owner.
    pub fn has_owner(&self) -> bool {
        self.owner.as_ref().is_some_and(|o| !o.is_empty())
    }

    /// Removes the ownership fields from a role write (the backend never
    /// sees them).
    pub fn take(data: &mut Map<String, Value>) -> Result<Self, ApiError> {
        let text = |data: &Map<String, Value>, f: &str| -> Result<Option<String>, ApiError> {
            Ok(optional_str(data, f)?.map(|v| v.trim().to_string()))
        };
        let fields = Self {
            owner: text(data, "owner")?,
            purpose: text(data, "purpose")?,
            environment: text(data, "environment")?,
            labels: optional_string_map(data, "labels")?,
        };
        for field in ["owner", "purpose", "environment", "labels"] {
            data.remove(field);
        }
        Ok(fields)
    }

    fn apply(self, meta: &mut IdentityMeta) {
        if let Some(owner) = self.owner {
            meta.owner = owner;
        }
        if let Some(purpose) = self.purpose {
            meta.purpose = purpose;
        }
        if let Some(environment) = self.environment {
            meta.environment = environment;
        }
        if let Some(labels) = self.labels {
            meta.labels = labels;
        }
    }
}

pub struct NhiStore {
    view: StorageView,
    // A std lock: a map lookup per request, never held across an await.
    touched: Mutex<HashMap<String, i64>>,
    pub drift: drift::DriftWatch,
    pub recent: drift::recent::RecentRequests,
    pub risk: risk_index::RiskIndex,
    // A std lock: cloned per request, never held across an await.
    drift_config: std::sync::RwLock<drift::DriftConfig>,
}

impl NhiStore {
    pub async fn load(view: StorageView) -> Result<Self, ApiError> {
        let drift_config = view.get_json("drift-config").await?.unwrap_or_default();
        owner_index::index_once(&view).await?;
        Ok(Self {
            drift: drift::DriftWatch::load(&view).await?,
            view,
            touched: Mutex::new(HashMap::new()),
            recent: drift::recent::RecentRequests::default(),
            risk: risk_index::RiskIndex::default(),
            drift_config: std::sync::RwLock::new(drift_config),
        })
    }

    pub fn drift_config(&self) -> drift::DriftConfig {
        self.drift_config
            .read()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    pub async fn set_drift_config(&self, config: drift::DriftConfig) -> Result<(), ApiError> {
        self.view.put_json("drift-config", &config).await?;
        if let Ok(mut current) = self.drift_config.write() {
            *current = config;
        }
        Ok(())
    }

    pub async fn meta(&self, identity: &str) -> Result<Option<IdentityMeta>, ApiError> {
        Ok(self.view.get_json(&format!("meta/{identity}")).await?)
    }

    /// Records a role write's ownership fields (creating the record, with
    /// its creation time, on the first write).
    pub async fn record_write(
        &self,
        identity: &str,
        fields: OwnershipFields,
        now: i64,
    ) -> Result<(), ApiError> {
        let mut meta = self.meta(identity).await?.unwrap_or(IdentityMeta {
            created: now,
            ..IdentityMeta::default()
        });
        fields.apply(&mut meta);
        self.put_meta(identity, &meta).await
    }

    /// Writes a role's ownership record, and moves it in the owner index
    /// when its owner changed (one batch).
    pub async fn put_meta(&self, identity: &str, meta: &IdentityMeta) -> Result<(), ApiError> {
        let old = self.meta(identity).await?;
        let mut writes = owner_index::moved(identity, old.as_ref(), Some(meta));
        writes.push(Write::json(format!("meta/{identity}"), meta));
        Ok(self.view.write(writes).await?)
    }

    /// The identities of the roles `owner` owns (by their ownership
    /// records; a role deleted behind the broker's back may still be named).
    pub async fn owned_roles(&self, owner: &str) -> Result<Vec<String>, ApiError> {
        Ok(owner_index::owned(&self.view, owner).await?)
    }

    /// Stores the drift baselines that changed (every 30 s, and on seal or
    /// stop); a failure is logged and retried by the next store.
    pub async fn store_drift(&self) {
        match self.drift.store(&self.view).await {
            Ok(0) => {}
            Ok(n) => tracing::debug!(baselines = n, "drift baselines stored"),
            Err(e) => {
                tracing::warn!(error = %e, "storing the drift baselines failed; retrying later")
            }
        }
    }

    pub async fn forget(&self, identity: &str) -> Result<(), ApiError> {
        self.drift.forget(&self.view, identity).await?;
        self.recent.forget(identity);
        let old = self.meta(identity).await?;
        let mut writes = owner_index::moved(identity, old.as_ref(), None);
        writes.push(Write::Delete(format!("meta/{identity}")));
        writes.push(Write::Delete(format!("used/{identity}")));
        self.view.write(writes).await?;
        Ok(())
    }

    /// Why `identity` may not mint credentials, if it may not.
    pub async fn disabled(&self, identity: &str) -> Result<Option<String>, ApiError> {
        Ok(self.meta(identity).await?.and_then(|m| m.disabled))
    }

    /// Notes a use; written at most once a minute per identity.
    pub fn touch(&self, identity: &str, now: i64) {
        let due = match self.touched.lock() {
            Ok(mut touched) => match touched.get(identity) {
                Some(last) if now.saturating_sub(*last) < TOUCH_EVERY => false,
                _ => {
                    if touched.len() >= TOUCHED_KEPT {
                        touched.retain(|_, last| now.saturating_sub(*last) < TOUCH_EVERY);
                    }
                    touched.insert(identity.to_string(), now);
                    true
                }
            },
            Err(_) => false,
        };
        if due {
            let write = Write::json(format!("used/{identity}"), &now);
            if let Err(e) = self.view.write_relaxed(vec![write]) {
                tracing::warn!(error = %e, "recording an identity's last use failed");
            }
        }
    }

    pub async fn last_used(&self, identity: &str) -> Result<Option<i64>, ApiError> {
        Ok(self.view.get_json(&format!("used/{identity}")).await?)
    }

    /// When `owner` was offboarded, if they were.
    pub async fn offboarded(&self, owner: &str) -> Result<Option<i64>, ApiError> {
        if owner.is_empty() || owner.contains('/') {
            return Ok(None);
        }
        Ok(self.view.get_json(&format!("owners/{owner}")).await?)
    }

    pub async fn mark_offboarded(&self, owner: &str, now: i64) -> Result<(), ApiError> {
        Ok(self.view.put_json(&format!("owners/{owner}"), &now).await?)
    }
}
