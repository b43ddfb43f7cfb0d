//! The ledger: one record per issued credential (and per token with a
//! TTL), with ordered indexes so nothing ever has to be loaded whole.
//!
//! Keys below `sys/lease/`:
//! - `id/<lease_id>`: the record. Lease ids are paths
//!   (`database/creds/app-ro/<random>`), so revoke-prefix is a prefix scan
//!   that costs what it revokes.
//! - `due/<unix seconds, 20 digits>/<lease_id>`: when the lease next needs
//!   attention (its expiry, or its next revocation retry). The expiry loop
//!   reads this index from its head.
//! - `token/<token hash>/<lease_id>`: the leases a token holds, revoked with it.
//! - `pending/<lease_id>` → boot id: leases recorded before their credential
//!   was created; rolled back if found from an earlier boot.
//! - `failing/<lease_id>` → irrevocable (bool): leases whose revocation has
//!   failed at least once, for the metrics.
//!
//! Writes are applied in order, not as atomic batches (an atomic batch
//! makes sled write its log out on every call, which tripled the cost of a
//! revocation). A crash keeps a prefix of a write, so the order is chosen
//! to make every prefix safe: the entries that make a lease findable (`due/`,
//! `token/`, `pending/`) come before its record, and go after it. A record
//! is never left without its `due/` entry, so nothing is forgotten; an
//! entry left without its record is dropped when it is next read
//! ([`LeaseStore::forget_entries`], and `tidy`).

use super::record::{LeaseRecord, LeaseState};
use crate::barrier::{BarrierError, StorageView, Write};

/// What can go wrong in the ledger: only its storage, through the barrier.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error(transparent)]
    Barrier(#[from] BarrierError),
}

pub struct LeaseStore {
    view: StorageView,
}

fn due_key(due_at: i64, lease_id: &str) -> String {
    format!("due/{:020}/{lease_id}", due_at.max(0))
}

/// Parses a `due/` key (relative to `due/`) into (due_at, lease_id).
fn parse_due(key: &str) -> Option<(i64, String)> {
    let (due, lease_id) = key.split_once('/')?;
    Some((due.parse().ok()?, lease_id.to_string()))
}

impl LeaseStore {
    pub fn new(view: StorageView) -> Self {
        Self { view }
    }

    pub async fn get(&self, lease_id: &str) -> Result<Option<LeaseRecord>, LedgerError> {
        Ok(self.view.get_json(&format!("id/{lease_id}")).await?)
    }

    /// Writes a record and its indexes atomically and durably. `previous` is
    /// the record as stored before (to move its `due` entry).
    pub async fn put(
        &self,
        record: &LeaseRecord,
        previous: Option<&LeaseRecord>,
        boot_id: &str,
    ) -> Result<(), LedgerError> {
        Ok(self
            .view
            .write_in_order(Self::writes_for(record, previous, boot_id))
            .await?)
    }

    /// Like [`LeaseStore::put`], durable with the caller's next sync.
    pub fn put_relaxed(
        &self,
        record: &LeaseRecord,
        previous: Option<&LeaseRecord>,
        boot_id: &str,
    ) -> Result<(), LedgerError> {
        Ok(self
            .view
            .write_relaxed_in_order(Self::writes_for(record, previous, boot_id))?)
    }

    /// Writes many new records at once, then syncs: for bulk loads
    /// (migrations, benchmarks), not for issuing.
    pub async fn import(&self, records: &[LeaseRecord], boot_id: &str) -> Result<(), LedgerError> {
        let writes = records
            .iter()
            .flat_map(|r| Self::writes_for(r, None, boot_id))
            .collect();
        self.view.write_relaxed(writes)?;
        Ok(self.view.sync().await?)
    }

