//! The embedded default store: one sled tree on local disk.
//!
//! Checkpoints keep start-up short. sled 0.34 writes its recovery snapshot
//! only when a database is opened, and an open replays every log entry
//! written since the previous open: after a day of issuing and revoking, or
//! after loading a million leases, a restart would replay all of it (6 s
//! for 1M leases, measured). So after [`CHECKPOINT_AFTER`] changes the store
//! is flushed, closed and reopened in place; the reopen replays only those
//! changes and leaves a fresh snapshot behind. Operations wait while it
//! runs (`scripts/bench` prints how long), and nothing applied is lost: the
//! flush comes first.
//!
//! A full disk (see `space`): writes are refused with
//! [`StorageError::Full`] while less than the reserve is free, so sled
//! does not run out in the middle of its log; if it runs out anyway
//! (another process took the last bytes between the check and the write),
//! its database refuses every later write, and the first write once there
//! is room again closes and reopens it. What was acknowledged was flushed
//! before its answer, so a reopen loses nothing acknowledged.

use super::{space, Change, Storage, StorageError};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// Changes (puts and deletes) between two checkpoints.
const CHECKPOINT_AFTER: u64 = 50_000;

/// How long a reopen keeps trying while sled's threads let go of the files.
const REOPEN_ATTEMPTS: u32 = 200;
const REOPEN_PAUSE: Duration = Duration::from_millis(10);

/// sled-backed storage. sled keeps keys ordered, so prefix scans are cheap.
pub struct SledStorage {
    /// `None` only after a reopen failed; the next operation tries again.
    db: RwLock<Option<sled::Db>>,
    /// Where the store lives; `None` for a temporary store (no checkpoints:
    /// closing it would delete it).
    dir: Option<PathBuf>,
    changes_since_open: AtomicU64,
    /// sled met a full disk: the open database refuses writes until it is
    /// reopened (see the module doc).
    ran_out: AtomicBool,
    /// Free bytes below which writes are refused ([`space::RESERVE_BYTES`];
    /// tests play a full disk by raising it).
    reserve_bytes: u64,
    /// Writes hold it shared; a snapshot or a restore holds it alone, so
    /// what they see or replace is one moment of the store. (sled's
    /// iterators are not point-in-time.)
    moment: RwLock<()>,
}

fn open_at(dir: &Path) -> Result<sled::Db, StorageError> {
    sled::Config::new()
        .path(dir)
        .mode(sled::Mode::HighThroughput)
        .open()
        .map_err(|e| StorageError::Io(format!("opening {}: {e}", dir.display())))
}

fn io(e: sled::Error) -> StorageError {
    if space::is_full(&e) {
        return StorageError::Full(
            "no space left on the device under the store; writes resume once space is freed".into(),
        );
    }
    StorageError::Io(e.to_string())
}

fn below_reserve() -> StorageError {
    StorageError::Full(format!(
        "less than {} MiB free on the filesystem under the store; writes resume once space is freed",
        space::RESERVE_BYTES / (1024 * 1024)
    ))
}

fn poisoned<T>(_: T) -> StorageError {
    StorageError::Worker("storage lock poisoned".into())
}

