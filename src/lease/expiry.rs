//! The expiry schedule: revoke what is due (expired leases and tokens,
//! revocation retries) by reading the due index from its head, retry at once
//! what failed on a backend found answering again (`outage.rs`), and roll
//! back pending leases left by an earlier boot. Nothing here loads every
//! lease.
//! The core's background loop calls [`LeaseManager::tick`].

use super::revoke::Pace;
use super::LeaseManager;
use futures::StreamExt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

const BATCH: usize = 4096;
/// Expired leases revoked at once. Higher than revoke-prefix's: most expiries
/// (tokens) have no backend, and plugin calls queue on their own bounded pool.
const EXPIRY_CONCURRENCY: usize = 64;

impl LeaseManager {
    /// One tick of the schedule: the first one after an unseal rolls back
    /// earlier boots' pending leases; every one revokes what is due.
    pub async fn tick(self: &Arc<Self>) {
        if !self.barrier.writable() {
            return;
        }
        if !self.restored.swap(true, Ordering::SeqCst) {
            self.roll_back_stale_pending().await;
        }
        // Before the due index is read, so a lease is never in both.
        let recovered = self.recovered_leases().await;
        let attempted = recovered.len();
        self.revoke_all(recovered).await;
        self.start_probes();
        self.revoke_due(attempted).await;
    }

    /// Revokes every lease whose due time has passed, earliest first, then
    /// syncs if this or anything before it in the tick (`attempted`) tried.
    async fn revoke_due(self: &Arc<Self>, mut attempted: usize) {
        loop {
            let now = self.clock.now_unix();
            let due = match self.ledger.due(now, BATCH).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!(error = %e, "reading the expiry index failed");
                    break;
                }
            };
            let count = due.len();
            attempted = attempted.saturating_add(count);
            self.revoke_all(due).await;
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

    /// Revokes `due` (due time, lease id), `EXPIRY_CONCURRENCY` at once.
    /// Each revocation is its own task, so they spread over the runtime's
    /// threads (storage calls run inline and would otherwise take turns on
    /// one). Failures are rescheduled inside `revoke_paced`.
    async fn revoke_all(self: &Arc<Self>, due: Vec<(i64, String)>) {
        futures::stream::iter(due)
            .map(|(due_at, lease_id)| {
                let manager = Arc::clone(self);
                tokio::spawn(async move {
                    let _ = manager
                        .revoke_paced(&lease_id, Some(due_at), Pace::Batched)
                        .await;
                })
            })
            .buffer_unordered(EXPIRY_CONCURRENCY)
            .for_each(|_| async {})
            .await;
    }

    /// Rolls back leases recorded pending by an earlier boot: their
    /// credential may exist without the caller ever having received it.
    async fn roll_back_stale_pending(&self) {
        let stale = match self.ledger.stale_pending(&self.boot_id).await {
            Ok(stale) => stale,
            Err(e) => {
                tracing::warn!(error = %e, "listing pending leases failed");
                self.restored.store(false, Ordering::SeqCst);
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
            if let Err(e) = self.revoke(&lease_id).await {
                tracing::warn!(lease_id = %lease_id, error = %e, "rollback failed; will retry");
            }
        }
    }
}
