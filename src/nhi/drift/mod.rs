//! Drift: each workload's normal, learned from its own requests, and an
//! alert when a request departs from it. Kept simple so every alert reads
//! as a sentence:
//!
//! - **new path**: a path (its mount and next two segments, such as
//!   `database/creds/app`) the workload never used while learning;
//! - **new source network**: a /24 (IPv4) or /64 (IPv6) it never came from;
//! - **burst**: more requests in a minute than `burst_factor` times its
//!   busiest learned minute (and at least 10);
//! - **unusual hour**: a UTC hour it never used, once it was learned over a
//!   whole day.
//!
//! A workload is the auth role a token logged in through (all its tokens
//! share one baseline), or else the token itself; root tokens are not
//! watched, nor workloads past the first 50,000. Baselines live in memory
//! and are stored under `sys/nhi/drift/workloads/` (see [`persist`]), so a
//! restart keeps what was learned. Learning ends after `learning_requests`
//! requests; each departure alerts once (per minute for bursts). Alerts go to
//! `sys/nhi/alerts` (each with the baseline it broke, until an operator
//! acknowledges it; see [`alerts`]), the log, the `qm_drift_alerts_total`
//! metric, and an optional webhook. On the mounts in `deny_mounts` a
//! departing request is refused instead of served.

pub mod alerts;
mod persist;
pub mod recent;

pub use alerts::{Alert, BrokenBaseline};

use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

/// Workloads watched at most; later ones are not (their requests pass).
const MAX_WORKLOADS: usize = 50_000;
const MIN_BURST: u64 = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct DriftConfig {
    pub learning_requests: u64,
    pub burst_factor: u64,
    /// Mount paths (`secret/`) where drift is refused, not only reported.
    pub deny_mounts: Vec<String>,
    /// Receives each alert as a JSON POST.
    pub webhook_url: Option<String>,
}