    /// The writes for a record, in a crash-safe order (see the module doc).
    fn writes_for(
        record: &LeaseRecord,
        previous: Option<&LeaseRecord>,
        boot_id: &str,
    ) -> Vec<Write> {
        let id = &record.lease_id;
        let mut writes = Vec::with_capacity(6);
        writes.push(Write::json(due_key(record.due_at, id), &""));
        if let Some(token) = &record.token_hash {
            writes.push(Write::json(format!("token/{token}/{id}"), &""));
        }
        let pending = record.state == LeaseState::Pending;
        if pending {
            writes.push(Write::json(format!("pending/{id}"), &boot_id));
        }
        if record.revoke_attempts > 0 {
            let irrevocable = record.state == LeaseState::Irrevocable;
            writes.push(Write::json(format!("failing/{id}"), &irrevocable));
        }
        writes.push(Write::json(format!("id/{id}"), record));
        if !pending {
            writes.push(Write::Delete(format!("pending/{id}")));
        }
        if let Some(previous) = previous {
            if previous.due_at != record.due_at {
                writes.push(Write::Delete(due_key(previous.due_at, id)));
            }
        }
        writes
    }

    /// The barrier keys a record and its index entries may be stored at
    /// (a snapshot restore carries forgotten leases over with them).
    pub fn stored_keys(&self, record: &LeaseRecord) -> Vec<String> {
        Self::deletion(record)
            .into_iter()
            .filter_map(|write| match write {
                Write::Delete(key) => Some(self.view.full(&key)),
                Write::Put(..) => None,
            })
            .collect()
    }

    /// Removes a record and every index entry of it.
    pub async fn delete(&self, record: &LeaseRecord) -> Result<(), LedgerError> {
        Ok(self.view.write_in_order(Self::deletion(record)).await?)
    }

    /// Like [`LeaseStore::delete`], durable with the caller's next durable write.
    pub async fn delete_relaxed(&self, record: &LeaseRecord) -> Result<(), LedgerError> {
        Ok(self
            .view
            .write_relaxed_in_order_async(Self::deletion(record))
            .await?)
    }

    /// The record first, then its entries (see the module doc). `failing/`
    /// goes before the record: at worst a metric undercounts one lease.
    fn deletion(record: &LeaseRecord) -> Vec<Write> {
        let id = &record.lease_id;
        let mut writes = Vec::with_capacity(5);
        if record.revoke_attempts > 0 {
            writes.push(Write::Delete(format!("failing/{id}")));
        }
        writes.push(Write::Delete(format!("id/{id}")));
        writes.push(Write::Delete(due_key(record.due_at, id)));
        if let Some(token) = &record.token_hash {
            writes.push(Write::Delete(format!("token/{token}/{id}")));
        }
        writes.push(Write::Delete(format!("pending/{id}")));
        writes
    }

    /// Drops index entries of a lease whose record is gone (left by a crash
    /// between ordered writes): its `pending/` and `failing/` entries, and
    /// the `due/` and `token/` entries the caller found.
    pub async fn forget_entries(
        &self,
        lease_id: &str,
        due_at: Option<i64>,
        token_hash: Option<&str>,
    ) -> Result<(), LedgerError> {
        let mut writes = vec![
            Write::Delete(format!("pending/{lease_id}")),
            Write::Delete(format!("failing/{lease_id}")),
        ];
        if let Some(due_at) = due_at {
            writes.push(Write::Delete(due_key(due_at, lease_id)));
        }
        if let Some(token) = token_hash {
            writes.push(Write::Delete(format!("token/{token}/{lease_id}")));
        }
        Ok(self.view.write_relaxed_in_order_async(writes).await?)
    }

    /// Leases whose revocation has failed at least once: (retrying, irrevocable).
    pub async fn failing_counts(&self) -> Result<(usize, usize), LedgerError> {
        let mut counts: (usize, usize) = (0, 0);
        for key in self.view.keys("failing/").await? {
            match self.view.get_json::<bool>(&key).await? {
                Some(true) => counts.1 = counts.1.saturating_add(1),
                Some(false) => counts.0 = counts.0.saturating_add(1),
                None => {}
            }
        }
        Ok(counts)
    }

