//! The embedded default store: one sled tree on local disk.

use super::{Change, Storage, StorageError};
use std::path::Path;

/// sled-backed storage. sled keeps keys ordered, so prefix scans are cheap.
pub struct SledStorage {
    db: sled::Db,
}

impl SledStorage {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()
            .map_err(|e| StorageError::Io(format!("opening {}: {e}", dir.display())))?;
        Ok(Self { db })
    }

    /// A store in a temporary directory that disappears on drop (dev mode).
    pub fn temporary() -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| StorageError::Io(format!("opening temporary store: {e}")))?;
        Ok(Self { db })
    }
}

fn io(e: sled::Error) -> StorageError {
    StorageError::Io(e.to_string())
}

impl Storage for SledStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.db.get(key.as_bytes()).map_err(io)?.map(|v| v.to_vec()))
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for change in changes {
            match change {
                Change::Put(key, value) => batch.insert(key.as_bytes(), value),
                Change::Delete(key) => batch.remove(key.as_bytes()),
            }
        }
        self.db.apply_batch(batch).map_err(io)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.first_keys_with_prefix(prefix, usize::MAX)
    }

    fn first_keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.db
            .scan_prefix(prefix.as_bytes())
            .keys()
            .take(limit)
            .map(|key| {
                let key = key.map_err(io)?;
                String::from_utf8(key.to_vec())
                    .map_err(|_| StorageError::Io("a stored key is not UTF-8".into()))
            })
            .collect()
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.db.flush().map(|_| ()).map_err(io)
    }
}