impl SledStorage {
    /// Opens (or creates) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        Ok(Self {
            db: RwLock::new(Some(open_at(dir)?)),
            dir: Some(dir.to_path_buf()),
            changes_since_open: AtomicU64::new(0),
            ran_out: AtomicBool::new(false),
            reserve_bytes: space::RESERVE_BYTES,
            moment: RwLock::new(()),
        })
    }

    /// A store in a temporary directory that disappears on drop (dev mode).
    pub fn temporary() -> Result<Self, StorageError> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .map_err(|e| StorageError::Io(format!("opening temporary store: {e}")))?;
        Ok(Self {
            db: RwLock::new(Some(db)),
            dir: None,
            changes_since_open: AtomicU64::new(0),
            ran_out: AtomicBool::new(false),
            reserve_bytes: space::RESERVE_BYTES,
            moment: RwLock::new(()),
        })
    }

    /// Runs `op` on the open database, reopening it first if a checkpoint
    /// left it closed.
    fn with_db<T>(
        &self,
        op: impl FnOnce(&sled::Db) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let result = self.with_open_db(op);
        if matches!(result, Err(StorageError::Full(_))) {
            self.ran_out.store(true, Ordering::SeqCst);
        }
        result
    }

    fn with_open_db<T>(
        &self,
        op: impl FnOnce(&sled::Db) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        {
            let guard = self.db.read().map_err(poisoned)?;
            if let Some(db) = guard.as_ref() {
                return op(db);
            }
        }
        self.reopen_if_closed()?;
        let guard = self.db.read().map_err(poisoned)?;
        match guard.as_ref() {
            Some(db) => op(db),
            None => Err(StorageError::Io("the store is closed".into())),
        }
    }

    /// Refuses a write while the disk is nearly full, and reopens a
    /// database that ran out once there is room again.
    fn room_to_write(&self) -> Result<(), StorageError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        if self.ran_out.load(Ordering::SeqCst) {
            if space::short_of(dir, space::needed_to_reopen(dir, self.reserve_bytes)) {
                return Err(below_reserve());
            }
            return self.reopen_after_running_out(dir);
        }
        if space::short_of(dir, self.reserve_bytes) {
            return Err(below_reserve());
        }
        Ok(())
    }

    /// Closes the database that met a full disk and opens it again, which
    /// clears sled's stored error. Nothing acknowledged is lost: it was
    /// flushed before its answer; what the failed flushes held was not.
    fn reopen_after_running_out(&self, dir: &Path) -> Result<(), StorageError> {
        let _moment = self.moment.write().map_err(poisoned)?;
        let mut guard = self.db.write().map_err(poisoned)?;
        if !self.ran_out.load(Ordering::SeqCst) {
            return Ok(()); // another writer reopened it first
        }
        drop(guard.take());
        *guard = Some(reopen(dir)?);
        self.ran_out.store(false, Ordering::SeqCst);
        self.changes_since_open.store(0, Ordering::SeqCst);
        tracing::warn!(
            "storage: there is room on the disk again; reopened the store, writes resume"
        );
        Ok(())
    }

    fn reopen_if_closed(&self) -> Result<(), StorageError> {
        let mut guard = self.db.write().map_err(poisoned)?;
        if guard.is_none() {
            if let Some(dir) = &self.dir {
                *guard = Some(reopen(dir)?);
            }
        }
        Ok(())
    }

    /// Flushes, closes and reopens the store once enough has changed (see
    /// the module doc). Every other operation waits for it.
    fn checkpoint(&self) -> Result<(), StorageError> {
        let Some(dir) = &self.dir else {
            return Ok(());
        };
        let mut guard = self.db.write().map_err(poisoned)?;
        if self.changes_since_open.load(Ordering::SeqCst) < CHECKPOINT_AFTER {
            return Ok(()); // another writer checkpointed first
        }
        if self.ran_out.load(Ordering::SeqCst)
            || space::short_of(dir, space::needed_to_reopen(dir, self.reserve_bytes))
        {
            // A reopen on a full disk could not write its snapshot and would
            // leave the store closed: try again after as many changes.
            self.changes_since_open.store(0, Ordering::SeqCst);
            return Err(below_reserve());
        }
        let started = Instant::now();
        if let Some(db) = guard.take() {
            if let Err(e) = db.flush() {
                *guard = Some(db);
                return Err(io(e));
            }
            drop(db);
        }
        self.changes_since_open.store(0, Ordering::SeqCst);
        *guard = Some(reopen(dir)?);
        tracing::info!(
            millis = started.elapsed().as_millis() as u64,
            "storage checkpoint: reopened to write a fresh recovery snapshot"
        );
        Ok(())
    }

    /// Counts applied changes and checkpoints when enough have piled up.
    fn count_changes(&self, count: u64) {
        let before = self.changes_since_open.fetch_add(count, Ordering::SeqCst);
        if before < CHECKPOINT_AFTER && before.saturating_add(count) >= CHECKPOINT_AFTER {
            // The changes are applied either way; a failed checkpoint only
            // means a longer replay at the next start.
            if let Err(e) = self.checkpoint() {
                tracing::warn!(error = %e, "storage checkpoint failed");
            }
        }
    }
}

/// Opens `dir` again right after closing it: sled's I/O threads may hold the
/// file lock for a moment longer, so it retries briefly.
fn reopen(dir: &Path) -> Result<sled::Db, StorageError> {
    let mut attempt: u32 = 0;
    loop {
        attempt = attempt.saturating_add(1);
        match open_at(dir) {
            Ok(db) => return Ok(db),
            Err(e) if attempt >= REOPEN_ATTEMPTS => return Err(e),
            Err(_) => std::thread::sleep(REOPEN_PAUSE),
        }
    }
}

