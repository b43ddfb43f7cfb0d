//! Revocations that outlive a request: background jobs (`sync=false`) with
//! their progress, a revoke-prefix spread over the background runtime, and
//! the per-role locks that keep `max_active_leases` exact.

use super::{LeaseError, LeaseManager};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Progress of a background revocation.
#[derive(Clone, Default, serde::Serialize)]
pub struct JobStatus {
    pub prefix: String,
    pub total: usize,
    pub revoked: usize,
    pub failed: usize,
    pub done: bool,
}

/// What a background revocation covers: one lease by its exact id, a
/// prefix (as `revoke_prefix` reads it), or every lease whose revocation
/// has failed (retrying and irrevocable alike: `sys/leases/tidy`).
pub enum Revocation {
    Lease(String),
    Prefix(String),
    Failing,
}

/// Background jobs by id. A std mutex: held for map access only.
#[derive(Default)]
pub(super) struct Jobs(Mutex<HashMap<String, JobStatus>>);

impl Jobs {
    pub(super) fn get(&self, id: &str) -> Option<JobStatus> {
        self.0.lock().ok().and_then(|m| m.get(id).cloned())
    }

    pub(super) fn update(&self, id: &str, change: impl FnOnce(&mut JobStatus)) {
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
pub(super) struct QuotaLocks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl QuotaLocks {
    pub(super) fn for_prefix(&self, prefix: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.0.lock() {
            Ok(mut map) => Arc::clone(map.entry(prefix.to_string()).or_default()),
            // A poisoned map only loses the sharing, never an issue.
            Err(_) => Arc::default(),
        }
    }
}

impl LeaseManager {
    /// Starts a revocation in the background; returns its job id.
    pub fn start_revoke_job(self: &Arc<Self>, target: Revocation, force: bool) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let shown = match &target {
            Revocation::Lease(lease) | Revocation::Prefix(lease) => lease.clone(),
            Revocation::Failing => "every failing lease".to_string(),
        };
        self.jobs.insert(
            &id,
            JobStatus {
                prefix: shown.clone(),
                ..JobStatus::default()
            },
        );
        let manager = Arc::clone(self);
        let job = id.clone();
        self.spawn_background(async move {
            let result = match target {
                Revocation::Prefix(prefix) => {
                    manager.revoke_prefix(&prefix, force, Some(&job)).await
                }
                Revocation::Lease(lease) => {
                    manager.revoke_ids(vec![lease], force, Some(&job)).await
                }
                Revocation::Failing => match manager.ledger.failing_ids().await {
                    Ok(ids) => manager.revoke_ids(ids, force, Some(&job)).await,
                    Err(e) => Err(e.into()),
                },
            };
            if let Err(e) = result {
                tracing::warn!(target = %shown, error = %e, "background revocation failed");
            }
            manager.jobs.update(&job, |j| j.done = true);
        });
        id
    }

    /// Revokes a prefix on the background runtime and waits for it, so the
    /// per-lease work spreads over the cores instead of one HTTP worker.
    pub async fn revoke_prefix_spread(
        self: &Arc<Self>,
        prefix: String,
        force: bool,
    ) -> Result<(usize, usize), LeaseError> {
        let manager = Arc::clone(self);
        self.spawn_background(async move { manager.revoke_prefix(&prefix, force, None).await })
            .await
            .map_err(|e| LeaseError::Task(e.to_string()))?
    }
}
