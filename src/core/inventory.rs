//! The inventory's view of this core: its mounts as [`Backends`] and its
//! stores as [`Sources`], and the upkeep of the risk index (a full build in
//! the background when one is due, the marked identities re-scored).

use super::{Active, Core};
use crate::error::ApiError;
use crate::logical::MountEntry;
use crate::nhi::inventory::{self, Backends, Sources};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The core's mounts as the inventory reads them.
pub(crate) struct MountedBackends<'a> {
    core: &'a Core,
    active: &'a Active,
}

impl<'a> MountedBackends<'a> {
    pub(crate) fn new(core: &'a Core, active: &'a Active) -> Self {
        Self { core, active }
    }

    /// Everything a listing reads, as of now.
    pub(crate) fn sources(&'a self) -> Sources<'a> {
        Sources {
            backends: self,
            nhi: &self.active.nhi,
            tokens: &self.active.tokens,
            leases: self.active.leases.ledger(),
            policies: &self.active.policies,
            now: self.core.clock.now_unix(),
            weights: &self.core.settings.nhi.risk_weights,
            discovered: &self.active.discover,
        }
    }
}

#[async_trait::async_trait]
impl Backends for MountedBackends<'_> {
    fn mounts(&self) -> Vec<MountEntry> {
        self.active
            .mounts
            .snapshot()
            .iter()
            .map(|m| m.entry.clone())
            .collect()
    }

    async fn list(&self, mount: &MountEntry, path: &str) -> Result<Vec<String>, ApiError> {
        match self.active.mounts.get(&mount.path) {
            Some(mounted) => self.core.backend_list(&mounted, path).await,
            None => Ok(Vec::new()),
        }
    }

    async fn read(
        &self,
        mount: &MountEntry,
        path: &str,
    ) -> Result<Option<Map<String, Value>>, ApiError> {
        match self.active.mounts.get(&mount.path) {
            Some(mounted) => self.core.backend_read(&mounted, path).await,
            None => Ok(None),
        }
    }
}

impl Core {
    /// The background loop's risk index upkeep: starts a full build when
    /// one is due (on its own task: it reads every identity), and
    /// re-scores the identities requests marked.
    pub(super) async fn refresh_risk_index(self: &Arc<Self>, active: &Arc<Active>) {
        let index = &active.nhi.risk;
        let started = self.clock.now_unix();
        if index.claim_rebuild(started) {
            let (core, active) = (Arc::clone(self), Arc::clone(active));
            tokio::spawn(async move {
                let backends = MountedBackends::new(&core, &active);
                match inventory::scores(&backends.sources()).await {
                    Ok(scores) => active.nhi.risk.rebuilt(scores, started),
                    Err(e) => {
                        tracing::warn!(error = %e, "building the risk index failed; retrying");
                        active.nhi.risk.rebuild_failed();
                    }
                }
            });
        }
        if let Err(e) = rescore_marked(self, active).await {
            tracing::warn!(error = %e, "re-scoring identities failed; retrying");
        }
    }
}

/// Re-scores the identities requests marked (a gone one leaves the index).
/// On a failure, what was not re-scored stays marked.
pub(crate) async fn rescore_marked(core: &Core, active: &Active) -> Result<(), ApiError> {
    let index = &active.nhi.risk;
    if !index.ready() {
        return Ok(());
    }
    let marked = index.take_marked();
    if marked.is_empty() {
        return Ok(());
    }
    let backends = MountedBackends::new(core, active);
    let sources = backends.sources();
    for (done, id) in marked.iter().enumerate() {
        match inventory::one(&sources, id).await {
            Ok(found) => index.set(id, found.map(|i| i.risk_score)),
            Err(e) => {
                for id in marked.iter().skip(done) {
                    index.mark(id);
                }
                return Err(e);
            }
        }
    }
    Ok(())
}