impl Storage for SledStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.with_db(|db| Ok(db.get(key.as_bytes()).map_err(io)?.map(|v| v.to_vec())))
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        if changes.len() == 1 {
            // One change is atomic by itself, without a batch.
            return self.apply_in_order(changes);
        }
        self.room_to_write()?;
        let count = changes.len() as u64;
        let mut batch = sled::Batch::default();
        for change in changes {
            match change {
                Change::Put(key, value) => batch.insert(key.as_bytes(), value),
                Change::Delete(key) => batch.remove(key.as_bytes()),
            }
        }
        {
            let _moment = self.moment.read().map_err(poisoned)?;
            self.with_db(|db| db.apply_batch(batch).map_err(io))?;
        }
        self.count_changes(count);
        Ok(())
    }

    fn apply_in_order(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        self.room_to_write()?;
        let count = changes.len() as u64;
        let moment = self.moment.read().map_err(poisoned)?;
        self.with_db(|db| {
            for change in changes {
                match change {
                    Change::Put(key, value) => db.insert(key.as_bytes(), value).map_err(io)?,
                    Change::Delete(key) => db.remove(key.as_bytes()).map_err(io)?,
                };
            }
            Ok(())
        })?;
        drop(moment);
        self.count_changes(count);
        Ok(())
    }

    fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let _moment = self.moment.write().map_err(poisoned)?;
        self.with_db(|db| {
            db.iter()
                .map(|entry| {
                    let (key, value) = entry.map_err(io)?;
                    let key = String::from_utf8(key.to_vec())
                        .map_err(|_| StorageError::Io("a stored key is not UTF-8".into()))?;
                    Ok((key, value.to_vec()))
                })
                .collect()
        })
    }

    fn replace_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StorageError> {
        self.room_to_write()?;
        let _moment = self.moment.write().map_err(poisoned)?;
        let keep: std::collections::HashSet<&str> =
            entries.iter().map(|(key, _)| key.as_str()).collect();
        let mut batch = sled::Batch::default();
        self.with_db(|db| {
            for key in db.iter().keys() {
                let key = key.map_err(io)?;
                if !std::str::from_utf8(&key).is_ok_and(|k| keep.contains(k)) {
                    batch.remove(key);
                }
            }
            Ok(())
        })?;
        for (key, value) in &entries {
            batch.insert(key.as_bytes(), value.as_slice());
        }
        self.with_db(|db| {
            db.apply_batch(batch).map_err(io)?;
            db.flush().map(|_| ()).map_err(io)
        })
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.first_keys_with_prefix(prefix, usize::MAX)
    }

    fn first_keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.with_db(|db| {
            db.scan_prefix(prefix.as_bytes())
                .keys()
                .take(limit)
                .map(|key| {
                    let key = key.map_err(io)?;
                    String::from_utf8(key.to_vec())
                        .map_err(|_| StorageError::Io("a stored key is not UTF-8".into()))
                })
                .collect()
        })
    }

    fn flush(&self) -> Result<(), StorageError> {
        self.with_db(|db| db.flush().map(|_| ()).map_err(io))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_refuses_writes_keeps_reads_and_resumes() {
        let dir = tempfile::tempdir().expect("dir");
        let mut store = SledStorage::open(dir.path()).expect("open");
        store
            .apply(vec![Change::Put("k/kept".into(), vec![1])])
            .expect("apply");
        store.flush().expect("flush");
        store.reserve_bytes = u64::MAX; // no filesystem has that much free
        for changes in [
            vec![Change::Put("k/one".into(), vec![2])],
            vec![
                Change::Put("k/a".into(), vec![3]),
                Change::Delete("k/kept".into()),
            ],
        ] {
            let refused = store.apply(changes).expect_err("refused");
            assert!(matches!(refused, StorageError::Full(_)), "{refused}");
            assert!(
                refused
                    .to_string()
                    .starts_with("storage is full: less than"),
                "{refused}"
            );
        }
        let refused = store
            .apply_in_order(vec![Change::Put("k/b".into(), vec![4])])
            .expect_err("refused");
        assert!(matches!(refused, StorageError::Full(_)), "{refused}");
        assert_eq!(store.get("k/kept").expect("read"), Some(vec![1]));
        assert_eq!(store.keys_with_prefix("k/").expect("list"), ["k/kept"]);

        store.reserve_bytes = 0; // space is back
        store
            .apply(vec![Change::Put("k/after".into(), vec![5])])
            .expect("writes resume");
        store.flush().expect("flush");
        drop(store);
        let reopened = SledStorage::open(dir.path()).expect("reopen");
        assert_eq!(
            reopened.keys_with_prefix("k/").expect("list"),
            ["k/after", "k/kept"]
        );
    }

    #[test]
    fn sled_running_out_of_space_is_storage_full() {
        let e = sled::Error::Io(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert!(matches!(io(e), StorageError::Full(_)));
        let e = sled::Error::Io(std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert!(matches!(io(e), StorageError::Io(_)));
    }

    #[test]
    fn checkpoints_keep_every_change() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SledStorage::open(dir.path()).expect("open");
        let total = CHECKPOINT_AFTER + 10;
        for i in 0..total {
            store
                .apply(vec![Change::Put(format!("k/{i:08}"), vec![1])])
                .expect("apply");
        }
        assert!(
            store.changes_since_open.load(Ordering::SeqCst) < CHECKPOINT_AFTER,
            "a checkpoint ran"
        );
        assert_eq!(
            store.keys_with_prefix("k/").expect("keys").len() as u64,
            total
        );
        drop(store);
        let reopened = SledStorage::open(dir.path()).expect("reopen");
        assert_eq!(
            reopened.keys_with_prefix("k/").expect("keys").len() as u64,
            total
        );
    }
}
