//! Group commit: writers that finish at about the same time share one fsync.
//!
//! A writer calls [`GroupCommit::enter`] before it applies its change and
//! [`Ticket::durable`] after; that resolves once a flush that *started after*
//! the apply has completed. One background task runs flushes back to back
//! while anyone waits. Before a flush it lets writers that are already
//! between `enter` and `durable` join the batch (for at most
//! [`JOIN_WINDOW`]); a lone writer never waits for that. So N concurrent
//! writers cost about one fsync, not N. (sled's own `flush_async` can
//! deadlock under concurrency, sled#1308, so the flush is the blocking
//! `flush()` on the blocking pool.)

use super::{Storage, StorageError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

type Waiter = oneshot::Sender<Result<(), StorageError>>;

/// The longest a flush waits for writers that are about to join it.
const JOIN_WINDOW: Duration = Duration::from_micros(200);

/// Batches durability requests into shared flushes.
pub struct GroupCommit {
    // A std mutex: it guards a Vec push/take and is never held across an await.
    waiting: Mutex<Vec<Waiter>>,
    /// Writers between `enter` and the end of `durable`.
    in_flight: AtomicUsize,
    wake: Notify,
}

/// A writer's place in the next group; see [`GroupCommit::enter`].
pub struct Ticket<'a> {
    commit: &'a GroupCommit,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.commit.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Ticket<'_> {
    /// Resolves once everything applied before this call is on disk.
    pub async fn durable(self) -> Result<(), StorageError> {
        let (tx, rx) = oneshot::channel();
        self.commit
            .waiting
            .lock()
            .map_err(|_| StorageError::Worker("group commit lock poisoned".into()))?
            .push(tx);
        self.commit.wake.notify_one();
        match rx.await {
            Ok(result) => result,
            Err(_) => Err(StorageError::Worker("flusher stopped".into())),
        }
    }
}

impl GroupCommit {
    /// Starts the flusher task for `storage` on the current Tokio runtime.
    pub fn start(storage: Arc<dyn Storage>) -> Arc<Self> {
        let commit = Arc::new(Self {
            waiting: Mutex::new(Vec::new()),
            in_flight: AtomicUsize::new(0),
            wake: Notify::new(),
        });
        let flusher = Arc::clone(&commit);
        // A weak reference: the flusher never keeps the store open by itself.
        let storage = Arc::downgrade(&storage);
        tokio::spawn(async move { flusher.run(storage).await });
        commit
    }

    /// Announces a write that will ask for durability.
    pub fn enter(&self) -> Ticket<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Ticket { commit: self }
    }

    fn waiting_count(&self) -> usize {
        self.waiting.lock().map(|w| w.len()).unwrap_or(0)
    }

    /// Gives writers that entered but are not waiting yet a moment to join.
    fn gather(&self) -> Vec<Waiter> {
        let deadline = Instant::now()
            .checked_add(JOIN_WINDOW)
            .unwrap_or_else(Instant::now);
        while self.in_flight.load(Ordering::SeqCst) > self.waiting_count()
            && Instant::now() < deadline
        {
            std::thread::yield_now();
        }
        self.waiting
            .lock()
            .map(|mut w| std::mem::take(&mut *w))
            .unwrap_or_default()
    }

    async fn run(self: Arc<Self>, storage: std::sync::Weak<dyn Storage>) {
        loop {
            self.wake.notified().await;
            while self.waiting_count() > 0 {
                let commit = Arc::clone(&self);
                let Some(storage) = storage.upgrade() else {
                    return;
                };
                let flushed = tokio::task::spawn_blocking(move || {
                    let batch = commit.gather();
                    let result = storage.flush();
                    (batch, result)
                })
                .await;
                let Ok((batch, result)) = flushed else {
                    // The blocking task panicked; its waiters see the flusher gone.
                    continue;
                };
                for waiter in batch {
                    let _ = waiter.send(result.clone());
                }
            }
        }
    }
}
