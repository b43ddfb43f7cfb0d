//! The lease manager: one per unseal, over the ledger, the token store and
//! the plugins that issued leases. Tokens' own leases, renewals and lookups
//! are here; issuing is in `issue.rs`, revoking in `revoke.rs`, the expiry
//! schedule in `expiry.rs`, background revocations in `jobs.rs`.

use super::jobs::{Jobs, QuotaLocks};
use super::outage::Outages;
use super::{LeaseError, LeaseKind, LeaseRecord, LeaseState, LeaseStore};
use crate::auth::token::store::{TokenEntry, TokenStore};
use crate::barrier::Barrier;
use crate::clock::Clock;
use crate::logical::{LeaseBlock, MountConfig, Response};
use crate::metrics::Metrics;
use qm_plugin_sdk::{Internal, LeaseInfo, PluginError, PluginStorage, SecretsEngine};
use serde_json::{json, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// The plugin mounted at a path, with its storage.
pub struct Issuer {
    pub engine: Arc<dyn SecretsEngine>,
    pub storage: Box<dyn PluginStorage>,
}

/// Where the manager finds the plugin that issued a lease: the core's mount
/// table implements it.
pub trait Issuers: Send + Sync {
    /// The plugin mounted at `mount` (a mount path with its trailing `/`).
    fn issuer(&self, mount: &str) -> Option<Issuer>;
}

/// The system-wide lease limits, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub default_ttl: i64,
    pub max_ttl: i64,
}

/// A mount's (default, max) lease TTLs, system defaults filled in; the max
/// is never more than the system's. The one place TTL limits are decided.
pub fn mount_ttls(config: &MountConfig, system: Limits) -> (i64, i64) {
    let max = match config.max_lease_ttl {
        0 => system.max_ttl,
        mount if system.max_ttl > 0 => mount.min(system.max_ttl),
        mount => mount,
    };
    let default = if config.default_lease_ttl > 0 {
        config.default_lease_ttl
    } else {
        system.default_ttl
    };
    (default.min(max), max)
}

/// The lease id of a token with a TTL.
pub(super) fn token_lease_id(id_hash: &str) -> String {
    format!("auth/token/create/{id_hash}")
}

pub(super) fn info(record: &LeaseRecord) -> LeaseInfo {
    LeaseInfo {
        lease_id: record.lease_id.clone(),
        role: record.role.clone(),
        internal: Internal::from_stored(record.internal.clone()),
        issued_at: record.issued_at,
        expire_at: record.expire_at,
    }
}

pub struct LeaseManager {
    pub(super) ledger: LeaseStore,
    pub(super) tokens: Arc<TokenStore>,
    pub(super) issuers: Arc<dyn Issuers>,
    pub(super) barrier: Arc<Barrier>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) metrics: Arc<Metrics>,
    /// Marks pending leases written by this process, so only earlier boots'
    /// pending leases are rolled back.
    pub(super) boot_id: String,
    pub(super) limits: Limits,
    /// Where background and bulk revocation work runs (the current runtime
    /// when `None`).
    pub(super) background: Option<tokio::runtime::Handle>,
    /// Background revocations (`sync=false`), by job id.
    pub(super) jobs: Jobs,
    /// Serializes issuing for roles with `max_active_leases`.
    pub(super) quotas: QuotaLocks,
    /// Whether pending leases from earlier boots were rolled back.
    pub(super) restored: AtomicBool,
    /// Mounts whose backend could not be reached, probed until it answers.
    pub(super) outages: Outages,
}

/// What a lease manager is built from.
pub struct Parts {
    pub ledger: LeaseStore,
    pub tokens: Arc<TokenStore>,
    pub issuers: Arc<dyn Issuers>,
    pub barrier: Arc<Barrier>,
    pub clock: Arc<dyn Clock>,
    pub metrics: Arc<Metrics>,
    pub boot_id: String,
    pub limits: Limits,
    pub background: Option<tokio::runtime::Handle>,
}

impl LeaseManager {
    pub fn new(parts: Parts) -> Self {
        Self {
            ledger: parts.ledger,
            tokens: parts.tokens,
            issuers: parts.issuers,
            barrier: parts.barrier,
            clock: parts.clock,
            metrics: parts.metrics,
            boot_id: parts.boot_id,
            limits: parts.limits,
            background: parts.background,
            jobs: Jobs::default(),
            quotas: QuotaLocks::default(),
            restored: AtomicBool::new(false),
            outages: Outages::default(),
        }
    }

    /// The ledger, for reads (listings, counts, lookups).
    pub fn ledger(&self) -> &LeaseStore {
        &self.ledger
    }

    /// A background revocation's progress.
    pub fn job(&self, id: &str) -> Option<super::JobStatus> {
        self.jobs.get(id)
    }

    /// A mount's (default, max) lease TTLs under this server's limits.
    pub fn ttls(&self, config: &MountConfig) -> (i64, i64) {
        mount_ttls(config, self.limits)
    }

