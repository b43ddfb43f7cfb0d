//! Scheduled discovery scans: a source rescanned every `interval`, kept
//! under `sys/discover/schedules/NAME` and run by the active node's
//! background loop (`crate::core::discover_scan`). A schedule whose last
//! run is still going is not started again; a run that fails is retried at
//! the next interval, its error kept on the job.

use crate::barrier::StorageView;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tokio::sync::Mutex;

/// The shortest interval a schedule takes.
pub const MIN_INTERVAL: i64 = 10;
/// The longest: a year.
pub const MAX_INTERVAL: i64 = 366 * 86_400;

const PREFIX: &str = "schedules/";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// What it scans: `MOUNT/config/NAME` or `MOUNT/config/root`.
    pub source: String,
    /// Seconds between runs.
    pub interval: i64,
    /// Unix seconds of the next run.
    pub next_run: i64,
    pub last_run: Option<i64>,
    /// The job of the last run (`sys/discover/jobs/ID`).
    pub last_job: Option<String>,
    /// Why the last due run did not start (the source is gone, or still
    /// being scanned); `None` once one starts.
    #[serde(default)]
    pub not_started: Option<String>,
    pub created: i64,
    /// The display name of the token that wrote it.
    pub created_by: String,
}

impl Schedule {
    pub fn due(&self, now: i64) -> bool {
        now >= self.next_run
    }

    /// Records the run due at `now`: its job, or why it did not start.
    /// The next one is an interval on either way.
    pub fn ran(&mut self, started: Result<String, String>, now: i64) {
        match started {
            Ok(job) => {
                self.last_run = Some(now);
                self.last_job = Some(job);
                self.not_started = None;
            }
            Err(why) => self.not_started = Some(why),
        }
        self.next_run = now.saturating_add(self.interval);
    }
}

/// The schedules, read from storage once per activation and kept in step
/// with every write, so the background loop's check each second reads
/// memory only.
pub struct Schedules {
    view: StorageView,
    loaded: Mutex<Option<BTreeMap<String, Schedule>>>,
}

impl Schedules {
    pub fn new(view: StorageView) -> Self {
        Self {
            view,
            loaded: Mutex::new(None),
        }
    }

    async fn load(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<BTreeMap<String, Schedule>>>, ApiError> {
        let mut loaded = self.loaded.lock().await;
        if loaded.is_none() {
            let mut all = BTreeMap::new();
            for key in self.view.keys(PREFIX).await? {
                if let Some(schedule) = self.view.get_json::<Schedule>(&key).await? {
                    all.insert(key.trim_start_matches(PREFIX).to_string(), schedule);
                }
            }
            *loaded = Some(all);
        }
        Ok(loaded)
    }

    pub async fn names(&self) -> Result<Vec<String>, ApiError> {
        Ok(self
            .load()
            .await?
            .iter()
            .flat_map(|all| all.keys().cloned())
            .collect())
    }

    pub async fn get(&self, name: &str) -> Result<Option<Schedule>, ApiError> {
        Ok(self
            .load()
            .await?
            .as_ref()
            .and_then(|all| all.get(name).cloned()))
    }

    /// Stores `schedule` under `name` (written first, then remembered).
    pub async fn put(&self, name: &str, schedule: Schedule) -> Result<(), ApiError> {
        let mut loaded = self.load().await?;
        self.view
            .put_json(&format!("{PREFIX}{name}"), &schedule)
            .await?;
        if let Some(all) = loaded.as_mut() {
            all.insert(name.to_string(), schedule);
        }
        Ok(())
    }

    /// Removes `name`; whether it was there.
    pub async fn delete(&self, name: &str) -> Result<bool, ApiError> {
        let mut loaded = self.load().await?;
        let existed = loaded.as_ref().is_some_and(|all| all.contains_key(name));
        self.view.delete(&format!("{PREFIX}{name}")).await?;
        if let Some(all) = loaded.as_mut() {
            all.remove(name);
        }
        Ok(existed)
    }

    /// The schedules due at `now`, by name.
    pub async fn due(&self, now: i64) -> Result<Vec<(String, Schedule)>, ApiError> {
        Ok(self
            .load()
            .await?
            .iter()
            .flat_map(|all| all.iter())
            .filter(|(_, s)| s.due(now))
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(next_run: i64) -> Schedule {
        Schedule {
            source: "database/config/pg".into(),
            interval: 60,
            next_run,
            last_run: None,
            last_job: None,
            not_started: None,
            created: 0,
            created_by: "root".into(),
        }
    }

    #[test]
    fn a_schedule_is_due_from_its_next_run_and_moves_an_interval_on() {
        let mut s = schedule(100);
        assert!(!s.due(99));
        assert!(s.due(100));
        s.ran(Ok("job".into()), 130);
        assert_eq!((s.next_run, s.last_run), (190, Some(130)));
        assert!(!s.due(189));
        s.ran(Err("the source is gone".into()), 190);
        assert_eq!(s.next_run, 250, "tried again an interval on");
        assert_eq!(
            (s.last_run, s.last_job.as_deref()),
            (Some(130), Some("job"))
        );
        assert_eq!(s.not_started.as_deref(), Some("the source is gone"));
        s.ran(Ok("next".into()), 250);
        assert_eq!(s.not_started, None);
        s.next_run = i64::MAX - 1;
        s.ran(Ok("job".into()), i64::MAX - 1);
        assert_eq!(s.next_run, i64::MAX, "saturates");
    }
}
