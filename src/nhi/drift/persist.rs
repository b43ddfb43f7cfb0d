//! Storing the drift baselines, so a restart does not forget a month of
//! learning: one key per workload, `drift/workloads/<identity>` in the
//! `sys/nhi/` view. The baselines that changed are written every 30 s (the
//! background loop) and when the server seals or stops; a crash loses at
//! most that much learning, never an alert already raised (alerts are in
//! the log and the webhook). Loaded once, at unseal.

use super::{Baseline, DriftWatch, Workloads, MAX_WORKLOADS};
use crate::barrier::{BarrierError, StorageView, Write};
use std::collections::HashMap;

const PREFIX: &str = "drift/workloads/";
/// Writes per storage transaction when storing.
const BATCH: usize = 500;

impl DriftWatch {
    /// The baselines stored in `view`, at most [`MAX_WORKLOADS`]; one that
    /// no longer decodes is skipped (and relearned), not fatal.
    pub async fn load(view: &StorageView) -> Result<Self, BarrierError> {
        let keys = view.keys_limited(PREFIX, MAX_WORKLOADS).await?;
        let mut baselines = HashMap::with_capacity(keys.len());
        for key in keys {
            let Some(identity) = key.strip_prefix(PREFIX) else {
                continue;
            };
            match view.get_json::<Baseline>(&key).await {
                Ok(Some(baseline)) => {
                    baselines.insert(identity.to_string(), baseline);
                }
                Ok(None) => {}
                Err(BarrierError::Corrupt(_, why)) => {
                    tracing::warn!(identity, error = %why, "a stored drift baseline does not decode; relearning it");
                }
                Err(e) => return Err(e),
            }
        }
        let watch = Self::default();
        if let Ok(mut workloads) = watch.workloads.lock() {
            workloads.baselines = baselines;
        }
        Ok(watch)
    }

    /// Writes the baselines that changed since the last store; how many.
    /// On a failure they stay marked, for the next store.
    pub async fn store(&self, view: &StorageView) -> Result<usize, BarrierError> {
        let writes = self.changed_writes();
        let count = writes.len();
        let mut pending = writes.into_iter().peekable();
        while pending.peek().is_some() {
            let batch: Vec<(String, Write)> = pending.by_ref().take(BATCH).collect();
            let (identities, writes): (Vec<String>, Vec<Write>) = batch.into_iter().unzip();
            if let Err(e) = view.write(writes).await {
                self.mark_changed(identities.into_iter().chain(pending.map(|(id, _)| id)));
                return Err(e);
            }
        }
        Ok(count)
    }

    /// Forgets a workload's baseline (its role was deleted).
    pub async fn forget(&self, view: &StorageView, identity: &str) -> Result<(), BarrierError> {
        if let Ok(mut workloads) = self.workloads.lock() {
            workloads.baselines.remove(identity);
            workloads.changed.remove(identity);
        }
        view.delete(&format!("{PREFIX}{identity}")).await
    }

    /// The writes for the changed baselines, taking their marks.
    fn changed_writes(&self) -> Vec<(String, Write)> {
        let Ok(mut workloads) = self.workloads.lock() else {
            return Vec::new();
        };
        let Workloads { baselines, changed } = &mut *workloads;
        let mut writes = Vec::with_capacity(changed.len());
        for identity in changed.drain() {
            if let Some(baseline) = baselines.get(&identity) {
                let write = Write::json(format!("{PREFIX}{identity}"), baseline);
                writes.push((identity, write));
            }
        }
        writes
    }

    fn mark_changed(&self, identities: impl Iterator<Item = String>) {
        if let Ok(mut workloads) = self.workloads.lock() {
            workloads.changed.extend(identities);
        }
    }
}
