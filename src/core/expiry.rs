//! The background loop: while unsealed, revoke what is due (expired leases
//! and tokens, revocation retries) by reading the due index from its head,
//! roll back pending leases left by an earlier boot, and give plugins their
//! periodic call (scheduled rotations). Nothing here loads every lease.

use super::leases::Pace;
use super::mounts::Backend;
use super::{Active, Core};
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const TICK: Duration = Duration::from_millis(100);
const BATCH: usize = 4096;
const PERIODIC_EVERY: i64 = 30;
/// Expired leases revoked at once. Higher than revoke-prefix's: most expiries
/// (tokens) have no backend, and plugin calls queue on their own bounded pool.
const EXPIRY_CONCURRENCY: usize = 64;

impl Core {
    /// Starts the loop on `runtime`, which also runs revoke-prefix work (a
    /// multi-thread runtime apart from the HTTP workers, so revocation work
    /// spreads over the cores). It stops when the core is dropped.
    pub fn start_background(self: &Arc<Self>, runtime: tokio::runtime::Handle) {
        let core = Arc::downgrade(self);
        let _ = self.this.set(core.clone());
        let _ = self.background.set(runtime.clone());
        runtime.spawn(async move {
            let mut ticker = tokio::time::interval(TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_periodic = 0;
            loop {
                ticker.tick().await;
                let Some(core) = core.upgrade() else { break };
                let Ok(active) = core.active() else { continue };
                if !active.restored.swap(true, Ordering::SeqCst) {
                    core.roll_back_stale_pending(&active).await;
                }
                core.revoke_due(&active).await;
                let now = core.clock.now_unix();
                if now.saturating_sub(last_periodic) >= PERIODIC_EVERY {
                    last_periodic = now;
                    core.run_periodic(&active).await;
                }
            }
        });
    }

    /// Revokes every lease whose due time has passed, earliest first.
    pub(crate) async fn revoke_due(self: &Arc<Self>, active: &Arc<Active>) {
        let mut attempted: usize = 0;
        loop {
            let now = self.clock.now_unix();
            let due = match active.leases.due(now, BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the expiry index failed");
                    return;
                }
            };
            let count = due.len();
            attempted = attempted.saturating_add(count);
            // Each revocation is its own task, so they spread over the
            // runtime's threads (storage calls run inline and would
            // otherwise take turns on one).
            futures::stream::iter(due)
                .map(|(due_at, lease_id)| {
                    let (core, active) = (Arc::clone(self), Arc::clone(active));
                    tokio::spawn(async move {
                        // Failures are rescheduled inside revoke_lease.
                        let _ = core
                            .revoke_lease_paced(&active, &lease_id, Some(due_at), Pace::Batched)
                            .await;
                    })
                })
                .buffer_unordered(EXPIRY_CONCURRENCY)
                .for_each(|_| async {})
                .await;
            if count < BATCH {
                break;
            }
        }
        // One sync at the end, not per batch: nobody waits on an expiry, and
        // a deletion lost in a crash only means revoking again (idempotent).
        if attempted == 0 {
            return;
        }
        if let Err(e) = self.barrier.sync().await {
            tracing::warn!(error = %e, "syncing revocations failed");
        }
    }

    /// Rolls back leases recorded pending by an earlier boot: their
    /// credential may exist without the caller ever having received it.
    async fn roll_back_stale_pending(&self, active: &Active) {
        let stale = match active.leases.stale_pending(&self.boot_id).await {
            Ok(stale) => stale,
            Err(e) => {
                tracing::warn!(error = %e, "listing pending leases failed");
                active.restored.store(false, Ordering::SeqCst);
                return;
            }
        };
        if !stale.is_empty() {
            tracing::info!(
                count = stale.len(),
                "rolling back pending leases from an earlier run"
            );
        }
        for lease_id in stale {
            if let Err(e) = self.revoke_lease(active, &lease_id).await {
                tracing::warn!(lease_id = %lease_id, error = %e, "rollback failed; will retry");
            }
        }
    }

    async fn run_periodic(&self, active: &Active) {
        let now = self.clock.now_unix();
        for mounted in active.mounts.snapshot().iter() {
            if let Backend::Plugin(plugin) = &mounted.backend {
                let storage = mounted.plugin_storage(&self.barrier);
                if let Err(e) = plugin.periodic(&storage, now).await {
                    tracing::warn!(mount = %mounted.entry.path, error = %e, "periodic plugin work failed");
                }
            }
        }
    }
}
