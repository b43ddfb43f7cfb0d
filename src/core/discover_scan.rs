//! Discovery scans as background jobs: a source (`database/config/pg`,
//! `aws/config/root`) resolved to its mount and connector, the connector's read made on the
//! core's own behalf, its findings stored (only what changed) and the
//! identities that changed re-scored in the risk index; and the schedules
//! that start them (checked each second by the background loop).

use super::backend_reads::OwnCall;
use super::{Active, Core};
use crate::discover::{files, iam, postgres, DiscoverStore};
use crate::error::ApiError;
use crate::logical::Operation;
use std::sync::Arc;

/// A source a scan can read: a database config of a `database` mount, or
/// the root config of an `aws` mount.
pub(crate) struct ScanSource {
    /// `database/config/pg`, `aws/config/root`.
    pub source: String,
    pub mount_path: String,
    /// The database config's name; `None` for an AWS account.
    pub db_name: Option<String>,
}

impl ScanSource {
    /// The connector's path relative to the mount.
    pub(crate) fn relative_path(&self) -> String {
        match &self.db_name {
            Some(db) => format!("discover/{db}"),
            None => "discover".into(),
        }
    }

    /// The connector's path, which the caller must be able to read.
    pub(crate) fn connector_path(&self) -> String {
        format!("{}{}", self.mount_path, self.relative_path())
    }
}

impl Core {
    /// Resolves `source` (`MOUNT/config/NAME` of a database mount,
    /// `MOUNT/config/root` of an aws mount).
    pub(crate) fn scan_source(
        &self,
        active: &Active,
        source: &str,
    ) -> Result<ScanSource, ApiError> {
        let source = source.trim_matches('/');
        let bad = || {
            ApiError::bad(format!(
                "source: {source:?} is neither a database connection (MOUNT/config/NAME of a database mount) nor an AWS account (MOUNT/config/root of an aws mount)"
            ))
        };
        let (mount_part, db_name) = source.rsplit_once("/config/").ok_or_else(bad)?;
        if db_name.is_empty() || db_name.contains('/') || db_name.chars().any(char::is_control) {
            return Err(bad());
        }
        let mount_path = format!("{mount_part}/");
        let kind = active.mounts.get(&mount_path).map(|m| m.entry.kind);
        let db_name = match kind.as_deref() {
            Some("database") => Some(db_name.to_string()),
            Some("aws") if db_name == "root" => None,
            _ => return Err(bad()),
        };
        Ok(ScanSource {
            source: source.to_string(),
            mount_path,
            db_name,
        })
    }

    /// Starts a scan of `source` in the background; returns the job id.
    /// A source already being scanned is a 400 naming the running job.
    pub(crate) fn start_discover_scan(
        &self,
        active: &Arc<Active>,
        source: ScanSource,
    ) -> Result<String, ApiError> {
        let mounted = active
            .mounts
            .get(&source.mount_path)
            .ok_or(ApiError::NotFound)?;
        let call = self.own_call(&mounted);
        let now = self.clock.now_unix();
        let job = active
            .discover
            .jobs
            .start(&source.source, now)
            .map_err(|running| {
                ApiError::bad(format!(
                    "source: a scan of {} is already running (job {running})",
                    source.source
                ))
            })?;
        let (active, clock, id) = (Arc::clone(active), Arc::clone(&self.clock), job.clone());
        let work = async move {
            let outcome = scan(&active, &call, &source, &id, now).await;
            let finished = clock.now_unix();
            active.discover.jobs.update(&id, |j| {
                j.finished = Some(finished);
                match outcome {
                    Ok(()) => j.state = "done",
                    Err(e) => {
                        j.state = "failed";
                        j.error = Some(e.to_string());
                    }
                }
            });
        };
        match self.background_handle() {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        };
        Ok(job)
    }

    /// Starts the scans whose schedule is due. A source that is already
    /// being scanned, or that no longer resolves, waits for the next
    /// interval; the schedule stays, and says why in the log.
    pub(super) async fn run_discover_schedules(&self, active: &Arc<Active>) {
        let now = self.clock.now_unix();
        let due = match active.discover.schedules.due(now).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "reading the discovery schedules failed");
                return;
            }
        };
        for (name, mut schedule) in due {
            let started = self
                .scan_source(active, &schedule.source)
                .and_then(|source| self.start_discover_scan(active, source));
            match &started {
                Ok(job) => tracing::info!(
                    schedule = %name, source = %schedule.source, job = %job,
                    "scheduled discovery scan started"
                ),
                Err(e) => tracing::warn!(
                    schedule = %name, source = %schedule.source, error = %e,
                    "scheduled discovery scan not started"
                ),
            }
            schedule.ran(started.map_err(|e| e.to_string()), now);
            if let Err(e) = active.discover.schedules.put(&name, schedule).await {
                tracing::warn!(schedule = %name, error = %e, "recording a scheduled scan failed");
            }
        }
    }
}

async fn scan(
    active: &Active,
    call: &OwnCall,
    source: &ScanSource,
    job: &str,
    now: i64,
) -> Result<(), ApiError> {
    let answer = call
        .run(Operation::Read, &source.relative_path(), Default::default())
        .await?
        .unwrap_or_default();
    let store: &DiscoverStore = &active.discover;
    let key = store.fingerprint_key().await?;
    let (records, managed) = match &source.db_name {
        Some(db_name) => {
            let mut found = postgres::records(&answer, &source.source, db_name, now);
            for record in &mut found.records {
                record
                    .fingerprints
                    .push(files::postgres_user_fingerprint(&key, &record.name));
            }
            (found.records, found.managed)
        }
        None => {
            let found = iam::records(&answer, &source.source, &key, now);
            (found.records, found.managed)
        }
    };
    let total = records.len();
    store.jobs.update(job, |j| {
        j.state = "storing";
        j.managed = managed;
    });
    let (stored, changed) = store.replace_source(&source.source, records).await?;
    for id in &changed {
        active.nhi.risk.mark(id);
    }
    tracing::info!(
        source = %source.source, found = total, written = stored.written,
        removed = stored.removed, managed, "discovery scan done"
    );
    store.jobs.update(job, |j| {
        j.stored = total;
        j.result = Some(stored);
        j.changed_truncated = changed.len() > crate::discover::jobs::CHANGED_SHOWN;
        j.changed = changed
            .into_iter()
            .take(crate::discover::jobs::CHANGED_SHOWN)
            .collect();
    });
    Ok(())
}
