//! A mount table entry: the path a backend is mounted at, its type, its
//! TTL limits and options. Stored in the core's mount table, handed to every
//! backend with each request.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct MountConfig {
    /// Seconds; 0 means the system default.
    pub default_lease_ttl: i64,
    /// Seconds; 0 means the system default.
    pub max_lease_ttl: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MountEntry {
    /// With a trailing slash: `secret/`, `auth/approle/`.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub accessor: String,
    pub uuid: String,
    pub config: MountConfig,
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub seal_wrap: bool,
}

impl MountEntry {
    pub fn new(path: &str, kind: &str, description: &str) -> Self {
        let uuid = uuid::Uuid::new_v4().to_string();
        let accessor = format!("{}_{}", kind, &uuid[..8]);
        Self {
            path: path.to_string(),
            kind: kind.to_string(),
            description: description.to_string(),
            accessor,
            uuid,
            config: MountConfig::default(),
            options: BTreeMap::new(),
            local: false,
            seal_wrap: false,
        }
    }

    pub fn is_auth(&self) -> bool {
        self.path.starts_with("auth/")
    }

    /// The storage prefix this mount's backend sees.
    pub fn storage_prefix(&self) -> String {
        if self.is_auth() {
            format!("auth/{}/", self.uuid)
        } else {
            format!("logical/{}/", self.uuid)
        }
    }
}
