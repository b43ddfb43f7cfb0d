//! Leases, end to end: issuing a plugin's credential crash-safely, renewing,
//! revoking (alone, by prefix, with a token), and retrying revocations that
//! fail until they succeed or are forced.
//!
//! Issue order: the lease is recorded *pending* and fsync'd, then the plugin
//! creates the credential, then the lease turns *active*. A crash in between
//! leaves a pending lease that the next unseal rolls back.

use super::mounts::{Backend, Mounted};
use super::request::{LeaseBlock, Response};
use super::{Active, Core};
use crate::auth::token::store::TokenEntry;
use crate::error::ApiError;
use crate::lease::{LeaseKind, LeaseRecord, LeaseState};
use futures::StreamExt;
use qm_plugin_sdk::{Internal, LeaseInfo, SecretPlan};
use rand::distributions::{Alphanumeric, DistString};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Whether a revocation's bookkeeping is fsync'd before it returns, or left
/// for one sync at the end of a batch. Batching is safe because revocation is
/// idempotent: a deletion lost in a crash only means the lease is revoked
/// again (the user is already gone, which counts as success), and nobody is
/// told "revoked" before the batch's sync.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pace {
    Durable,
    Batched,
}

/// How many revocations run at once in revoke-prefix.
pub(super) const REVOKE_CONCURRENCY: usize = 16;

/// The lease id of a token with a TTL.
pub(crate) fn token_lease_id(id_hash: &str) -> String {
    format!("auth/token/create/{id_hash}")
}

fn info(record: &LeaseRecord) -> LeaseInfo {
    LeaseInfo {
        lease_id: record.lease_id.clone(),
        role: record.role.clone(),
        internal: Internal::from_stored(record.internal.clone()),
        issued_at: record.issued_at,
        expire_at: record.expire_at,
    }
}

/// Progress of a background revoke-prefix.
#[derive(Clone, Default, serde::Serialize)]
pub struct JobStatus {
    pub prefix: String,
    pub total: usize,
    pub revoked: usize,
    pub failed: usize,
    pub done: bool,
}

/// What a background revocation covers: one lease by its exact id, or a
/// prefix (see [`prefix_ids`]).
pub(crate) enum Revocation {
    Lease(String),
    Prefix(String),
}

/// The leases a revoke-prefix of `prefix` covers, as Vault decides: a prefix
/// that is itself a lease id is that lease alone; any other prefix ends at a
/// segment boundary, so `database/creds/app` covers `database/creds/app/...`
/// and never `database/creds/app-admin/...`.
async fn prefix_ids(active: &Active, prefix: &str) -> Result<Vec<String>, ApiError> {
    if prefix.is_empty() || prefix.ends_with('/') {
        return active.leases.ids_with_prefix(prefix).await;
    }
    if active.leases.get(prefix).await?.is_some() {
        return Ok(vec![prefix.to_string()]);
    }
    active.leases.ids_with_prefix(&format!("{prefix}/")).await
}

/// Background jobs by id. A std mutex: held for map access only.
#[derive(Default)]
pub struct Jobs(Mutex<HashMap<String, JobStatus>>);

impl Jobs {
    pub fn get(&self, id: &str) -> Option<JobStatus> {
        self.0.lock().ok().and_then(|m| m.get(id).cloned())
    }

    fn update(&self, id: &str, change: impl FnOnce(&mut JobStatus)) {
        if let Ok(mut map) = self.0.lock() {
            if let Some(job) = map.get_mut(id) {
                change(job);
            }
        }
    }

    fn insert(&self, id: &str, job: JobStatus) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(id.to_string(), job);
        }
    }
}

/// One lock per capped lease prefix, so concurrent issues cannot all pass
/// the `max_active_leases` check before any of them is recorded. A std
/// mutex around the map; the per-prefix locks are held across awaits.
#[derive(Default)]
pub struct QuotaLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl QuotaLocks {
    fn for_prefix(&self, prefix: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.0.lock() {
            Ok(mut map) => Arc::clone(map.entry(prefix.to_string()).or_default()),
            // A poisoned map only loses the sharing, never an issue.
            Err(_) => Arc::default(),
        }
    }
}

