//! KV v2 bookkeeping: per-key metadata with the state of every version, and
//! the mount-wide configuration.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

const DEFAULT_MAX_VERSIONS: u64 = 10;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct KvConfig {
    pub(super) max_versions: u64,
    pub(super) cas_required: bool,
    pub(super) delete_version_after: i64,
}

impl KvConfig {
    pub(super) fn to_json(&self) -> Value {
        json!({
            "max_versions": self.max_versions,
            "cas_required": self.cas_required,
            "delete_version_after": format!("{}s", self.delete_version_after),
        })
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct VersionState {
    pub(super) created_time: String,
    pub(super) deletion_time: String,
    pub(super) destroyed: bool,
}

impl VersionState {
    pub(super) fn soft_delete(&mut self, now: &str) {
        if self.deletion_time.is_empty() && !self.destroyed {
            self.deletion_time = now.to_string();
        }
    }

    pub(super) fn undelete(&mut self) {
        if !self.destroyed {
            self.deletion_time.clear();
        }
    }

    /// Deleted by hand, or past its `delete_version_after` deadline.
    pub(super) fn is_deleted(&self, now: Option<SystemTime>) -> bool {
        match (self.deletion_time.is_empty(), now) {
            (true, _) => false,
            (false, Some(now)) => humantime::parse_rfc3339(&self.deletion_time)
                .map(|t| t <= now)
                .unwrap_or(true),
            (false, None) => true,
        }
    }

    pub(super) fn to_json(&self, version: u64, meta: &KeyMetadata) -> Value {
        json!({
            "created_time": self.created_time,
            "custom_metadata": meta.custom_metadata,
            "deletion_time": self.deletion_time,
            "destroyed": self.destroyed,
            "version": version,
        })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct KeyMetadata {
    pub(super) created_time: String,
    pub(super) updated_time: String,
    pub(super) current_version: u64,
    pub(super) oldest_version: u64,
    pub(super) max_versions: u64,
    pub(super) cas_required: bool,
    pub(super) delete_version_after: i64,
    pub(super) custom_metadata: Option<BTreeMap<String, String>>,
    pub(super) versions: BTreeMap<u64, VersionState>,
}

impl KeyMetadata {
    pub(super) fn new(now: &str) -> Self {
        Self {
            created_time: now.to_string(),
            updated_time: now.to_string(),
            current_version: 0,
            oldest_version: 0,
            max_versions: 0,
            cas_required: false,
            delete_version_after: 0,
            custom_metadata: None,
            versions: BTreeMap::new(),
        }
    }

    pub(super) fn add_version(&mut self, version: u64, now: &str) {
        let deletion_time = if self.delete_version_after > 0 {
            let deadline = humantime::parse_rfc3339(now)
                .ok()
                .and_then(|t| {
                    t.checked_add(Duration::from_secs(
                        self.delete_version_after.unsigned_abs(),
                    ))
                })
                .filter(|t| {
                    t.duration_since(std::time::UNIX_EPOCH)
                        .is_ok_and(|d| d.as_secs() <= crate::clock::LAST_RFC3339)
                });
            deadline
                .map(|t| humantime::format_rfc3339_nanos(t).to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        self.versions.insert(
            version,
            VersionState {
                created_time: now.to_string(),
                deletion_time,
                destroyed: false,
            },
        );
        self.current_version = version;
        if self.oldest_version == 0 {
            self.oldest_version = version;
        }
        self.updated_time = now.to_string();
    }

    pub(super) fn effective_max_versions(&self, config: &KvConfig) -> u64 {
        [self.max_versions, config.max_versions, DEFAULT_MAX_VERSIONS]
            .into_iter()
            .find(|v| *v > 0)
            .unwrap_or(DEFAULT_MAX_VERSIONS)
    }

    /// Drops the oldest versions beyond `max`; returns the ones dropped.
    pub(super) fn trim(&mut self, max: u64) -> BTreeSet<u64> {
        let mut dropped = BTreeSet::new();
        while u64::try_from(self.versions.len()).unwrap_or(u64::MAX) > max {
            if let Some((&oldest, _)) = self.versions.iter().next() {
                self.versions.remove(&oldest);
                dropped.insert(oldest);
            }
        }
        self.oldest_version = self.versions.keys().next().copied().unwrap_or(0);
        dropped
    }

    pub(super) fn to_json(&self) -> Value {
        let versions: serde_json::Map<String, Value> = self
            .versions
            .iter()
            .map(|(v, s)| {
                (
                    v.to_string(),
                    json!({
                        "created_time": s.created_time,
                        "deletion_time": s.deletion_time,
                        "destroyed": s.destroyed,
                    }),
                )
            })
            .collect();
        json!({
            "cas_required": self.cas_required,
            "created_time": self.created_time,
            "current_version": self.current_version,
            "custom_metadata": self.custom_metadata,
            "delete_version_after": format!("{}s", self.delete_version_after),
            "max_versions": self.max_versions,
            "oldest_version": self.oldest_version,
            "updated_time": self.updated_time,
            "versions": versions,
        })
    }
}
