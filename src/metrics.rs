//! Operational metrics, in Prometheus' text format at
//! `sys/metrics?format=prometheus`: request counts and latencies by mount
//! and status, leases issued and revoked and revocation failures as they
//! happen; and, computed at scrape
//! time (cached briefly, since counting leases scans the ledger's id index),
//! active leases by mount and role, tokens, failing and
//! irrevocable revocations and audit devices; whether the node is unsealed;
//! the allocator's bytes allocated and resident (see [`crate::allocator`]);
//! and the standard `process_*` metrics (CPU, memory, file descriptors,
//! threads, start time) from `/proc`, without the `qm_` prefix as
//! Prometheus' conventions name them. docs/metrics.md lists every name
//! beside Vault's.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a scrape's lease counts are reused, when counting was slow.
const COUNTS_FRESH_FOR: Duration = Duration::from_secs(10);
/// Counting faster than this is redone at every scrape.
const SLOW_COUNT: Duration = Duration::from_millis(100);

/// What a scrape counts from the stores.
#[derive(Clone, Default)]
pub struct Counts {
    /// (`database/creds/app-ro`, n) for secrets; tokens are under `auth/`.
    pub by_path: Vec<(String, usize)>,
    pub retrying: usize,
    pub irrevocable: usize,
}

pub struct Metrics {
    registry: Registry,
    /// `process_*`, unprefixed.
    process: Registry,
    unsealed: IntGauge,
    requests: IntCounterVec,
    latency: HistogramVec,
    revocation_failures: IntCounter,
    leases_issued: IntCounter,
    leases_revoked: IntCounter,
    drift_alerts: IntCounterVec,
    leases: IntGaugeVec,
    tokens: IntGauge,
    retrying: IntGauge,
    irrevocable: IntGauge,
    audit_devices: IntGauge,
    alloc_bytes: IntGauge,
    allocator_resident_bytes: IntGauge,
    /// The last slow count, and when it was made.
    counted: Mutex<Option<(Instant, Counts)>>,
}

