//! Discovery: the machine identities that live outside the broker, found
//! by connectors and kept for the inventory.
//!
//! A connector (a database's login roles through `database/discover/NAME`,
//! hard-coded secrets in files, [`files`]) turns what it finds into
//! [`Discovered`] records, one per identity, all of one *source* at a
//! time (`database/config/pg`, `files/NAME`): a rescan writes only the
//! records that changed and deletes those of identities that are gone.
//!
//! Keys below `sys/discover/`: `identities/<source>/<name>` (the records;
//! a name is percent-encoded so it is one key segment), `fingerprints/<fp>/<id>`
//! (which identities carry a keyed fingerprint, linking a secret found in
//! a file to the credential another connector found), `fingerprint-key`,
//! `schedules/<name>` ([`schedules`]).
//! No record holds a secret: only its fingerprint ([`fingerprint`]).

pub mod files;
pub mod fingerprint;
pub mod iam;
pub mod jobs;
pub mod postgres;
pub mod schedules;

use crate::barrier::{StorageView, Write};
use crate::error::ApiError;
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// The id prefix of every discovered identity.
pub const ID_PREFIX: &str = "discovered/";

/// What a name may not hold raw in a key segment.
const SEGMENT: &AsciiSet = &CONTROLS.add(b'/').add(b'%').add(b' ');

/// One identity a connector found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discovered {
    /// `postgres_role`, `file_secret`, ...
    pub kind: String,
    pub name: String,
    /// Which connection or scan found it (`database/config/pg`, `files/repo`).
    pub source: String,
    /// Unix seconds of the first scan that found it.
    pub first_seen: i64,
    /// When it was last seen in use (connected, used), if ever.
    pub last_used: Option<i64>,
    /// When its credential ends; `None` with `never_expires` false: unknown.
    pub expires: Option<i64>,
    pub never_expires: bool,
    /// Why it is privileged (`superuser`, `GRANT ALL on *`); empty: not.
    pub privileged: Vec<String>,
    /// What it can reach, for the inventory's `permissions`.
    pub permissions: Vec<String>,
    /// Where it was found in files (`deploy/ci.yml:12`), for file secrets.
    pub locations: Vec<String>,
    /// Keyed fingerprints of its secrets or key ids.
    pub fingerprints: Vec<String>,
    /// What else the connector knows (memberships, open sessions, a
    /// suggested dynamic role).
    pub details: BTreeMap<String, Value>,
}

impl Discovered {
    /// Its inventory id: `discovered/<source>/<name>`.
    pub fn id(&self) -> String {
        format!("{ID_PREFIX}{}/{}", self.source, encode(&self.name))
    }
}

/// A file scan's or a schedule's name: 1 to 64 letters, digits, `.`, `_`,
/// `-`, not starting with `.` (one plain key segment).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A name as one key segment.
pub fn encode(name: &str) -> String {
    utf8_percent_encode(name, SEGMENT).to_string()
}

/// A key segment's name.
pub fn decode(segment: &str) -> String {
    percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

/// What storing one source's scan changed.
#[derive(Debug, Default, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Stored {
    pub found: usize,
    pub written: usize,
    pub removed: usize,
}

/// Writes are sent in batches of this many.
const BATCH: usize = 500;

pub struct DiscoverStore {
    view: StorageView,
    pub jobs: jobs::ScanJobs,
    pub schedules: schedules::Schedules,
}

impl DiscoverStore {
    pub fn new(view: StorageView) -> Self {
        Self {
            schedules: schedules::Schedules::new(view.clone()),
            view,
            jobs: jobs::ScanJobs::default(),
        }
    }

    /// The storage key of an identity id, if it is a discovered one.
    fn key_of(id: &str) -> Option<String> {
        let rest = id.strip_prefix(ID_PREFIX)?;
        (!rest.is_empty() && !rest.contains("//")).then(|| format!("identities/{rest}"))
    }

    pub async fn get(&self, id: &str) -> Result<Option<Discovered>, ApiError> {
        match Self::key_of(id) {
            Some(key) => Ok(self.view.get_json(&key).await?),
            None => Ok(None),
        }
    }