    /// Every lease whose revocation has failed at least once.
    pub async fn failing_ids(&self) -> Result<Vec<String>, LedgerError> {
        let keys = self.view.keys("failing/").await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix("failing/").map(String::from))
            .collect())
    }

    /// The leases of `mount` whose last revocation found the backend
    /// unreachable, as (due time, lease id). Lease ids start with their
    /// mount's path, so this reads the mount's failing leases only.
    pub(super) async fn failing_unreachable(
        &self,
        mount: &str,
    ) -> Result<Vec<(i64, String)>, LedgerError> {
        let mut found = Vec::new();
        for key in self.view.keys(&format!("failing/{mount}")).await? {
            let Some(lease_id) = key.strip_prefix("failing/") else {
                continue;
            };
            if let Some(record) = self.get(lease_id).await? {
                if record.mount == mount && record.backend_unreachable {
                    found.push((record.due_at, record.lease_id));
                }
            }
        }
        Ok(found)
    }

    /// Irrevocable leases, earliest expiry first (then by id), at most
    /// `limit` of them (`None`: all); and whether there were more.
    pub async fn irrevocable(
        &self,
        limit: Option<usize>,
    ) -> Result<(Vec<LeaseRecord>, bool), LedgerError> {
        let mut found = Vec::new();
        let mut more = false;
        for key in self.view.keys("failing/").await? {
            if self.view.get_json::<bool>(&key).await? != Some(true) {
                continue;
            }
            let Some(record) = self
                .get(key.strip_prefix("failing/").unwrap_or(&key))
                .await?
            else {
                continue;
            };
            if limit.is_some_and(|limit| found.len() >= limit) {
                more = true;
                break;
            }
            found.push(record);
        }
        found.sort_by(|a, b| (a.expire_at, &a.lease_id).cmp(&(b.expire_at, &b.lease_id)));
        Ok((found, more))
    }

    /// Active leases grouped by everything but their last segment
    /// (`database/creds/app-ro`), in one scan of the id index.
    pub async fn counts_by_path(&self) -> Result<Vec<(String, usize)>, LedgerError> {
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for key in self.view.keys("id/").await? {
            let id = key.strip_prefix("id/").unwrap_or(&key);
            let group = id.rsplit_once('/').map_or("", |(group, _)| group);
            match counts.get_mut(group) {
                Some(count) => *count = count.saturating_add(1),
                None => {
                    counts.insert(group.to_string(), 1);
                }
            }
        }
        Ok(counts.into_iter().collect())
    }

    /// Up to `limit` leases due at or before `now`, earliest first.
    pub async fn due(&self, now: i64, limit: usize) -> Result<Vec<(i64, String)>, LedgerError> {
        // The head alone first: most ticks find nothing due.
        let head = self.view.keys_limited("due/", 1).await?;
        let head_due = head
            .first()
            .and_then(|k| parse_due(k.strip_prefix("due/")?))
            .is_some_and(|(due_at, _)| due_at <= now);
        if !head_due {
            return Ok(Vec::new());
        }
        let keys = self.view.keys_limited("due/", limit).await?;
        Ok(keys
            .iter()
            .filter_map(|k| parse_due(k.strip_prefix("due/")?))
            .take_while(|(due_at, _)| *due_at <= now)
            .collect())
    }

    /// Every lease id starting with `prefix`.
    pub async fn ids_with_prefix(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        let keys = self.view.keys(&format!("id/{prefix}")).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix("id/").map(String::from))
            .collect())
    }

    /// The first `limit` lease ids, in order.
    pub async fn ids_limited(&self, limit: usize) -> Result<Vec<String>, LedgerError> {
        let keys = self.view.keys_limited("id/", limit).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix("id/").map(String::from))
            .collect())
    }

    /// Counts lease ids under `prefix`, stopping at `limit`.
    pub async fn count_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<usize, LedgerError> {
        Ok(self
            .view
            .keys_limited(&format!("id/{prefix}"), limit)
            .await?
            .len())
    }

    /// Direct children of `prefix` among lease ids (for LIST).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, LedgerError> {
        Ok(self.view.list(&format!("id/{prefix}")).await?)
    }

    /// Lease ids held by a token.
    pub async fn of_token(&self, token_hash: &str) -> Result<Vec<String>, LedgerError> {
        let prefix = format!("token/{token_hash}/");
        let keys = self.view.keys(&prefix).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| k.strip_prefix(&prefix).map(String::from))
            .collect())
    }

    /// Pending leases written by a boot other than `boot_id`.
    pub async fn stale_pending(&self, boot_id: &str) -> Result<Vec<String>, LedgerError> {
        let mut stale = Vec::new();
        for key in self.view.keys("pending/").await? {
            let owner: Option<String> = self.view.get_json(&key).await?;
            if owner.as_deref() != Some(boot_id) {
                if let Some(lease_id) = key.strip_prefix("pending/") {
                    stale.push(lease_id.to_string());
                }
            }
        }
        Ok(stale)
    }

    /// Index entries whose record is gone (left by a crash between writes of
    /// older versions); `tidy` removes them. Returns how many were removed.
    pub async fn tidy(&self) -> Result<usize, LedgerError> {
        let mut removed: usize = 0;
        for key in self.view.keys("due/").await? {
            let Some((_, lease_id)) = key.strip_prefix("due/").and_then(parse_due) else {
                continue;
            };
            if self.get(&lease_id).await?.is_none() {
                self.view.write(vec![Write::Delete(key.clone())]).await?;
                removed = removed.saturating_add(1);
            }
        }
        for key in self.view.keys("token/").await? {
            let Some(lease_id) = key
                .strip_prefix("token/")
                .and_then(|k| k.split_once('/'))
                .map(|(_, id)| id.to_string())
            else {
                continue;
            };
            if self.get(&lease_id).await?.is_none() {
                self.view.write(vec![Write::Delete(key.clone())]).await?;
                removed = removed.saturating_add(1);
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lease::LeaseKind;
    use qm_plugin_sdk::PluginError;

    fn position(writes: &[Write], wanted: &str, put: bool) -> usize {
        writes
            .iter()
            .position(|w| match w {
                Write::Put(key, _) => put && key.starts_with(wanted),
                Write::Delete(key) => !put && key.starts_with(wanted),
            })
            .unwrap_or_else(|| panic!("no {wanted} (put: {put})"))
    }

    fn record(state: LeaseState, due_at: i64) -> LeaseRecord {
        LeaseRecord {
            lease_id: "database/creds/app/x".into(),
            kind: LeaseKind::Secret,
            mount: "database/".into(),
            role: "app".into(),
            internal: serde_json::Value::Null,
            token_hash: Some("t".into()),
            issued_at: 0,
            expire_at: due_at,
            max_expire_at: due_at,
            renewable: true,
            state,
            due_at,
            revoke_attempts: 0,
            last_error: None,
            backend_unreachable: false,
            last_renewal: None,
        }
    }

    #[test]
    fn every_prefix_of_a_write_leaves_the_record_findable() {
        // Issue: the entries first, the record last.
        let pending = record(LeaseState::Pending, 100);
        let writes = LeaseStore::writes_for(&pending, None, "boot");
        let record_at = position(&writes, "id/", true);
        assert!(position(&writes, "due/", true) < record_at);
        assert!(position(&writes, "token/", true) < record_at);
        assert!(position(&writes, "pending/", true) < record_at);
        // Activation and renewal: the old entries go only after the record.
        let renewed = record(LeaseState::Active, 200);
        let writes = LeaseStore::writes_for(&renewed, Some(&pending), "boot");
        let record_at = position(&writes, "id/", true);
        assert!(position(&writes, "due/00000000000000000200", true) < record_at);
        assert!(position(&writes, "pending/", false) > record_at);
        assert!(position(&writes, "due/00000000000000000100", false) > record_at);
        // Deletion: the record first.
        let writes = LeaseStore::deletion(&renewed);
        let record_at = position(&writes, "id/", false);
        assert!(position(&writes, "due/", false) > record_at);
        assert!(position(&writes, "token/", false) > record_at);
        assert!(position(&writes, "pending/", false) > record_at);
    }

    async fn ledger() -> LeaseStore {
        let storage = crate::storage::SledStorage::temporary().expect("store");
        let barrier = crate::barrier::Barrier::new(
            std::sync::Arc::new(storage),
            std::sync::Arc::new(crate::clock::SystemClock),
        );
        barrier.initialize(&[7; 32]).await.expect("init");
        LeaseStore::new(StorageView::new(barrier, "sys/lease/"))
    }

    /// A lease of `mount` that failed `attempts` times, the last one as `error`.
    fn failed(id: &str, mount: &str, attempts: u32, error: &PluginError) -> LeaseRecord {
        let mut lease = record(LeaseState::Active, 100);
        lease.lease_id = id.into();
        lease.mount = mount.into();
        lease.expire_at = i64::from(attempts);
        for _ in 0..attempts {
            lease.schedule_retry(1_000, error);
        }
        lease
    }

    #[tokio::test]
    async fn failing_leases_are_found_by_mount_and_by_why_they_failed() {
        let ledger = ledger().await;
        let down = PluginError::Unreachable("connection refused".into());
        let denied = PluginError::Backend("permission denied".into());
        for lease in [
            failed("database/creds/app/down", "database/", 2, &down),
            failed("database/creds/app/denied", "database/", 2, &denied),
            failed("database/creds/app/stuck", "database/", 9, &down),
            failed("database-b/creds/app/x", "database-b/", 2, &down),
            failed("database/inner/creds/app/y", "database/inner/", 2, &down),
            record(LeaseState::Active, 100),
        ] {
            ledger.put(&lease, None, "boot").await.expect("put");
        }
        let mut unreachable = ledger.failing_unreachable("database/").await.expect("read");
        unreachable.sort();
        let ids: Vec<&str> = unreachable.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, ["database/creds/app/down", "database/creds/app/stuck"]);
        assert_eq!(ledger.failing_ids().await.expect("read").len(), 5);
        let (irrevocable, more) = ledger.irrevocable(None).await.expect("read");
        assert!(!more);
        let ids: Vec<&str> = irrevocable.iter().map(|r| r.lease_id.as_str()).collect();
        assert_eq!(ids, ["database/creds/app/stuck"]);
        assert_eq!(
            irrevocable[0].last_error.as_deref(),
            Some("connection refused")
        );
        ledger
            .put(
                &failed("aws/creds/deploy/z", "aws/", 8, &denied),
                None,
                "boot",
            )
            .await
            .expect("put");
        let (all, _) = ledger.irrevocable(None).await.expect("read");
        let ids: Vec<&str> = all.iter().map(|r| r.lease_id.as_str()).collect();
        assert_eq!(
            ids,
            ["aws/creds/deploy/z", "database/creds/app/stuck"],
            "earliest expiry first"
        );
        let (one, more) = ledger.irrevocable(Some(1)).await.expect("read");
        assert_eq!((one.len(), more), (1, true));
    }

    #[test]
    fn due_keys_sort_by_time_and_parse_back() {
        let early = due_key(99, "database/creds/a/x");
        let late = due_key(1_000, "database/creds/a/y");
        assert!(early < late);
        assert_eq!(
            parse_due(early.strip_prefix("due/").unwrap()),
            Some((99, "database/creds/a/x".to_string()))
        );
    }
}
