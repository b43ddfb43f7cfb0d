//! Discovery scans as background jobs: a source (`database/config/pg`)
//! resolved to its mount and connector, the connector's read made on the
//! core's own behalf, its findings stored (only what changed) and the
//! identities that changed re-scored in the risk index.

use super::backend_reads::OwnCall;
use super::{Active, Core};
use crate::discover::{files, postgres, DiscoverStore};
use crate::error::ApiError;
use crate::logical::Operation;
use std::sync::Arc;

/// A source a scan can read: a database config of a `database` mount.
pub(crate) struct ScanSource {
    /// `database/config/pg`.
    pub source: String,
    pub mount_path: String,
    pub db_name: String,
}

impl ScanSource {
    /// The connector's path on the mount, which the caller must be able
    /// to read.
    pub(crate) fn connector_path(&self) -> String {
        format!("{}discover/{}", self.mount_path, self.db_name)
    }
}

impl Core {
    /// Resolves `source` (`MOUNT/config/NAME` of a database mount).
    pub(crate) fn scan_source(&self, active: &Active, source: &str) -> Result<ScanSource, ApiError> {
        let source = source.trim_matches('/');
        let bad = || {
            ApiError::bad(format!(
                "source: {source:?} is not a database connection (MOUNT/config/NAME of a database mount)"
            ))
        };
        let (mount_part, db_name) = source.rsplit_once("/config/").ok_or_else(bad)?;
        if db_name.is_empty() || db_name.contains('/') || db_name.chars().any(char::is_control) {
            return Err(bad());
        }
        let mount_path = format!("{mount_part}/");
        match active.mounts.get(&mount_path) {
            Some(mounted) if mounted.entry.kind == "database" => Ok(ScanSource {
                source: source.to_string(),
                mount_path,
                db_name: db_name.to_string(),
            }),
            _ => Err(bad()),
        }
    }

    /// Starts a scan of `source` in the background; returns the job id.
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
        let job = active.discover.jobs.start(&source.source, now);
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
}

async fn scan(
    active: &Active,
    call: &OwnCall,
    source: &ScanSource,
    job: &str,
    now: i64,
) -> Result<(), ApiError> {
    let path = format!("discover/{}", source.db_name);
    let answer = call
        .run(Operation::Read, &path, Default::default())
        .await?
        .unwrap_or_default();
    let mut found = postgres::records(&answer, &source.source, &source.db_name, now);
    let store: &DiscoverStore = &active.discover;
    let key = store.fingerprint_key().await?;
    for record in &mut found.records {
        record
            .fingerprints
            .push(files::postgres_user_fingerprint(&key, &record.name));
    }
    let total = found.records.len();
    store.jobs.update(job, |j| {
        j.state = "storing";
        j.managed = found.managed;
    });
    let (stored, changed) = store.replace_source(&source.source, found.records).await?;
    for id in &changed {
        active.nhi.risk.mark(id);
    }
    tracing::info!(
        source = %source.source, found = total, written = stored.written,
        removed = stored.removed, managed = found.managed, "discovery scan done"
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
