//! The conformance suite: what every secrets plugin promises the core.
//!
//! Each check gets a fresh engine and [`MemoryStorage`], lets the plugin's
//! [`Fixture`] configure a role, and plays the core: it takes the plan's
//! record through JSON bytes as the ledger does, activates, renews, revokes
//! and rolls back. A "crash" is a new engine from the factory that knows
//! nothing but the storage and the stored record. The checks:
//!
//! - **issue**: a read of the fixture's path answers a plan; the stored
//!   record holds no secret; `Debug` of the reply prints no secret; activate
//!   creates the credential.
//! - **renew**: a renewable lease renews (skipped for non-renewable ones).
//! - **revoke**: revoke succeeds and the credential is gone.
//! - **revoke twice**: a second revoke of the same lease succeeds.
//! - **revoke after the backend forgot**: the credential was removed behind
//!   the plugin's back; revoke still succeeds (not failing forever).
//! - **crash before activate**: rollback from the stored record alone succeeds.
//! - **crash after activate**: rollback from the stored record alone removes
//!   the credential, and succeeds again when retried.
//! - **malformed record**: activate with a record missing its fields fails,
//!   with an error that quotes no secret, instead of running on defaults.

use super::request::TestRequest;
use super::storage::MemoryStorage;
use crate::{Internal, LeaseInfo, PluginError, PluginStorage, Reply, SecretsEngine};
use serde_json::{Map, Value};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// What the suite needs from a plugin's own test: how to configure it and
/// how to look at its backend.
#[async_trait::async_trait]
pub trait Fixture: Send + Sync {
    /// Configures `engine` in `storage` through its own paths (a backend
    /// config, a role) and returns the path that issues a credential, e.g.
    /// `creds/app`.
    async fn setup(
        &self,
        engine: &dyn SecretsEngine,
        storage: &dyn PluginStorage,
    ) -> Result<String, PluginError>;

    /// Whether the credential (the caller's data: the plan's data plus what
    /// activate added) exists at the backend; `None` when the backend cannot
    /// tell (an STS session).
    async fn exists(&self, credential: &Map<String, Value>) -> Result<Option<bool>, String>;

    /// Removes the credential at the backend behind the plugin's back (an
    /// operator's `DROP ROLE`). Does nothing where nothing can be removed.
    async fn forget(&self, credential: &Map<String, Value>) -> Result<(), String>;
}

/// How one check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Skipped(String),
    Failed(String),
}

/// One check and its outcome.
#[derive(Debug, Clone)]
pub struct Check {
    pub name: &'static str,
    pub outcome: Outcome,
}

/// Every check's outcome, in order.
#[derive(Debug, Clone)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Failed(_)))
    }

    /// Panics with the whole report if any check failed.
    ///
    /// # Panics
    /// When a check failed: this is the test's assertion.
    pub fn assert_passed(&self) {
        assert!(self.failed().next().is_none(), "{self}");
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "plugin conformance:")?;
        for check in &self.checks {
            match &check.outcome {
                Outcome::Passed => writeln!(f, "  passed   {}", check.name)?,
                Outcome::Skipped(why) => writeln!(f, "  skipped  {}: {why}", check.name)?,
                Outcome::Failed(why) => writeln!(f, "  FAILED   {}: {why}", check.name)?,
            }
        }
        Ok(())
    }
}

/// Runs every check against engines from `new_engine`, configured by
/// `fixture`. Print the report (`{report}`) and `report.assert_passed()`.
pub async fn conformance<E, F>(new_engine: F, fixture: &dyn Fixture) -> Report
where
    E: SecretsEngine + 'static,
    F: Fn() -> E,
{
    let factory = || -> Box<dyn SecretsEngine> { Box::new(new_engine()) };
    let mut checks = Vec::new();
    for (name, check) in CHECKS {
        let outcome = match Mount::new(&factory, fixture).await {
            Err(e) => Outcome::Failed(format!("setup: {e}")),
            Ok(mount) => match check(&mount, &factory).await {
                Ok(None) => Outcome::Passed,
                Ok(Some(why)) => Outcome::Skipped(why),
                Err(why) => Outcome::Failed(why),
            },
        };
        checks.push(Check { name, outcome });
    }
    Report { checks }
}

type Factory<'a> = &'a dyn Fn() -> Box<dyn SecretsEngine>;
/// Ok(None): passed; Ok(Some(why)): skipped; Err(why): failed.
type CheckResult = Result<Option<String>, String>;
type CheckFn = for<'a> fn(
    &'a Mount<'a>,
    Factory<'a>,
)
    -> std::pin::Pin<Box<dyn std::future::Future<Output = CheckResult> + 'a>>;

