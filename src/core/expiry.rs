//! The background loop: while unsealed, it gives the lease manager its tick
//! (expiry, retries, rolling back an earlier boot's pending leases), the
//! plugins their periodic call (scheduled rotations), stores the drift
//! baselines that changed, and keeps the risk index up and starts the
//! discovery scans that are due (each second).

use super::mounts::Backend;
use super::{Active, Core};
use std::sync::Arc;
use std::time::Duration;

const TICK: Duration = Duration::from_millis(100);
const PERIODIC_EVERY: i64 = 30;

impl Core {
    /// Starts the loop on `runtime`, which also runs revoke-prefix work (a
    /// multi-thread runtime apart from the HTTP workers, so revocation work
    /// spreads over the cores). It stops when the core is dropped.
    pub fn start_background(self: &Arc<Self>, runtime: tokio::runtime::Handle) {
        let core = Arc::downgrade(self);
        let _ = self.background.set(runtime.clone());
        runtime.spawn(async move {
            let mut ticker = tokio::time::interval(TICK);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let (mut last_periodic, mut last_index) = (0, 0);
            loop {
                ticker.tick().await;
                let Some(core) = core.upgrade() else { break };
                let Ok(active) = core.active() else { continue };
                active.leases.tick().await;
                let now = core.clock.now_unix();
                if now != last_index {
                    last_index = now;
                    core.refresh_risk_index(&active).await;
                    core.run_discover_schedules(&active).await;
                }
                if now.saturating_sub(last_periodic) >= PERIODIC_EVERY {
                    last_periodic = now;
                    core.run_periodic(&active).await;
                }
            }
        });
    }

    async fn run_periodic(&self, active: &Active) {
        active.nhi.store_drift().await;
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
