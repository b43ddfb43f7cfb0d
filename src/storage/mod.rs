//! Physical storage: untrusted bytes under string keys. Everything above this
//! layer goes through the barrier, which encrypts values before they land here.
//! Two stores: sled (embedded, the default and `--dev`) and PostgreSQL.
//!
//! Implementations are synchronous; the barrier calls them from
//! `spawn_blocking`, the one place blocking I/O meets the async server.

mod group_commit;
mod postgres;
mod sled_store;
mod space;

pub use group_commit::GroupCommit;
pub use postgres::{
    Acquired, Candidate, ConnectionUrl, Fence, LeaderInfo, NodeInfo, PostgresStorage,
};
pub use sled_store::SledStorage;

/// Errors from the physical store. Messages never carry stored values.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StorageError {
    #[error("storage I/O failed: {0}")]
    Io(String),
    #[error("storage worker failed: {0}")]
    Worker(String),
    /// A write refused because this node no longer holds leadership.
    #[error("{0}")]
    Fenced(String),
    /// A write refused because the disk under the store is (nearly) full;
    /// writes resume by themselves once space is freed.
    #[error("storage is full: {0}")]
    Full(String),
}

/// One change in an atomic batch.
#[derive(Debug)]
pub enum Change {
    Put(String, Vec<u8>),
    Delete(String),
}

/// A key-value store with ordered keys.
pub trait Storage: Send + Sync + 'static {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Applies every change or none.
    fn apply(&self, changes: Vec<Change>) -> Result<(), StorageError>;
    /// Applies the changes one after another: a crash may keep the first
    /// few and lose the rest, never a later one without the earlier ones.
    /// For callers that order their changes so every prefix is a safe
    /// state; on sled it is much cheaper than [`Storage::apply`], whose
    /// atomic batch writes the log out on every call.
    fn apply_in_order(&self, changes: Vec<Change>) -> Result<(), StorageError>;
    /// [`Storage::apply`], durable with the next durable write or
    /// [`Storage::flush`] (of anyone) rather than by itself. sled writes
    /// nothing to disk on its own anyway; Postgres commits without waiting
    /// for its WAL flush.
    fn apply_relaxed(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        self.apply(changes)
    }
    /// [`Storage::apply_in_order`], durable as [`Storage::apply_relaxed`].
    fn apply_relaxed_in_order(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        self.apply_in_order(changes)
    }
    /// Every key that starts with `prefix`, in order.
    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError>;
    /// The first `limit` keys that start with `prefix`, in order.
    fn first_keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StorageError>;
    /// True when a call waits on the network (Postgres): the barrier's
    /// async paths then run it on the blocking pool rather than hold an
    /// async worker for the round trip. sled answers from memory: inline.
    fn remote(&self) -> bool {
        false
    }
    /// Whether this node may write now: false on a standby or a deposed
    /// active. Work with side effects outside the store (revoking a user)
    /// checks it first.
    fn writable(&self) -> bool {
        true
    }
    /// Every entry, as of one moment (writes that race with it are either
    /// all in or all out), in key order: what a snapshot saves.
    fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, StorageError>;
    /// Replaces every entry with `entries`, atomically and durably: what a
    /// snapshot restore does.
    fn replace_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StorageError>;
    /// Makes every change applied so far durable (fsync; nothing to do
    /// where every apply is already durable, as a Postgres commit is).
    fn flush(&self) -> Result<(), StorageError>;
}