fn register<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, metric: T) -> T {
    // Names are fixed and distinct, so registering cannot collide.
    let _ = registry.register(Box::new(metric.clone()));
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("qm".into()), None).unwrap_or_default();
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            IntCounterVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|_| unreachable!("valid metric definition"))
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|_| unreachable!("valid metric definition"))
        };
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help).unwrap_or_else(|_| unreachable!("valid metric definition"))
        };
        let latency = HistogramVec::new(
            HistogramOpts::new("request_duration_seconds", "Request latency").buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ]),
            &["mount", "status"],
        )
        .unwrap_or_else(|_| unreachable!("valid metric definition"));
        let revocation_failures = IntCounter::new(
            "lease_revocation_failures_total",
            "Failed revocation attempts (each is retried)",
        )
        .unwrap_or_else(|_| unreachable!("valid metric definition"));
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|_| unreachable!("valid metric definition"))
        };
        let process = Registry::new();
        let _ = process.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ));
        Self {
            process,
            unsealed: register(
                &registry,
                gauge(
                    "core_unsealed",
                    "1 while this node is unsealed, 0 while sealed",
                ),
            ),
            requests: register(
                &registry,
                counter_vec("requests_total", "Requests served", &["mount", "status"]),
            ),
            latency: register(&registry, latency),
            drift_alerts: register(
                &registry,
                counter_vec(
                    "drift_alerts_total",
                    "Requests that departed from their workload's baseline",
                    &["reason"],
                ),
            ),
            revocation_failures: register(&registry, revocation_failures),
            leases_issued: register(
                &registry,
                counter(
                    "leases_issued_total",
                    "Secret leases issued (credentials created)",
                ),
            ),
            leases_revoked: register(
                &registry,
                counter(
                    "leases_revoked_total",
                    "Secret leases revoked by the backend (expired or asked for)",
                ),
            ),
            leases: register(
                &registry,
                gauge_vec("leases_active", "Active leases", &["mount", "role"]),
            ),
            tokens: register(
                &registry,
                gauge("tokens_active", "Tokens with a TTL (root tokens have none)"),
            ),
            retrying: register(
                &registry,
                gauge(
                    "leases_revocation_retrying",
                    "Leases whose revocation failed and is being retried",
                ),
            ),
            irrevocable: register(
                &registry,
                gauge(
                    "leases_irrevocable",
                    "Leases marked irrevocable (still retried hourly)",
                ),
            ),
            audit_devices: register(&registry, gauge("audit_devices", "Enabled audit devices")),
            alloc_bytes: register(
                &registry,
                gauge(
                    "runtime_alloc_bytes",
                    "Heap bytes the server holds (jemalloc's allocated)",
                ),
            ),
            allocator_resident_bytes: register(
                &registry,
                gauge(
                    "runtime_allocator_resident_bytes",
                    "Bytes the allocator keeps in physical memory (jemalloc's resident)",
                ),
            ),
            counted: Mutex::new(None),
            registry,
        }
    }

    pub fn observe_request(&self, mount: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [mount, status.as_str()];
        self.requests.with_label_values(&labels).inc();
        self.latency
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    pub fn drift_alert(&self, reason: &str) {
        self.drift_alerts.with_label_values(&[reason]).inc();
    }

    pub fn revocation_failed(&self) {
        self.revocation_failures.inc();
    }

    pub fn lease_issued(&self) {
        self.leases_issued.inc();
    }

    pub fn lease_revoked(&self) {
        self.leases_revoked.inc();
    }

    /// The cached counts, if fresh enough.
    pub fn fresh_counts(&self) -> Option<Counts> {
        let cached = self.counted.lock().ok()?;
        cached
            .as_ref()
            .filter(|(at, _)| at.elapsed() < COUNTS_FRESH_FOR)
            .map(|(_, counts)| counts.clone())
    }

    /// Keeps `counts` for the next scrapes if counting took `took`.
    pub fn remember(&self, counts: &Counts, took: Duration) {
        if took >= SLOW_COUNT {
            if let Ok(mut cached) = self.counted.lock() {
                *cached = Some((Instant::now(), counts.clone()));
            }
        }
    }

    /// Renders what a sealed node has: the seal gauge (0), request counts
    /// and the process metrics; the ledger's gauges are left out.
    pub fn render_sealed(&self) -> String {
        self.unsealed.set(0);
        self.sample_allocator();
        let mut families = self.registry.gather();
        let ledger = [
            "leases_active",
            "tokens_active",
            "leases_revocation_retrying",
            "leases_irrevocable",
            "audit_devices",
        ]
        .map(|n| format!("qm_{n}"));
        families.retain(|f| !ledger.iter().any(|n| n == f.name()));
        self.encode(families)
    }

    /// Sets the allocator's gauges; every render, sealed or not, has them.
    fn sample_allocator(&self) {
        if let Some(usage) = crate::allocator::usage() {
            self.alloc_bytes
                .set(i64::try_from(usage.allocated).unwrap_or(i64::MAX));
            self.allocator_resident_bytes
                .set(i64::try_from(usage.resident).unwrap_or(i64::MAX));
        }
    }

    fn encode(&self, mut families: Vec<prometheus::proto::MetricFamily>) -> String {
        families.extend(self.process.gather());
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&families, &mut out);
        String::from_utf8(out).unwrap_or_default()
    }

    /// Renders every metric, with gauges set from `counts`.
    pub fn render(
        &self,
        counts: Counts,
        mount_of: impl Fn(&str) -> String,
        audit_devices: usize,
    ) -> String {
        self.unsealed.set(1);
        self.sample_allocator();
        self.leases.reset();
        let mut tokens: i64 = 0;
        for (path, count) in &counts.by_path {
            let count = i64::try_from(*count).unwrap_or(i64::MAX);
            if path.starts_with("auth/") {
                tokens = tokens.saturating_add(count);
            } else {
                let mount = mount_of(path);
                let role = path.rsplit('/').next().unwrap_or_default();
                self.leases
                    .with_label_values(&[mount.as_str(), role])
                    .add(count);
            }
        }
        self.tokens.set(tokens);
        self.retrying
            .set(i64::try_from(counts.retrying).unwrap_or(i64::MAX));
        self.irrevocable
            .set(i64::try_from(counts.irrevocable).unwrap_or(i64::MAX));
        self.audit_devices
            .set(i64::try_from(audit_devices).unwrap_or(i64::MAX));
        self.encode(self.registry.gather())
    }
}