const CHECKS: [(&str, CheckFn); 8] = [
    ("issue", |m, _| Box::pin(issue(m))),
    ("renew", |m, _| Box::pin(renew(m))),
    ("revoke", |m, _| Box::pin(revoke(m))),
    ("revoke twice", |m, _| Box::pin(revoke_twice(m))),
    ("revoke after the backend forgot the credential", |m, _| {
        Box::pin(revoke_forgotten(m))
    }),
    ("crash between plan and activate", |m, f| {
        Box::pin(crash_before_activate(m, f))
    }),
    (
        "crash between activate and the lease turning active",
        |m, f| Box::pin(crash_after_activate(m, f)),
    ),
    ("malformed lease record", |m, _| {
        Box::pin(malformed_record(m))
    }),
];

/// One plugin mount: an engine, its storage and the issuing path.
struct Mount<'a> {
    engine: Box<dyn SecretsEngine>,
    storage: MemoryStorage,
    path: String,
    fixture: &'a dyn Fixture,
}

/// A planned credential as the core holds it after writing the pending lease.
struct Planned {
    lease: LeaseInfo,
    /// The ledger's bytes of the record.
    stored: Vec<u8>,
    data: Map<String, Value>,
    renewable: bool,
}

/// Key names whose values are secrets in the caller's data.
fn is_secret_field(key: &str) -> bool {
    ["password", "secret", "token", "private"]
        .iter()
        .any(|word| key.contains(word))
}

/// The secret values in a credential (long enough to search for).
fn secret_values(data: &Map<String, Value>) -> Vec<&str> {
    data.iter()
        .filter(|(key, _)| is_secret_field(key))
        .filter_map(|(_, value)| value.as_str())
        .filter(|value| value.len() >= 6)
        .collect()
}

/// Fails if `text` (a record, a `Debug` output, an error) quotes a secret.
fn no_secret_in(text: &str, what: &str, data: &Map<String, Value>) -> Result<(), String> {
    match secret_values(data).iter().any(|s| text.contains(s)) {
        true => Err(format!("{what} contains a secret value")),
        false => Ok(()),
    }
}

fn unique_lease_id(path: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{}/conformance{nanos}x{n}", path.trim_end_matches('/'))
}

/// The record as the ledger gives it back: through JSON bytes.
fn reload(stored: &[u8]) -> Result<Internal, String> {
    serde_json::from_slice(stored)
        .map(Internal::from_stored)
        .map_err(|e| format!("the stored record does not parse: {e}"))
}

impl<'a> Mount<'a> {
    async fn new(factory: Factory<'_>, fixture: &'a dyn Fixture) -> Result<Self, PluginError> {
        let engine = factory();
        let storage = MemoryStorage::new();
        let path = fixture.setup(engine.as_ref(), &storage).await?;
        Ok(Self {
            engine,
            storage,
            path,
            fixture,
        })
    }

    /// Reads the issuing path and records the plan as the core would.
    async fn plan(&self) -> Result<Planned, String> {
        let request = TestRequest::read(&self.path);
        let reply = request
            .send(self.engine.as_ref(), &self.storage)
            .await
            .map_err(|e| format!("read {}: {e}", self.path))?;
        let shown = format!("{reply:?}");
        let Reply::Secret(plan) = reply else {
            return Err(format!("read {} answered {shown}, not a plan", self.path));
        };
        no_secret_in(&shown, "Debug of the plan", &plan.data)?;
        let stored = serde_json::to_vec(&plan.internal.to_stored())
            .map_err(|e| format!("the record does not serialize: {e}"))?;
        no_secret_in(
            &String::from_utf8_lossy(&stored),
            "the lease record",
            &plan.data,
        )?;
        let now = request.request().now;
        let lease = LeaseInfo {
            lease_id: unique_lease_id(&self.path),
            role: plan.role.clone(),
            internal: reload(&stored)?,
            issued_at: now,
            expire_at: now.saturating_add(plan.ttl.max(60)),
        };
        Ok(Planned {
            lease,
            stored,
            data: plan.data,
            renewable: plan.renewable,
        })
    }

    /// Activates a plan; returns the caller's credential.
    async fn activate(&self, planned: &Planned) -> Result<Map<String, Value>, String> {
        let extra = self
            .engine
            .activate(&planned.lease, &planned.data, &self.storage)
            .await
            .map_err(|e| format!("activate: {e}"))?;
        let mut credential = planned.data.clone();
        credential.extend(extra);
        Ok(credential)
    }