impl Default for DriftConfig {
    fn default() -> Self {
        Self {
            learning_requests: 500,
            burst_factor: 5,
            deny_mounts: Vec::new(),
            webhook_url: None,
        }
    }
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Baseline {
    requests: u64,
    learned_since: i64,
    paths: BTreeSet<String>,
    networks: BTreeSet<String>,
    hours: BTreeSet<u8>,
    /// (minute, requests in it) for the current minute.
    minute: (i64, u64),
    busiest_minute: u64,
    /// Departures already reported.
    reported: BTreeSet<String>,
    /// All requests seen, and how many were writes (for the inventory).
    seen: u64,
    writes: u64,
}

#[derive(Default)]
pub struct DriftWatch {
    // A std lock: held for map updates only, never across an await.
    workloads: Mutex<Workloads>,
    alerts: alerts::AlertLog,
}

/// The baselines, and which changed since they were last stored.
#[derive(Default)]
struct Workloads {
    baselines: HashMap<String, Baseline>,
    changed: HashSet<String>,
}

/// The part of a path a baseline remembers.
pub fn path_shape(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .take(3)
        .collect::<Vec<_>>()
        .join("/")
}

fn network(addr: Option<IpAddr>) -> String {
    match addr {
        Some(IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".into(),
    }
}

/// One request as drift sees it.
pub struct Seen<'a> {
    pub identity: &'a str,
    pub path: &'a str,
    pub mount: &'a str,
    pub addr: Option<IpAddr>,
    pub now: i64,
    /// Whether the request creates, updates, patches or deletes.
    pub write: bool,
}

/// A request's traits as a baseline remembers them.
struct Traits {
    shape: String,
    network: String,
    /// The UTC hour.
    hour: u8,
    /// Minutes since the epoch.
    minute: i64,
}

impl Traits {
    fn of(seen: &Seen<'_>) -> Self {
        Self {
            shape: path_shape(seen.path),
            network: network(seen.addr),
            hour: u8::try_from((seen.now / 3600) % 24).unwrap_or(0),
            minute: seen.now / 60,
        }
    }
}

/// A departure: (reason, detail, the key it is reported once under).
type Departure = (&'static str, String, String);

impl Baseline {
    /// Counts the request: in all requests, writes, and its minute.
    fn count(&mut self, seen: &Seen<'_>, minute: i64) {
        self.seen = self.seen.saturating_add(1);
        self.writes = self.writes.saturating_add(u64::from(seen.write));
        if self.minute.0 == minute {
            self.minute.1 = self.minute.1.saturating_add(1);
        } else {
            self.minute = (minute, 1);
        }
    }

    /// Learns the request as normal while still learning; false after.
    fn learn(&mut self, config: &DriftConfig, seen: &Seen<'_>, traits: &Traits) -> bool {
        if self.requests >= config.learning_requests {
            return false;
        }
        if self.requests == 0 {
            self.learned_since = seen.now;
        }
        self.requests = self.requests.saturating_add(1);
        self.paths.insert(traits.shape.clone());
        self.networks.insert(traits.network.clone());
        self.hours.insert(traits.hour);
        self.busiest_minute = self.busiest_minute.max(self.minute.1);
        true
    }

    /// What was learned, as an alert shows it.
    fn broken(&self) -> BrokenBaseline {
        BrokenBaseline::of(
            self.requests,
            self.learned_since,
            &self.paths,
            &self.networks,
            &self.hours,
            self.busiest_minute,
        )
    }

    /// How a request departs from what was learned.
    fn departures(&self, config: &DriftConfig, seen: &Seen<'_>, traits: &Traits) -> Vec<Departure> {
        let Traits {
            shape,
            network: net,
            hour,
            minute,
        } = traits;
        let mut found = Vec::new();
        if !self.paths.contains(shape) {
            found.push((
                "new path",
                format!("first use of {shape}"),
                format!("path:{shape}"),
            ));
        }
        if !self.networks.contains(net) {
            found.push((
                "new source network",
                format!("first request from {net}"),
                format!("net:{net}"),
            ));
        }
        let limit = self
            .busiest_minute
            .saturating_mul(config.burst_factor)
            .max(MIN_BURST);
        if self.minute.1 > limit {
            found.push((
                "burst",
                format!(
                    "{} requests this minute; the busiest learned minute had {}",
                    self.minute.1, self.busiest_minute
                ),
                format!("burst:{minute}"),
            ));
        }
        let learned_a_day =
            self.hours.len() > 1 && seen.now.saturating_sub(self.learned_since) >= 86_400;
        if learned_a_day && !self.hours.contains(hour) {
            found.push((
                "unusual hour",
                format!("first request at {hour:02}:00 UTC"),
                format!("hour:{hour}"),
            ));
        }
        found
    }
}

impl DriftWatch {
    /// Learns from or checks one request; returns the departures it makes.
    pub fn observe(&self, config: &DriftConfig, seen: &Seen<'_>) -> Vec<Alert> {
        let Ok(mut workloads) = self.workloads.lock() else {
            return Vec::new();
        };
        let Workloads { baselines, changed } = &mut *workloads;
        if baselines.len() >= MAX_WORKLOADS && !baselines.contains_key(seen.identity) {
            return Vec::new();
        }
        if !changed.contains(seen.identity) {
            changed.insert(seen.identity.to_string());
        }
        let base = baselines.entry(seen.identity.to_string()).or_default();
        let traits = Traits::of(seen);
        base.count(seen, traits.minute);
        if base.learn(config, seen, &traits) {
            return Vec::new();
        }
        let denied = config.deny_mounts.iter().any(|m| m == seen.mount);
        let new: Vec<Departure> = base
            .departures(config, seen, &traits)
            .into_iter()
            .filter(|(_, _, key)| base.reported.insert(key.clone()))
            .collect();
        if new.is_empty() {
            return Vec::new();
        }
        let baseline = base.broken();
        new.into_iter()
            .map(|(reason, detail, _)| Alert {
                id: uuid::Uuid::new_v4().to_string(),
                time: crate::clock::rfc3339(seen.now),
                identity: seen.identity.to_string(),
                reason,
                detail,
                path: seen.path.to_string(),
                remote_address: seen.addr.map(|a| a.to_string()).unwrap_or_default(),
                denied,
                baseline: baseline.clone(),
                acknowledged: false,
                acknowledged_by: None,
                acknowledged_at: None,
            })
            .collect()
    }

    /// (requests seen, of which writes) for a workload, if it was seen.
    pub fn usage(&self, identity: &str) -> Option<(u64, u64)> {
        let workloads = self.workloads.lock().ok()?;
        workloads
            .baselines
            .get(identity)
            .map(|b| (b.seen, b.writes))
    }

    pub fn record(&self, alert: Alert) {
        self.alerts.record(alert);
    }

    /// The most recent alerts, newest last.
    pub fn recent(&self) -> Vec<Alert> {
        self.alerts.recent()
    }

    /// Marks an alert acknowledged by `by` at `now`; the alert, or None
    /// when no kept alert has that id.
    pub fn acknowledge(&self, id: &str, by: &str, now: i64) -> Option<Alert> {
        self.alerts.acknowledge(id, by, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen<'a>(path: &'a str, addr: &str, now: i64) -> Seen<'a> {
        Seen {
            identity: "auth/approle/role/ci",
            path,
            mount: "secret/",
            addr: addr.parse().ok(),
            now,
            write: false,
        }
    }

    #[test]
    fn learns_then_reports_each_departure_once() {
        let watch = DriftWatch::default();
        let config = DriftConfig {
            learning_requests: 5,
            ..DriftConfig::default()
        };
        for i in 0..5 {
            assert!(watch
                .observe(&config, &seen("secret/data/app/x", "10.0.0.1", 1000 + i))
                .is_empty());
        }
        assert!(watch
            .observe(&config, &seen("secret/data/app/y", "10.0.0.9", 1070))
            .is_empty());
        let alerts = watch.observe(&config, &seen("secret/data/other", "10.0.1.1", 1080));
        let reasons: Vec<_> = alerts.iter().map(|a| a.reason).collect();
        assert_eq!(reasons, vec!["new path", "new source network"]);
        assert!(watch
            .observe(&config, &seen("secret/data/other", "10.0.1.1", 1081))
            .is_empty());
        let burst: Vec<_> = (0..30)
            .flat_map(|_| watch.observe(&config, &seen("secret/data/app/x", "10.0.0.1", 1200)))
            .collect();
        assert_eq!(burst.len(), 1);
        assert_eq!(burst[0].reason, "burst");
    }

    #[test]
    fn an_alert_carries_its_baseline_and_is_acknowledged_once() {
        let watch = DriftWatch::default();
        let config = DriftConfig {
            learning_requests: 2,
            ..DriftConfig::default()
        };
        for i in 0..2 {
            watch.observe(&config, &seen("secret/data/app/x", "10.0.0.1", 1000 + i));
        }
        let alerts = watch.observe(&config, &seen("secret/data/other", "10.0.0.1", 1010));
        let alert = alerts.into_iter().next().expect("a new path alert");
        assert_eq!(alert.baseline.paths, vec!["secret/data/app"]);
        assert_eq!(alert.baseline.learned_requests, 2);
        let id = alert.id.clone();
        watch.record(alert);
        assert!(watch.acknowledge("not-an-id", "ops", 1020).is_none());
        let acked = watch.acknowledge(&id, "ops", 1020).expect("kept");
        assert!(acked.acknowledged);
        let again = watch.acknowledge(&id, "someone-else", 1030).expect("kept");
        assert_eq!(again.acknowledged_by.as_deref(), Some("ops"));
        assert_eq!(again.acknowledged_at, acked.acknowledged_at);
    }
}
