//! The drift alerts kept for `sys/nhi/alerts`: the newest 1,000, each with
//! the baseline it broke and whether an operator acknowledged it. Kept in
//! memory: a restart starts an empty list (the log and the webhook have
//! every alert).

use serde::Serialize;
use std::collections::{BTreeSet, VecDeque};
use std::sync::Mutex;

/// Alerts kept; the oldest goes first.
const KEEP_ALERTS: usize = 1000;
/// Paths and networks an alert lists from its baseline at most.
const SHOWN: usize = 20;

/// One departure from a workload's baseline.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    /// A UUID, for `sys/nhi/alerts/ID/ack`.
    pub id: String,
    pub time: String,
    pub identity: String,
    pub reason: &'static str,
    pub detail: String,
    pub path: String,
    pub remote_address: String,
    pub denied: bool,
    pub baseline: BrokenBaseline,
    pub acknowledged: bool,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<String>,
}

/// What the workload's baseline held when the alert was raised.
#[derive(Debug, Clone, Serialize)]
pub struct BrokenBaseline {
    /// Requests it was learned from.
    pub learned_requests: u64,
    pub learned_since: String,
    /// The first 20 path shapes (`mount/a/b`) it used while learning.
    pub paths: Vec<String>,
    pub path_count: usize,
    /// The first 20 source networks it came from.
    pub networks: Vec<String>,
    pub network_count: usize,
    /// UTC hours it was seen in.
    pub hours: Vec<u8>,
    pub busiest_minute: u64,
}

impl BrokenBaseline {
    pub(super) fn of(
        learned_requests: u64,
        learned_since: i64,
        paths: &BTreeSet<String>,
        networks: &BTreeSet<String>,
        hours: &BTreeSet<u8>,
        busiest_minute: u64,
    ) -> Self {
        Self {
            learned_requests,
            learned_since: crate::clock::rfc3339(learned_since),
            paths: paths.iter().take(SHOWN).cloned().collect(),
            path_count: paths.len(),
            networks: networks.iter().take(SHOWN).cloned().collect(),
            network_count: networks.len(),
            hours: hours.iter().copied().collect(),
            busiest_minute,
        }
    }
}

#[derive(Default)]
pub(super) struct AlertLog {
    // A std lock: held for list updates only, never across an await.
    alerts: Mutex<VecDeque<Alert>>,
}

impl AlertLog {
    pub(super) fn record(&self, alert: Alert) {
        if let Ok(mut alerts) = self.alerts.lock() {
            if alerts.len() == KEEP_ALERTS {
                alerts.pop_front();
            }
            alerts.push_back(alert);
        }
    }

    pub(super) fn recent(&self) -> Vec<Alert> {
        self.alerts
            .lock()
            .map(|a| a.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Acknowledges once: a second acknowledgement keeps the first's name
    /// and time.
    pub(super) fn acknowledge(&self, id: &str, by: &str, now: i64) -> Option<Alert> {
        let mut alerts = self.alerts.lock().ok()?;
        let alert = alerts.iter_mut().find(|a| a.id == id)?;
        if !alert.acknowledged {
            alert.acknowledged = true;
            alert.acknowledged_by = Some(by.to_string());
            alert.acknowledged_at = Some(crate::clock::rfc3339(now));
        }
        Some(alert.clone())
    }
}