    async fn issue(&self) -> Result<(Planned, Map<String, Value>), String> {
        let planned = self.plan().await?;
        let credential = self.activate(&planned).await?;
        if credential.is_empty() {
            return Err("the plan and activate gave the caller no credential".into());
        }
        if self.fixture.exists(&credential).await? == Some(false) {
            return Err("activate succeeded but the credential does not exist".into());
        }
        Ok((planned, credential))
    }

    async fn revoke(&self, lease: &LeaseInfo, what: &str) -> Result<(), String> {
        self.engine
            .revoke(lease, &self.storage)
            .await
            .map(|_warnings| ())
            .map_err(|e| format!("{what}: {e}"))
    }

    async fn assert_gone(&self, credential: &Map<String, Value>, when: &str) -> CheckResult {
        match self.fixture.exists(credential).await? {
            Some(true) => Err(format!("the credential still exists after {when}")),
            _ => Ok(None),
        }
    }
}

async fn issue(mount: &Mount<'_>) -> CheckResult {
    let (planned, _) = mount.issue().await?;
    mount.revoke(&planned.lease, "revoke (cleanup)").await?;
    Ok(None)
}

async fn renew(mount: &Mount<'_>) -> CheckResult {
    let (planned, credential) = mount.issue().await?;
    let outcome = if planned.renewable {
        let mut renewed = planned.lease.clone();
        renewed.expire_at = renewed.expire_at.saturating_add(3600);
        match mount.engine.renew(&renewed, &mount.storage).await {
            Err(e) => Err(format!("renew: {e}")),
            Ok(()) if mount.fixture.exists(&credential).await? == Some(false) => {
                Err("the credential is gone after renew".into())
            }
            Ok(()) => Ok(None),
        }
    } else {
        Ok(Some("the plugin's leases are not renewable".into()))
    };
    mount.revoke(&planned.lease, "revoke (cleanup)").await?;
    outcome
}

async fn revoke(mount: &Mount<'_>) -> CheckResult {
    let (planned, credential) = mount.issue().await?;
    mount.revoke(&planned.lease, "revoke").await?;
    mount.assert_gone(&credential, "revoke").await
}

async fn revoke_twice(mount: &Mount<'_>) -> CheckResult {
    let (planned, _) = mount.issue().await?;
    mount.revoke(&planned.lease, "first revoke").await?;
    mount.revoke(&planned.lease, "second revoke").await?;
    Ok(None)
}

async fn revoke_forgotten(mount: &Mount<'_>) -> CheckResult {
    let (planned, credential) = mount.issue().await?;
    mount.fixture.forget(&credential).await?;
    mount
        .revoke(&planned.lease, "revoke of a credential the backend forgot")
        .await?;
    Ok(None)
}

/// A new engine (a restarted server) that sees only the storage and the
/// stored record.
fn restarted_lease(planned: &Planned) -> Result<LeaseInfo, String> {
    Ok(LeaseInfo {
        internal: reload(&planned.stored)?,
        ..planned.lease.clone()
    })
}

async fn crash_before_activate(mount: &Mount<'_>, factory: Factory<'_>) -> CheckResult {
    let planned = mount.plan().await?;
    let restarted = factory();
    restarted
        .rollback(&restarted_lease(&planned)?, &mount.storage)
        .await
        .map_err(|e| format!("rollback of a plan never activated: {e}"))?;
    Ok(None)
}

async fn crash_after_activate(mount: &Mount<'_>, factory: Factory<'_>) -> CheckResult {
    let planned = mount.plan().await?;
    let credential = mount.activate(&planned).await?;
    let restarted = factory();
    let lease = restarted_lease(&planned)?;
    restarted
        .rollback(&lease, &mount.storage)
        .await
        .map_err(|e| format!("rollback of an activated plan: {e}"))?;
    mount.assert_gone(&credential, "rollback").await?;
    restarted
        .rollback(&lease, &mount.storage)
        .await
        .map_err(|e| format!("rollback retried: {e}"))?;
    Ok(None)
}

async fn malformed_record(mount: &Mount<'_>) -> CheckResult {
    let planned = mount.plan().await?;
    let broken = LeaseInfo {
        internal: Internal::from_stored(Value::Object(Map::new())),
        ..planned.lease.clone()
    };
    match mount
        .engine
        .activate(&broken, &planned.data, &mount.storage)
        .await
    {
        Ok(extra) => {
            let mut credential = planned.data.clone();
            credential.extend(extra);
            // Best effort: do not leave what it created behind.
            let _ = mount.fixture.forget(&credential).await;
            Err("activate ran on an empty record instead of failing".into())
        }
        Err(e) => {
            no_secret_in(&e.to_string(), "the error", &planned.data)?;
            Ok(None)
        }
    }
}
