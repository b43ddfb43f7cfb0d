//! Snapshots: `sys/storage/snapshot` (and `sys/storage/raft/snapshot`, which
//! the bao CLI's `operator raft snapshot save|restore` calls) save every
//! stored entry as of one moment, barrier ciphertext only, and restore
//! them into the store they came from.
//!
//! A snapshot is older than the world, so a restore is fenced (see
//! [`fence`]): leases issued after the snapshot are carried over and
//! revoked (their users would otherwise live on with nobody to revoke
//! them), and restored leases whose credential is gone are closed.
//!
//! What a restore keeps from the live store rather than the snapshot: the
//! keyring (it holds every term the snapshot's does, and newer ones), the
//! seal's configuration and wrapped key, the recovery key, and the audit
//! chain heads (the audit files went on after the snapshot).

mod archive;
mod fence;

use super::Core;
use crate::error::ApiError;
use crate::lease::LeaseKind;
use archive::{Meta, SEALED_SUMS_AAD};
use std::collections::{BTreeMap, HashSet};

pub(super) use fence::FENCE_KEY;

/// Entries a restore keeps from the live store.
const KEPT_KEYS: [&str; 4] = [
    "core/keyring",
    crate::barrier::seal::SEAL_CONFIG_PATH,
    crate::barrier::autoseal::WRAPPED_KEY_PATH,
    crate::barrier::seal::RECOVERY_KEY_PATH,
];
const KEPT_PREFIX: &str = "core/audit-head/";
const LEASE_RECORDS: &str = "sys/lease/id/";

fn kept(key: &str) -> bool {
    KEPT_KEYS.contains(&key) || key.starts_with(KEPT_PREFIX) || key == FENCE_KEY
}

/// What a restore did.
pub struct Restored {
    pub entries: usize,
    /// Leases issued after the snapshot, carried over to be revoked.
    pub carried_over: usize,
    /// Restored leases revoked after the snapshot, to be checked.
    pub returned: usize,
}

impl Core {
    /// The snapshot file of the store as it is now.
    pub async fn snapshot_save(&self) -> Result<Vec<u8>, ApiError> {
        self.active()?;
        let entries = self.barrier.raw_snapshot().await?;
        let meta = Meta {
            format: archive::FORMAT.into(),
            version: 1,
            created_at: self.clock.now_unix(),
            entries: entries.len(),
            storage_type: self.storage_type().into(),
        };
        let state =
            archive::encode_state(&entries).map_err(|e| ApiError::Internal(e.to_string()))?;
        let meta_json = serde_json::to_vec(&meta).unwrap_or_default();
        let sealed = self
            .barrier
            .seal_blob(SEALED_SUMS_AAD, &archive::sums(&meta_json, &state))?;
        let file = archive::write(&meta, &state, &sealed)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        tracing::info!(
            entries = entries.len(),
            bytes = file.len(),
            "snapshot saved"
        );
        Ok(file)
    }

    /// `sled` or `postgresql`.
    pub fn storage_type(&self) -> &'static str {
        if self.ha.is_some() {
            "postgresql"
        } else {
            "sled"
        }
    }

    /// Restores a snapshot of this store, then runs the restore fence
    /// before serving again.
    pub async fn snapshot_restore(&self, file: &[u8]) -> Result<Restored, ApiError> {
        let active = self.active()?;
        let snapshot = archive::read(file).map_err(|e| ApiError::bad(e.to_string()))?;
        let sums = self
            .barrier
            .open_blob(SEALED_SUMS_AAD, &snapshot.sealed_sums)
            .map_err(|_| {
                ApiError::bad(
                    "could not verify hash file, possibly the snapshot is using a different set \
                     of unseal keys: a snapshot restores only into the store whose keyring made it",
                )
            })?;
        if sums != snapshot.sums {
            return Err(ApiError::bad(
                "the snapshot's sealed checksums do not match it",
            ));
        }
        let _lifecycle = self.lifecycle.lock().await;

        // Leases on both sides: the ones only the live store has were
        // issued after the snapshot; the ones only the snapshot has ended
        // after it.
        let live_ids: HashSet<String> = self
            .barrier
            .keys(LEASE_RECORDS)
            .await?
            .into_iter()
            .collect();
        let snapshot_ids: HashSet<String> = snapshot
            .entries
            .iter()
            .filter(|(key, _)| key.starts_with(LEASE_RECORDS))
            .map(|(key, _)| key.clone())
            .collect();
        let mut entries: BTreeMap<String, Vec<u8>> = snapshot
            .entries
            .into_iter()
            .filter(|(key, _)| !kept(key))
            .collect();
        for key in KEPT_KEYS {
            if let Some(value) = self.barrier.get_plain(key).await? {
                entries.insert(key.to_string(), value);
            } else {
                entries.remove(key);
            }
        }
        for key in self.barrier.keys(KEPT_PREFIX).await? {
            if let Some(value) = self.barrier.get_plain(&key).await? {
                entries.insert(key, value);
            }
        }
        let ledger = active.leases.ledger();
        let mut forgotten = Vec::new();
        for key in live_ids.iter().filter(|k| !snapshot_ids.contains(*k)) {
            let lease_id = key.trim_start_matches(LEASE_RECORDS);
            let Some(record) = ledger
                .get(lease_id)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?
            else {
                continue;
            };
            // A token issued after the snapshot is gone with it; only
            // credentials outside the store need revoking.
            if record.kind != LeaseKind::Secret {
                continue;
            }
            for stored in ledger.stored_keys(&record) {
                if let Some(value) = self.barrier.get_plain(&stored).await? {
                    entries.insert(stored, value);
                }
            }
            forgotten.push(record.lease_id);
        }
        let returned: Vec<String> = snapshot_ids
            .iter()
            .filter(|k| !live_ids.contains(*k))
            .map(|k| k.trim_start_matches(LEASE_RECORDS).to_string())
            .collect();
        let fence = fence::Fence {
            revoke: forgotten,
            check: returned,
            snapshot_created_at: snapshot.meta.created_at,
        };
        entries.insert(FENCE_KEY.into(), fence.sealed(&self.barrier)?);
        let restored = Restored {
            entries: entries.len(),
            carried_over: fence.revoke.len(),
            returned: fence.check.len(),
        };

        // No request is served from here until the fence has run.
        self.set_active(None);
        drop(active);
        let replaced = self
            .barrier
            .raw_replace_all(entries.into_iter().collect())
            .await;
        self.open_active().await?;
        replaced?;
        tracing::warn!(
            entries = restored.entries,
            carried_over = restored.carried_over,
            returned = restored.returned,
            "snapshot restored"
        );
        Ok(restored)
    }
}