    /// Records a lease for a token with a TTL, so it expires through the
    /// same machinery as every other lease.
    pub async fn track_token(&self, entry: &TokenEntry) -> Result<(), LeaseError> {
        let Some(expire_at) = entry.expire_time else {
            return Ok(());
        };
        let lease_id = token_lease_id(&entry.id_hash);
        let previous = self.ledger.get(&lease_id).await?;
        let record = LeaseRecord {
            lease_id,
            kind: LeaseKind::Token,
            mount: "auth/token/".into(),
            role: entry.role.clone().unwrap_or_default(),
            internal: json!({ "id_hash": entry.id_hash }),
            token_hash: None,
            issued_at: entry.creation_time,
            expire_at,
            max_expire_at: expire_at,
            renewable: entry.renewable,
            state: LeaseState::Active,
            due_at: expire_at,
            revoke_attempts: 0,
            last_error: None,
            backend_unreachable: false,
            last_renewal: previous.as_ref().map(|_| self.clock.now_unix()),
        };
        Ok(self
            .ledger
            .put(&record, previous.as_ref(), &self.boot_id)
            .await?)
    }

    /// Extends a lease by `increment` (or its original TTL), capped by its
    /// max TTL; the plugin moves the credential's own expiry.
    pub async fn renew(
        &self,
        lease_id: &str,
        increment: Option<i64>,
    ) -> Result<Response, LeaseError> {
        let invalid = |why: &str| LeaseError::Invalid(why.to_string());
        let record = self
            .ledger
            .get(lease_id)
            .await?
            .ok_or_else(|| invalid("lease not found or lease is not renewable"))?;
        if record.kind == LeaseKind::Token {
            return Err(invalid(
                "this is a token's lease: renew it with auth/token/renew",
            ));
        }
        if !record.renewable {
            return Err(invalid("lease is not renewable"));
        }
        if record.state != LeaseState::Active {
            return Err(invalid("lease is being revoked and cannot be renewed"));
        }
        let now = self.clock.now_unix();
        let original_ttl = record
            .expire_at
            .saturating_sub(record.last_renewal.unwrap_or(record.issued_at));
        let wanted = increment.filter(|i| *i > 0).unwrap_or(original_ttl);
        let mut warnings = Vec::new();
        let mut expire_at = now.saturating_add(wanted);
        if expire_at > record.max_expire_at {
            expire_at = record.max_expire_at;
            warnings.push(format!(
                "TTL of {wanted}s exceeded the lease's max TTL; capped to {}s",
                expire_at.saturating_sub(now).max(0)
            ));
        }
        let issuer = self.issuers.issuer(&record.mount).ok_or_else(|| {
            LeaseError::Invalid(format!("the mount {} no longer exists", record.mount))
        })?;
        let mut renewed = record.clone();
        renewed.expire_at = expire_at;
        renewed.due_at = expire_at;
        renewed.last_renewal = Some(now);
        issuer
            .engine
            .renew(&info(&renewed), issuer.storage.as_ref())
            .await?;
        self.ledger
            .put(&renewed, Some(&record), &self.boot_id)
            .await?;
        Ok(Response {
            lease: Some(LeaseBlock {
                lease_id: renewed.lease_id.clone(),
                lease_duration: expire_at.saturating_sub(now).max(0),
                renewable: renewed.renewable,
            }),
            warnings,
            ..Response::default()
        })
    }

    /// Records a failed revocation (or rollback) of `record` and schedules
    /// its retry, durably; a backend found unreachable is probed until it
    /// answers. Returns the record as now stored.
    pub(super) async fn reschedule(
        &self,
        record: &LeaseRecord,
        error: &PluginError,
    ) -> Result<LeaseRecord, LeaseError> {
        let now = self.clock.now_unix();
        let mut retry = record.clone();
        retry.schedule_retry(now, error);
        self.ledger.put(&retry, Some(record), &self.boot_id).await?;
        if retry.backend_unreachable {
            self.outages.failed(&retry.mount, info(&retry), now);
        }
        Ok(retry)
    }

    /// Refuses work with effects outside the store (creating or dropping
    /// a user) once this node may no longer write: a standby's, or a
    /// deposed active node's (see `core::ha`).
    pub(super) fn still_writable(&self) -> Result<(), LeaseError> {
        if self.barrier.writable() {
            return Ok(());
        }
        Err(LeaseError::Barrier(crate::barrier::BarrierError::Storage(
            crate::storage::StorageError::Fenced(
                "this node is no longer the active node; the lease is left to the new one".into(),
            ),
        )))
    }

    /// `sys/leases/lookup` data.
    pub async fn lookup(&self, lease_id: &str) -> Result<Value, LeaseError> {
        let record = self
            .ledger
            .get(lease_id)
            .await?
            .ok_or_else(|| LeaseError::Invalid("invalid lease".into()))?;
        let now = self.clock.now_unix();
        Ok(json!({
            "id": record.lease_id,
            "issue_time": crate::clock::rfc3339(record.issued_at),
            "expire_time": crate::clock::rfc3339(record.expire_at),
            "last_renewal": record.last_renewal.map(crate::clock::rfc3339),
            "renewable": record.renewable,
            "ttl": record.expire_at.saturating_sub(now).max(0),
            "state": record.state,
            "revoke_attempts": record.revoke_attempts,
            "last_error": record.last_error,
            "next_attempt_time": (record.revoke_attempts > 0).then(|| crate::clock::rfc3339(record.due_at)),
        }))
    }

    /// Runs `work` on the background runtime (or the current one).
    pub(super) fn spawn_background<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.background {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        }
    }
}