    /// Every record's id, in key order.
    pub async fn ids(&self) -> Result<Vec<String>, ApiError> {
        let keys = self.view.keys("identities/").await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix("identities/"))
            .map(|rest| format!("{ID_PREFIX}{rest}"))
            .collect())
    }

    /// The ids of the identities that carry `fingerprint`.
    pub async fn carrying(&self, fingerprint: &str) -> Result<Vec<String>, ApiError> {
        let prefix = format!("fingerprints/{fingerprint}/");
        let keys = self.view.keys(&prefix).await?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix))
            .map(decode)
            .collect())
    }

    /// Replaces what `source` holds with `found`: writes the records that
    /// changed (keeping each one's first sighting), deletes the ones gone,
    /// and keeps the fingerprint index in step. Returns the ids changed.
    pub async fn replace_source(
        &self,
        source: &str,
        found: Vec<Discovered>,
    ) -> Result<(Stored, Vec<String>), ApiError> {
        let prefix = format!("identities/{source}/");
        let mut gone: BTreeMap<String, ()> = self
            .view
            .keys(&prefix)
            .await?
            .into_iter()
            .map(|k| (k, ()))
            .collect();
        let mut stored = Stored {
            found: found.len(),
            ..Stored::default()
        };
        let (mut writes, mut changed) = (Vec::new(), Vec::new());
        for mut record in found {
            let id = record.id();
            let Some(key) = Self::key_of(&id) else {
                continue;
            };
            gone.remove(&key);
            let old: Option<Discovered> = self.view.get_json(&key).await?;
            if let Some(old) = &old {
                record.first_seen = old.first_seen;
                if record.last_used.is_none() {
                    record.last_used = old.last_used;
                }
                if *old == record {
                    continue;
                }
            }
            writes.extend(fingerprint_moves(
                &id,
                old.as_ref().map(|o| o.fingerprints.as_slice()),
                Some(&record.fingerprints),
            ));
            writes.push(Write::json(key, &record));
            changed.push(id);
            stored.written = stored.written.saturating_add(1);
            if writes.len() >= BATCH {
                self.view.write(std::mem::take(&mut writes)).await?;
            }
        }
        for key in gone.into_keys() {
            let id = format!("{ID_PREFIX}{}", key.trim_start_matches("identities/"));
            if let Some(old) = self.view.get_json::<Discovered>(&key).await? {
                writes.extend(fingerprint_moves(&id, Some(&old.fingerprints), None));
            }
            writes.push(Write::Delete(key));
            changed.push(id);
            stored.removed = stored.removed.saturating_add(1);
            if writes.len() >= BATCH {
                self.view.write(std::mem::take(&mut writes)).await?;
            }
        }
        if !writes.is_empty() {
            self.view.write(writes).await?;
        }
        Ok((stored, changed))
    }

    /// Removes one record (adopted: the broker manages it now).
    pub async fn forget(&self, id: &str) -> Result<(), ApiError> {
        let Some(key) = Self::key_of(id) else {
            return Ok(());
        };
        let mut writes = Vec::new();
        if let Some(old) = self.view.get_json::<Discovered>(&key).await? {
            writes.extend(fingerprint_moves(id, Some(&old.fingerprints), None));
        }
        writes.push(Write::Delete(key));
        Ok(self.view.write(writes).await?)
    }

    /// The key fingerprints are made with, created on first use.
    pub async fn fingerprint_key(&self) -> Result<fingerprint::FingerprintKey, ApiError> {
        if let Some(key) = self.view.get_json::<String>("fingerprint-key").await? {
            if let Some(key) = fingerprint::FingerprintKey::from_hex(&key) {
                return Ok(key);
            }
        }
        let key = fingerprint::FingerprintKey::generate();
        self.view.put_json("fingerprint-key", &key.to_hex()).await?;
        Ok(key)
    }
}

/// The fingerprint index writes for an identity whose fingerprints go
/// from `old` to `new`.
fn fingerprint_moves(id: &str, old: Option<&[String]>, new: Option<&[String]>) -> Vec<Write> {
    let (old, new) = (old.unwrap_or_default(), new.unwrap_or_default());
    let entry = |fp: &str| format!("fingerprints/{fp}/{}", encode(id));
    let mut writes: Vec<Write> = old
        .iter()
        .filter(|fp| !new.contains(fp))
        .map(|fp| Write::Delete(entry(fp)))
        .collect();
    writes.extend(
        new.iter()
            .filter(|fp| !old.contains(fp))
            .map(|fp| Write::Put(entry(fp), b"1".to_vec())),
    );
    writes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_plain_segment() {
        for good in ["nightly", "pg.prod-1", "a_b", &"x".repeat(64)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in [
            "",
            ".hidden",
            "a/b",
            "a b",
            "é",
            "a%2fb",
            &"x".repeat(65),
            "a\n",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }
}
