//! The restore fence: after a snapshot restore, and before the store
//! serves, leases issued after the snapshot (carried over from the live
//! store) are revoked at their backend, and restored leases that ended
//! after the snapshot are checked: those whose credential is gone are
//! closed without a backend call. Each step gets an audit line.
//!
//! The fence is a record in the restored store itself, written in the
//! same atomic replace as the snapshot: a crash before it has run leaves
//! it for the next activation, which runs it before serving. A revocation
//! that fails stays in the ledger and is retried as any other; nothing is
//! forgotten.

use crate::barrier::Barrier;
use crate::clock::rfc3339;
use crate::core::{Active, Core};
use crate::error::ApiError;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Where a pending fence is kept (inside the barrier).
pub(in crate::core) const FENCE_KEY: &str = "sys/restore-fence";

/// How many revocations or checks run at once.
const CONCURRENCY: usize = 16;

#[derive(Serialize, Deserialize)]
pub(super) struct Fence {
    /// Leases issued after the snapshot: revoke them.
    pub(super) revoke: Vec<String>,
    /// Restored leases that ended after the snapshot: close those whose
    /// credential is gone.
    pub(super) check: Vec<String>,
    pub(super) snapshot_created_at: i64,
}

impl Fence {
    /// The record as the barrier stores it.
    pub(super) fn sealed(&self, barrier: &Barrier) -> Result<Vec<u8>, ApiError> {
        let plain = serde_json::to_vec(self).unwrap_or_default();
        Ok(barrier.seal_blob(FENCE_KEY, &plain)?)
    }
}

/// What the fence did to one lease.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Revoked,
    RevokeFailed,
    Closed,
    Kept,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Revoked => "revoked",
            Self::RevokeFailed => "revocation failed; retrying",
            Self::Closed => "closed: its credential is gone",
            Self::Kept => "kept: its credential still exists",
        }
    }
}

impl Core {
    /// Runs a pending restore fence with `active`, before it serves.
    pub(in crate::core) async fn run_restore_fence(&self, active: &Active) -> Result<(), ApiError> {
        let Some(fence) = self.barrier.get_json::<Fence>(FENCE_KEY).await? else {
            return Ok(());
        };
        tracing::warn!(
            revoke = fence.revoke.len(),
            check = fence.check.len(),
            snapshot = %rfc3339(fence.snapshot_created_at),
            "restore fence: reconciling leases with the restored ledger"
        );
        let revoked: Vec<(String, Outcome, Option<String>)> =
            futures::stream::iter(fence.revoke.iter().cloned())
                .map(|lease_id| async move {
                    match active.leases.revoke(&lease_id).await {
                        Ok(_) => (lease_id, Outcome::Revoked, None),
                        Err(e) => (lease_id, Outcome::RevokeFailed, Some(e.to_string())),
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let checked: Vec<(String, Outcome, Option<String>)> =
            futures::stream::iter(fence.check.iter().cloned())
                .map(|lease_id| async move {
                    match active.leases.credential_exists(&lease_id).await {
                        Ok(Some(false)) => match active.leases.close_gone(&lease_id).await {
                            Ok(()) => (lease_id, Outcome::Closed, None),
                            Err(e) => (lease_id, Outcome::Kept, Some(e.to_string())),
                        },
                        Ok(_) => (lease_id, Outcome::Kept, None),
                        Err(e) => (lease_id, Outcome::Kept, Some(e.to_string())),
                    }
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
        let now = rfc3339(self.clock.now_unix());
        for (lease_id, outcome, error) in revoked.iter().chain(&checked) {
            if *outcome == Outcome::Kept && error.is_none() {
                continue;
            }
            tracing::warn!(lease_id = %lease_id, outcome = outcome.as_str(), error = error.as_deref().unwrap_or(""), "restore fence");
            let mut entry = Map::new();
            entry.insert("type".into(), json!("restore-fence"));
            entry.insert("time".into(), json!(now));
            entry.insert("lease_id".into(), json!(lease_id));
            entry.insert("outcome".into(), json!(outcome.as_str()));
            entry.insert(
                "error".into(),
                error.as_ref().map_or(Value::Null, |e| json!(e)),
            );
            active.audit.log(&entry)?;
        }
        self.barrier.delete(FENCE_KEY).await?;
        let count = |o: Outcome| {
            revoked
                .iter()
                .chain(&checked)
                .filter(|(_, x, _)| *x == o)
                .count()
        };
        tracing::warn!(
            revoked = count(Outcome::Revoked),
            failed = count(Outcome::RevokeFailed),
            closed = count(Outcome::Closed),
            "restore fence done"
        );
        Ok(())
    }
}
