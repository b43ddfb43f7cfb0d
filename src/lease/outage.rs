//! Backends that stopped answering. While revocations of a mount fail as
//! unreachable ([`PluginError::Unreachable`](qm_plugin_sdk::PluginError)),
//! the manager probes that mount's backend about once a second (the
//! plugin's `probe`, through the lease that failed last) and, on the first
//! answer, retries every lease of the mount that failed that way at once
//! instead of leaving each to its backoff. Leases that failed for another
//! reason keep their backoff.
//!
//! Probes run as tasks of their own, never inside the expiry tick: a probe
//! that waits out a connect timeout holds nothing up. The state is in memory
//! only; after a restart the next failed retry starts probing again (and
//! the backoff still retries every lease).

use super::LeaseManager;
use qm_plugin_sdk::LeaseInfo;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Seconds between probes of one mount.
const PROBE_EVERY: i64 = 1;

struct Outage {
    /// The lease whose revocation failed last: probes go through it.
    lease: LeaseInfo,
    next_probe: i64,
    probing: bool,
    recovered: bool,
}

/// Mounts whose backend could not be reached, by mount path. A std mutex:
/// held for map access only, never across an await.
#[derive(Default)]
pub(super) struct Outages(Mutex<HashMap<String, Outage>>);

impl Outages {
    /// A revocation of `lease` on `mount` found its backend unreachable.
    /// Starts probing the mount, or keeps probing it (through this lease).
    pub(super) fn failed(&self, mount: &str, lease: LeaseInfo, now: i64) {
        let Ok(mut map) = self.0.lock() else { return };
        match map.get_mut(mount) {
            Some(outage) => {
                outage.lease = lease;
                // Down again before the retries ran: probe again first.
                outage.recovered = false;
            }
            None => {
                map.insert(
                    mount.to_string(),
                    Outage {
                        lease,
                        next_probe: now.saturating_add(PROBE_EVERY),
                        probing: false,
                        recovered: false,
                    },
                );
            }
        }
    }

    /// The mounts to probe now, each with the lease to probe through;
    /// marked as probing until [`Outages::probed`] hears the answer.
    pub(super) fn probes_due(&self, now: i64) -> Vec<(String, LeaseInfo)> {
        let Ok(mut map) = self.0.lock() else {
            return Vec::new();
        };
        map.iter_mut()
            .filter(|(_, o)| !o.probing && !o.recovered && o.next_probe <= now)
            .map(|(mount, outage)| {
                outage.probing = true;
                (mount.clone(), outage.lease.clone())
            })
            .collect()
    }

    /// A probe's answer: `Some(true)` the backend answers, `Some(false)`
    /// still down (probed again in a second), `None` the plugin cannot tell
    /// (the mount is forgotten; its leases keep their backoff).
    pub(super) fn probed(&self, mount: &str, answer: Option<bool>, now: i64) {
        let Ok(mut map) = self.0.lock() else { return };
        match answer {
            None => {
                map.remove(mount);
            }
            Some(answers) => {
                if let Some(outage) = map.get_mut(mount) {
                    outage.probing = false;
                    outage.recovered = answers;
                    outage.next_probe = now.saturating_add(PROBE_EVERY);
                }
            }
        }
    }

    /// The mounts found answering again; forgotten here (a retry that fails
    /// as unreachable again starts a new outage).
    pub(super) fn take_recovered(&self) -> Vec<String> {
        let Ok(mut map) = self.0.lock() else {
            return Vec::new();
        };
        let recovered: Vec<String> = map
            .iter()
            .filter(|(_, o)| o.recovered)
            .map(|(mount, _)| mount.clone())
            .collect();
        for mount in &recovered {
            map.remove(mount);
        }
        recovered
    }
}

impl LeaseManager {
    /// Starts the probes that are due, each as its own task.
    pub(super) fn start_probes(self: &Arc<Self>) {
        let now = self.clock.now_unix();
        for (mount, lease) in self.outages.probes_due(now) {
            let manager = Arc::clone(self);
            self.spawn_background(async move {
                let answer = match manager.issuers.issuer(&mount) {
                    Some(issuer) => issuer.engine.probe(&lease, issuer.storage.as_ref()).await,
                    None => None,
                };
                if answer == Some(true) {
                    tracing::info!(mount = %mount, "the backend answers again; retrying its failed revocations");
                }
                manager
                    .outages
                    .probed(&mount, answer, manager.clock.now_unix());
            });
        }
    }

    /// The leases to retry now because their mount's backend answers
    /// again: those whose last revocation found it unreachable.
    pub(super) async fn recovered_leases(&self) -> Vec<(i64, String)> {
        let mut due = Vec::new();
        for mount in self.outages.take_recovered() {
            match self.ledger.failing_unreachable(&mount).await {
                Ok(leases) => due.extend(leases),
                Err(e) => {
                    tracing::warn!(mount = %mount, error = %e, "listing failed revocations failed; they keep their backoff");
                }
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qm_plugin_sdk::Internal;

    fn lease(id: &str) -> LeaseInfo {
        LeaseInfo {
            lease_id: id.into(),
            role: "app".into(),
            internal: Internal::from_stored(serde_json::Value::Null),
            issued_at: 0,
            expire_at: 0,
        }
    }

    #[test]
    fn a_mount_is_probed_once_a_second_until_it_answers_then_retried_once() {
        let outages = Outages::default();
        outages.failed("database/", lease("database/creds/app/a"), 100);
        outages.failed("database/", lease("database/creds/app/b"), 100);
        assert!(outages.probes_due(100).is_empty(), "not before a second");
        let due = outages.probes_due(101);
        assert_eq!(due.len(), 1, "one probe per mount, however many failed");
        assert_eq!(due[0].0, "database/");
        assert_eq!(due[0].1.lease_id, "database/creds/app/b", "the latest");
        assert!(outages.probes_due(105).is_empty(), "one probe at a time");
        outages.probed("database/", Some(false), 105);
        assert!(outages.take_recovered().is_empty());
        assert!(outages.probes_due(105).is_empty());
        assert_eq!(outages.probes_due(106).len(), 1);
        outages.probed("database/", Some(true), 106);
        assert!(outages.probes_due(200).is_empty(), "answering: no probe");
        assert_eq!(outages.take_recovered(), vec!["database/".to_string()]);
        assert!(outages.take_recovered().is_empty(), "retried once");
        assert!(outages.probes_due(300).is_empty(), "forgotten");
    }

    #[test]
    fn a_failure_after_recovery_probes_again_and_an_unknown_answer_forgets() {
        let outages = Outages::default();
        outages.failed("db/", lease("db/creds/r/a"), 0);
        assert_eq!(outages.probes_due(1).len(), 1);
        outages.probed("db/", Some(true), 1);
        outages.failed("db/", lease("db/creds/r/b"), 1);
        assert!(outages.take_recovered().is_empty(), "down again");
        assert_eq!(outages.probes_due(2).len(), 1);
        outages.probed("db/", None, 2);
        assert!(outages.probes_due(10).is_empty());
        assert!(outages.take_recovered().is_empty());
        // Mounts are apart: one answering says nothing of another.
        outages.failed("a/", lease("a/creds/r/x"), 0);
        outages.failed("b/", lease("b/creds/r/y"), 0);
        assert_eq!(outages.probes_due(1).len(), 2);
        outages.probed("a/", Some(true), 1);
        outages.probed("b/", Some(false), 1);
        assert_eq!(outages.take_recovered(), vec!["a/".to_string()]);
        assert_eq!(outages.probes_due(2).len(), 1);
    }
}
