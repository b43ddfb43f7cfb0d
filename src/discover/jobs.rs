//! Discovery scans that outlive their request: each a job with its
//! progress, read at `sys/discover/jobs/ID`. One source has at most one
//! scan running (two would race over its records). Kept in memory: a scan
//! interrupted by a restart is simply run again (a rescan only writes what
//! changed).

use super::Stored;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// Changed ids a job lists.
pub const CHANGED_SHOWN: usize = 1000;

/// Jobs kept; past this many, finished ones are forgotten oldest first.
const KEPT: usize = 256;

#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanJob {
    pub id: String,
    pub source: String,
    /// `reading`, `storing`, `done` or `failed`.
    pub state: &'static str,
    /// Identities stored so far out of those found.
    pub stored: usize,
    /// The outcome once done.
    pub result: Option<Stored>,
    /// Identities the broker manages, matched and not reported.
    pub managed: usize,
    /// The ids written or removed (the first `CHANGED_SHOWN`).
    pub changed: Vec<String>,
    /// More changed than shown.
    pub changed_truncated: bool,
    pub error: Option<String>,
    pub started: i64,
    pub finished: Option<i64>,
}

/// The jobs by id. A std mutex: held for map access only.
#[derive(Default)]
pub struct ScanJobs(Mutex<HashMap<String, ScanJob>>);

impl ScanJobs {
    /// Registers a new job for `source`; returns its id, or `Err` with
    /// the id of the scan of `source` still running.
    pub fn start(&self, source: &str, now: i64) -> Result<String, String> {
        let id = uuid::Uuid::new_v4().to_string();
        if let Ok(mut jobs) = self.0.lock() {
            if let Some(running) = jobs
                .values()
                .find(|j| j.source == source && j.finished.is_none())
            {
                return Err(running.id.clone());
            }
            if jobs.len() >= KEPT {
                let oldest = jobs
                    .values()
                    .filter(|j| j.finished.is_some())
                    .min_by_key(|j| j.started)
                    .map(|j| j.id.clone());
                if let Some(oldest) = oldest {
                    jobs.remove(&oldest);
                }
            }
            jobs.insert(
                id.clone(),
                ScanJob {
                    id: id.clone(),
                    source: source.to_string(),
                    state: "reading",
                    started: now,
                    ..ScanJob::default()
                },
            );
        }
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<ScanJob> {
        self.0.lock().ok().and_then(|jobs| jobs.get(id).cloned())
    }

    pub fn update(&self, id: &str, change: impl FnOnce(&mut ScanJob)) {
        if let Ok(mut jobs) = self.0.lock() {
            if let Some(job) = jobs.get_mut(id) {
                change(job);
            }
        }
    }
}
