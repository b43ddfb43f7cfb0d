//! Group commit: writers that finish at about the same time share one fsync.
//!
//! A writer applies its change, then calls [`GroupCommit::durable`], which
//! resolves once a flush that *started after* the call has completed. One
//! background task runs flushes back to back while anyone waits, so N
//! concurrent writers cost about one fsync, not N. (sled's own `flush_async`
//! can deadlock under concurrency, sled#1308, so the flush is the blocking
//! `flush()` on the blocking pool.)

use super::{Storage, StorageError};
use std::sync::{Arc, Mutex};
use tokio::sync::{oneshot, Notify};

type Waiter = oneshot::Sender<Result<(), String>>;

/// Batches durability requests into shared flushes.
pub struct GroupCommit {
    // A std mutex: it guards a Vec push/take and is never held across an await.
    waiting: Mutex<Vec<Waiter>>,
    wake: Notify,
}

impl GroupCommit {
    /// Starts the flusher task for `storage` on the current Tokio runtime.
    pub fn start(storage: Arc<dyn Storage>) -> Arc<Self> {
        let commit = Arc::new(Self {
            waiting: Mutex::new(Vec::new()),
            wake: Notify::new(),
        });
        let flusher = Arc::clone(&commit);
        tokio::spawn(async move { flusher.run(storage).await });
        commit
    }

    /// Resolves once everything applied before this call is on disk.
    pub async fn durable(&self) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.waiting
            .lock()
            .map_err(|_| StorageError::Worker("group commit lock poisoned".into()))?
            .push(tx);
        self.wake.notify_one();
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(StorageError::Io(message)),
            Err(_) => Err(StorageError::Worker("flusher stopped".into())),
        }
    }

    async fn run(self: Arc<Self>, storage: Arc<dyn Storage>) {
        loop {
            self.wake.notified().await;
            loop {
                let batch = match self.waiting.lock() {
                    Ok(mut waiting) => std::mem::take(&mut *waiting),
                    Err(_) => return,
                };
                if batch.is_empty() {
                    break;
                }
                let storage = Arc::clone(&storage);
                let result = match tokio::task::spawn_blocking(move || storage.flush()).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(e)) => Err(e.to_string()),
                    Err(e) => Err(format!("flush task failed: {e}")),
                };
                for waiter in batch {
                    let _ = waiter.send(result.clone());
                }
            }
        }
    }
}