impl Core {
    /// The mount's (default, max) lease TTLs, system defaults filled in; the
    /// max is never more than the system's.
    pub(crate) fn mount_ttls(&self, mounted: &Mounted) -> (i64, i64) {
        let config = &mounted.entry.config;
        let system_max = self.settings.max_lease_ttl;
        let max = match config.max_lease_ttl {
            0 => system_max,
            mount if system_max > 0 => mount.min(system_max),
            mount => mount,
        };
        let default = if config.default_lease_ttl > 0 {
            config.default_lease_ttl
        } else {
            self.settings.default_lease_ttl
        };
        (default.min(max), max)
    }

    /// Leases and issues a plugin's credential (see the module doc for the order).
    pub(crate) async fn issue_secret(
        &self,
        active: &Active,
        caller: &TokenEntry,
        mounted: &Mounted,
        request_path: &str,
        plan: SecretPlan,
    ) -> Result<Response, ApiError> {
        let Backend::Plugin(plugin) = &mounted.backend else {
            return Err(ApiError::Internal(
                "only plugins issue leased secrets".into(),
            ));
        };
        let now = self.clock.now_unix();
        let (default_ttl, mount_max) = self.mount_ttls(mounted);
        let max_ttl = if plan.max_ttl > 0 {
            plan.max_ttl.min(mount_max)
        } else {
            mount_max
        };
        let ttl = if plan.ttl > 0 { plan.ttl } else { default_ttl }.min(max_ttl);
        let prefix = format!("{}/", request_path.trim_end_matches('/'));
        let mut record = LeaseRecord {
            lease_id: format!(
                "{prefix}{}",
                Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24)
            ),
            kind: LeaseKind::Secret,
            mount: mounted.entry.path.clone(),
            role: plan.role.clone(),
            internal: plan.internal.to_stored(),
            token_hash: Some(caller.id_hash.clone()),
            issued_at: now,
            expire_at: now.saturating_add(ttl),
            max_expire_at: now.saturating_add(max_ttl),
            renewable: plan.renewable,
            state: LeaseState::Pending,
            due_at: now.saturating_add(ttl),
            revoke_attempts: 0,
            last_error: None,
            last_renewal: None,
        };
        match plan.max_active_leases {
            None => active.leases.put(&record, None, &self.boot_id).await?,
            Some(cap) => {
                // Count and record under the prefix's lock; wait for the
                // disk after releasing it, so issues still share fsyncs.
                let lock = active.quotas.for_prefix(&prefix);
                let held = lock.lock().await;
                let limit = usize::try_from(cap).unwrap_or(usize::MAX);
                if active.leases.count_with_prefix(&prefix, limit).await? >= limit {
                    return Err(ApiError::TooManyRequests(format!(
                        "role {:?} has reached its cap of {cap} active leases (max_active_leases)",
                        plan.role
                    )));
                }
                active.leases.put_relaxed(&record, None, &self.boot_id)?;
                drop(held);
                self.barrier.sync().await?;
            }
        }
        let storage = mounted.plugin_storage(&self.barrier);
        let mut data = plan.data;
        match plugin.activate(&info(&record), &data, &storage).await {
            Ok(extra) => data.extend(extra),
            Err(error) => {
                // Undo now; if even that fails the pending lease stays and is retried.
                match plugin.rollback(&info(&record), &storage).await {
                    Ok(()) => active.leases.delete(&record).await?,
                    Err(rollback) => {
                        let previous = record.clone();
                        record.schedule_retry(now, rollback.to_string());
                        active
                            .leases
                            .put(&record, Some(&previous), &self.boot_id)
                            .await?;
                    }
                }
                return Err(error.into());
            }
        }
        let previous = record.clone();
        record.state = LeaseState::Active;
        active
            .leases
            .put(&record, Some(&previous), &self.boot_id)
            .await?;
        Ok(Response {
            data: Some(data),
            lease: Some(LeaseBlock {
                lease_id: record.lease_id.clone(),
                lease_duration: ttl,
                renewable: record.renewable,
            }),
            warnings: plan.warnings,
            ..Response::default()
        })
    }

    /// Records a lease for a token with a TTL, so it expires through the
    /// same machinery as every other lease.
    pub(crate) async fn track_token(
        &self,
        active: &Active,
        entry: &TokenEntry,
    ) -> Result<(), ApiError> {
        let Some(expire_at) = entry.expire_time else {
            return Ok(());
        };
        let lease_id = token_lease_id(&entry.id_hash);
        let previous = active.leases.get(&lease_id).await?;
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
            last_renewal: previous.as_ref().map(|_| self.clock.now_unix()),
        };
        active
            .leases
            .put(&record, previous.as_ref(), &self.boot_id)
            .await
    }

    /// Revokes one lease. Returns the plugin's warnings. On failure the lease
    /// is kept and its next attempt scheduled.
    pub(crate) async fn revoke_lease(
        &self,
        active: &Active,
        lease_id: &str,
    ) -> Result<Vec<String>, ApiError> {
        self.revoke_lease_paced(active, lease_id, None, Pace::Durable)
            .await
    }

    /// `due_entry`: the due time of the `due/` entry that led here, if any.
    /// A lease already gone counts as revoked; its leftover entries go.
    pub(super) async fn revoke_lease_paced(
        &self,
        active: &Active,
        lease_id: &str,
        due_entry: Option<i64>,
        pace: Pace,
    ) -> Result<Vec<String>, ApiError> {
        let Some(record) = active.leases.get(lease_id).await? else {
            active.leases.forget_entries(lease_id, due_entry, None)?;
            return Ok(Vec::new());
        };
        match record.kind {
            LeaseKind::Token => {
                let hash = record
                    .internal
                    .get("id_hash")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                self.revoke_token_paced(active, &hash, pace).await?;
                // release_token deleted the lease at the token's own id; one
                // recorded under another id (seeded, imported) goes here.
                if record.lease_id != token_lease_id(&hash) {
                    match pace {
                        Pace::Durable => active.leases.delete(&record).await?,
                        Pace::Batched => active.leases.delete_relaxed(&record)?,
                    }
                }
                Ok(Vec::new())
            }
            LeaseKind::Secret => self.revoke_secret(active, record, pace).await,
        }
    }

    async fn revoke_secret(
        &self,
        active: &Active,
        record: LeaseRecord,
        pace: Pace,
    ) -> Result<Vec<String>, ApiError> {
        let outcome = match active
            .mounts
            .get(&record.mount)
            .map(|m| (m.backend.clone(), m))
        {
            Some((Backend::Plugin(plugin), mounted)) => {
                let storage = mounted.plugin_storage(&self.barrier);
                if record.state == LeaseState::Pending {
                    plugin
                        .rollback(&info(&record), &storage)
                        .await
                        .map(|()| Vec::new())
                } else {
                    plugin.revoke(&info(&record), &storage).await
                }
            }
            _ => Err(qm_plugin_sdk::PluginError::Backend(format!(
                "the mount {} that issued this lease no longer exists",
                record.mount
            ))),
        };
        match outcome {
            Ok(warnings) => {
                match pace {
                    Pace::Durable => active.leases.delete(&record).await?,
                    Pace::Batched => active.leases.delete_relaxed(&record)?,
                }
                tracing::info!(lease_id = %record.lease_id, "lease revoked");
                Ok(warnings)
            }
            Err(error) => {
                self.metrics.revocation_failed();
                let mut retry = record.clone();
                retry.schedule_retry(self.clock.now_unix(), error.to_string());
                tracing::warn!(
                    lease_id = %record.lease_id,
                    attempts = retry.revoke_attempts,
                    irrevocable = retry.state == LeaseState::Irrevocable,
                    error = %error,
                    "lease revocation failed; will retry"
                );
                active
                    .leases
                    .put(&retry, Some(&record), &self.boot_id)
                    .await?;
                Err(error.into())
            }
        }
    }

    /// Removes a lease record without asking the backend. Says so in the log.
    pub(crate) async fn force_forget(
        &self,
        active: &Active,
        lease_id: &str,
    ) -> Result<(), ApiError> {
        if let Some(record) = active.leases.get(lease_id).await? {
            active.leases.delete_relaxed(&record)?;
            tracing::warn!(lease_id = %lease_id, "lease removed by revoke-force; the backend was not asked");
        }
        Ok(())
    }

    /// Revokes a token, its children, and every lease any of them holds.
    /// A lease that fails to revoke stays scheduled for retry.
    pub(crate) async fn revoke_token(
        &self,
        active: &Active,
        id_hash: &str,
    ) -> Result<(), ApiError> {
        self.revoke_token_paced(active, id_hash, Pace::Durable)
            .await
    }

    pub(super) async fn revoke_token_paced(
        &self,
        active: &Active,
        id_hash: &str,
        pace: Pace,
    ) -> Result<(), ApiError> {
        for hash in active.tokens.tree(id_hash).await? {
            self.release_token(active, &hash, pace).await?;
            match pace {
                Pace::Durable => active.tokens.delete(&hash).await?,
                Pace::Batched => active.tokens.delete_relaxed(&hash).await?,
            }
        }
        Ok(())
    }

    /// Revokes a token and its leases, leaving its children as orphans.
    pub(crate) async fn revoke_token_orphan(
        &self,
        active: &Active,
        id_hash: &str,
    ) -> Result<(), ApiError> {
        self.release_token(active, id_hash, Pace::Durable).await?;
        active.tokens.revoke_orphan(id_hash).await
    }

    /// Revokes the leases a token holds and forgets its own lease.
    async fn release_token(&self, active: &Active, hash: &str, pace: Pace) -> Result<(), ApiError> {
        for lease_id in active.leases.of_token(hash).await? {
            match active.leases.get(&lease_id).await? {
                Some(record) => {
                    let _ = self.revoke_secret(active, record, pace).await;
                }
                None => active.leases.forget_entries(&lease_id, None, Some(hash))?,
            }
        }
        if let Some(own) = active.leases.get(&token_lease_id(hash)).await? {
            // Durable with the token's deletion, which always follows.
            active.leases.delete_relaxed(&own)?;
        }
        Ok(())
    }

    /// Revokes (or with `force`, forgets) every lease under `prefix`, with
    /// bounded concurrency. Returns (revoked, failed).
    pub(crate) async fn revoke_prefix(
        &self,
        active: &Active,
        prefix: &str,
        force: bool,
        job: Option<&str>,
    ) -> Result<(usize, usize), ApiError> {
        let ids = prefix_ids(active, prefix).await?;
        self.revoke_ids(active, ids, force, job).await
    }

    async fn revoke_ids(
        &self,
        active: &Active,
        ids: Vec<String>,
        force: bool,
        job: Option<&str>,
    ) -> Result<(usize, usize), ApiError> {
        if let Some(job) = job {
            active.jobs.update(job, |j| j.total = ids.len());
        }
        let results: Vec<bool> = futures::stream::iter(ids)
            .map(|id| async move {
                let ok = if force {
                    self.force_forget(active, &id).await.is_ok()
                } else {
                    self.revoke_lease_paced(active, &id, None, Pace::Batched)
                        .await
                        .is_ok()
                };
                if let Some(job) = job {
                    active.jobs.update(job, |j| {
                        if ok {
                            j.revoked = j.revoked.saturating_add(1);
                        } else {
                            j.failed = j.failed.saturating_add(1);
                        }
                    });
                }
                ok
            })
            .buffer_unordered(REVOKE_CONCURRENCY)
            .collect()
            .await;
        // One fsync for the whole batch's bookkeeping, before anyone hears "done".
        self.barrier.sync().await?;
        let revoked = results.iter().filter(|ok| **ok).count();
        Ok((revoked, results.len().saturating_sub(revoked)))
    }

    /// Starts a revocation in the background; returns its job id.
    pub(crate) fn start_revoke_job(
        self: &Arc<Self>,
        active: Arc<Active>,
        target: Revocation,
        force: bool,
    ) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let shown = match &target {
            Revocation::Lease(lease) | Revocation::Prefix(lease) => lease.clone(),
        };
        active.jobs.insert(
            &id,
            JobStatus {
                prefix: shown.clone(),
                ..JobStatus::default()
            },
        );
        let core = Arc::clone(self);
        let job = id.clone();
        self.spawn_background(async move {
            let result = match target {
                Revocation::Prefix(prefix) => {
                    core.revoke_prefix(&active, &prefix, force, Some(&job))
                        .await
                }
                Revocation::Lease(lease) => {
                    core.revoke_ids(&active, vec![lease], force, Some(&job))
                        .await
                }
            };
            if let Err(e) = result {
                tracing::warn!(target = %shown, error = %e, "background revocation failed");
            }
            active.jobs.update(&job, |j| j.done = true);
        });
        id
    }

    /// Runs `work` on the background runtime (or the current one before
    /// `start_background`).
    fn spawn_background<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.background.get() {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        }
    }

    /// Revokes a prefix on the background runtime and waits for it, so the
    /// per-lease work spreads over the cores instead of one HTTP worker.
    pub(crate) async fn revoke_prefix_spread(
        self: &Arc<Self>,
        prefix: String,
        force: bool,
    ) -> Result<(usize, usize), ApiError> {
        let active = self.active()?;
        let core = Arc::clone(self);
        self.spawn_background(
            async move { core.revoke_prefix(&active, &prefix, force, None).await },
        )
        .await
        .map_err(|e| ApiError::Internal(format!("revocation task failed: {e}")))?
    }

    /// Extends a lease by `increment` (or its original TTL), capped by its
    /// max TTL; the plugin moves the credential's own expiry.
    pub(crate) async fn renew_lease(
        &self,
        active: &Active,
        lease_id: &str,
        increment: Option<i64>,
    ) -> Result<Response, ApiError> {
        let record = active
            .leases
            .get(lease_id)
            .await?
            .ok_or_else(|| ApiError::bad("lease not found or lease is not renewable"))?;
        if record.kind == LeaseKind::Token {
            return Err(ApiError::bad(
                "this is a token's lease: renew it with auth/token/renew",
            ));
        }
        if !record.renewable {
            return Err(ApiError::bad("lease is not renewable"));
        }
        if record.state != LeaseState::Active {
            return Err(ApiError::bad(
                "lease is being revoked and cannot be renewed",
            ));
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
        let mounted = active
            .mounts
            .get(&record.mount)
            .ok_or_else(|| ApiError::bad(format!("the mount {} no longer exists", record.mount)))?;
        let Backend::Plugin(plugin) = &mounted.backend else {
            return Err(ApiError::Internal(
                "lease of a mount without a plugin".into(),
            ));
        };
        let mut renewed = record.clone();
        renewed.expire_at = expire_at;
        renewed.due_at = expire_at;
        renewed.last_renewal = Some(now);
        plugin
            .renew(&info(&renewed), &mounted.plugin_storage(&self.barrier))
            .await?;
        active
            .leases
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

    /// `sys/leases/lookup` data.
    pub(crate) async fn lookup_lease(
        &self,
        active: &Active,
        lease_id: &str,
    ) -> Result<Value, ApiError> {
        let record = active
            .leases
            .get(lease_id)
            .await?
            .ok_or_else(|| ApiError::bad("invalid lease"))?;
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
}
