//! Storage on PostgreSQL: one table of keys and ciphertext (see [`schema`]),
//! for servers that keep their store in a database they already run.
//!
//! The `Storage` trait is synchronous and is called both from the barrier's
//! async code (from the blocking pool, as [`Storage::remote`] asks, or
//! inline for its few synchronous writes) and from blocking threads. So the store
//! owns a small Tokio runtime of its own ("qm-storage") that drives a
//! bounded connection pool; a call hands its query to that runtime and waits
//! on a plain channel, which is safe from any thread. Concurrent calls use
//! different connections.
//!
//! Writes: [`Storage::apply`] and [`Storage::apply_in_order`] are one
//! transaction each (a single change is one statement, atomic by itself); in
//! order is thus stronger than it needs to be, and on Postgres no dearer.
//! Statements inside a transaction are pipelined. [`Storage::flush`] does
//! nothing: a commit returns once the WAL is flushed (`synchronous_commit`
//! on, the default; the server warns at start when it is off), so every
//! applied change is already durable. Keys are text, so a key with a NUL
//! byte (which Postgres cannot store) is refused.
//!
//! A fenced store (a server's, [`PostgresStorage::connect_fenced`]) writes
//! only while it holds the current leadership term (see [`leader`]): each
//! write is one pipelined `BEGIN; SELECT qm_fence(term); ...; COMMIT`, so
//! the check and the change commit together or not at all.

mod leader;
mod schema;

pub use leader::{Acquired, Candidate, Fence, LeaderInfo, NodeInfo};
/// The connection string and its TLS, shared with the database engine's
/// PostgreSQL driver (`plugins/pg-connect`).
pub use qm_pg_connect::ConnectionUrl;

use super::{Change, Storage, StorageError};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::types::ToSql;

/// Connections in the pool: enough that a busy server's concurrent storage
/// calls do not queue behind each other, few enough for a shared Postgres.
const POOL_SIZE: usize = 16;

/// How long opening a connection may take when the URL does not say.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const GET: &str = "SELECT value FROM qm_store WHERE key = $1";
const PUT: &str = "INSERT INTO qm_store (key, value) VALUES ($1, $2) \
                   ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value";
const DELETE: &str = "DELETE FROM qm_store WHERE key = $1";
const SCAN_RANGE: &str =
    "SELECT key FROM qm_store WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3";
const SCAN_FROM: &str = "SELECT key FROM qm_store WHERE key >= $1 ORDER BY key LIMIT $2";

/// PostgreSQL-backed storage.
pub struct PostgresStorage {
    pool: Pool,
    /// `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
    /// Whether writes carry the leadership term (a server's store) or not
    /// (`qm operator migrate` into an empty database).
    fenced: bool,
    fence: Fence,
    /// Set by a relaxed write, cleared by a flush.
    relaxed_unflushed: AtomicBool,
    /// The leadership connection (see [`leader`]), opened when first used.
    lock: LockClient,
}

/// A dedicated connection for leadership, reopened when it breaks: the
/// advisory lock lives and dies with it.
#[derive(Clone)]
struct LockClient {
    slot: Arc<tokio::sync::Mutex<Option<tokio_postgres::Client>>>,
    config: Arc<tokio_postgres::Config>,
    connector: qm_pg_connect::MakeRustlsConnect,
}

impl LockClient {
    async fn client(
        &self,
    ) -> Result<tokio::sync::MutexGuard<'_, Option<tokio_postgres::Client>>, StorageError> {
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
            let (client, connection) = self
                .config
                .connect(self.connector.clone())
                .await
                .map_err(pg_error)?;
            tokio::spawn(async move {
                let _ = connection.await;
            });
            *slot = Some(client);
        }
        Ok(slot)
    }
}

/// Whether a commit waits for Postgres's WAL flush (the default) or not: a
/// relaxed write is made durable by the next durable commit of anyone (the
/// WAL is flushed in order) or by [`Storage::flush`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Commit {
    Durable,
    Relaxed,
}

/// The message of a write refused by the fence.
const NOT_ACTIVE: &str = "this node is not the active node: its writes are refused";

fn pg_error(e: tokio_postgres::Error) -> StorageError {
    StorageError::Io(format!("postgres: {e}"))
}

/// Getting a connection failed: opening one (TLS, authentication) or the
/// pool. The causes are kept, which say what was refused.
fn pool_error(e: deadpool_postgres::PoolError) -> StorageError {
    StorageError::Io(format!("postgres pool: {}", qm_pg_connect::error_chain(&e)))
}

/// Refuses what a text key cannot hold.
fn check_key(key: &str) -> Result<(), StorageError> {
    if key.contains('\0') {
        return Err(StorageError::Io(
            "a storage key contains a NUL byte, which PostgreSQL cannot store".into(),
        ));
    }
    Ok(())
}

/// The smallest string greater than every string that starts with
/// `prefix`, if there is one: the last character that can grow grows by
/// one code point (skipping surrogates), the rest of the prefix is cut.
/// UTF-8 preserves code-point order, so `[prefix, successor)` in byte order
/// holds exactly the keys that start with `prefix`.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c).checked_add(1)?),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

impl PostgresStorage {
    /// Connects, checks the database, and creates or migrates the tables.
    /// Errors never carry the URL's password.
    pub fn connect(url: &ConnectionUrl) -> Result<Self, StorageError> {
        let settings = url.parse().map_err(StorageError::Io)?;
        let connector = settings.tls.connector().map_err(StorageError::Io)?;
        let mut config = settings.config;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("quartermaster");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("qm-storage")
            .enable_all()
            .build()
            .map_err(|e| StorageError::Worker(format!("starting the storage runtime: {e}")))?;
        let lock = LockClient {
            slot: Arc::new(tokio::sync::Mutex::new(None)),
            config: Arc::new(config.clone()),
            connector: connector.clone(),
        };
        let manager = Manager::from_config(
            config,
            connector,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .build()
            .map_err(|e| StorageError::Io(format!("postgres pool: {e}")))?;
        let store = Self {
            pool,
            runtime: Some(runtime),
            fenced: false,
            fence: Fence::default(),
            relaxed_unflushed: AtomicBool::new(false),
            lock,
        };
        let pool = store.pool.clone();
        store
            .run(async move {
                let mut client = pool.get().await.map_err(pool_error)?;
                schema::migrate(&mut client).await?;
                let commit: String = client
                    .query_one("SHOW synchronous_commit", &[])
                    .await
                    .map_err(pg_error)?
                    .try_get(0)
                    .map_err(pg_error)?;
                if commit == "off" {
                    tracing::warn!(
                        "the storage database has synchronous_commit=off: \
                         acknowledged writes can be lost if Postgres crashes"
                    );
                }
                Ok(())
            })
            .map_err(|e| StorageError::Io(url.scrub(&e.to_string())))?;
        Ok(store)
    }

    /// Connects as [`PostgresStorage::connect`] does, for a server: its
    /// writes are refused unless it holds the leadership term.
    pub fn connect_fenced(url: &ConnectionUrl) -> Result<Self, StorageError> {
        let mut store = Self::connect(url)?;
        store.fenced = true;
        Ok(store)
    }

    /// Runs `work` on the storage runtime and waits for it; callable from
    /// any thread, async worker or not.
    fn run<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StorageError>> + Send + 'static,
    {
        let runtime = self
            .runtime
            .as_ref()
            .ok_or_else(|| StorageError::Worker("the storage runtime is stopped".into()))?;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .map_err(|_| StorageError::Worker("a storage task stopped".into()))?
    }

    /// The leadership term a write must check (none when unfenced); an
    /// error when this node may not write.
    fn write_term(&self) -> Result<Option<i64>, StorageError> {
        match self.fenced {
            true => self
                .fence
                .term()
                .map(Some)
                .ok_or_else(|| StorageError::Fenced(NOT_ACTIVE.into())),
            false => Ok(None),
        }
    }

    /// Applies `changes` in one transaction (one statement for one change
    /// when unfenced), the one place writes reach the table.
    fn write(&self, changes: Vec<Change>, commit: Commit) -> Result<(), StorageError> {
        for change in &changes {
            match change {
                Change::Put(key, _) | Change::Delete(key) => check_key(key)?,
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let term = self.write_term()?;
        let pool = self.pool.clone();
        let written = self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let put = client.prepare_cached(PUT).await.map_err(pg_error)?;
            let delete = client.prepare_cached(DELETE).await.map_err(pg_error)?;
            let calls: Vec<(&tokio_postgres::Statement, Vec<&(dyn ToSql + Sync)>)> = changes
                .iter()
                .map(|change| match change {
                    Change::Put(key, value) => (&put, vec![key as &(dyn ToSql + Sync), value as _]),
                    Change::Delete(key) => (&delete, vec![key as &(dyn ToSql + Sync)]),
                })
                .collect();
            match term {
                Some(term) => fenced_transaction(&client, term, &calls, commit).await,
                None => plain_transaction(client, &calls).await,
            }
        });
        // Marked once committed, so a flush that starts later covers it.
        if commit == Commit::Relaxed && written.is_ok() {
            self.relaxed_unflushed.store(true, Ordering::SeqCst);
        }
        written
    }

    fn scan(&self, prefix: &str, limit: usize) -> Result<Vec<String>, StorageError> {
        check_key(prefix)?;
        let from = prefix.to_string();
        let until = prefix_successor(prefix);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let rows = match &until {
                Some(until) => {
                    let statement = client.prepare_cached(SCAN_RANGE).await.map_err(pg_error)?;
                    client.query(&statement, &[&from, until, &limit]).await
                }
                None => {
                    let statement = client.prepare_cached(SCAN_FROM).await.map_err(pg_error)?;
                    client.query(&statement, &[&from, &limit]).await
                }
            }
            .map_err(pg_error)?;
            rows.iter()
                .map(|row| row.try_get::<_, String>(0).map_err(pg_error))
                .collect()
        })
    }
}

type Call<'a> = (&'a tokio_postgres::Statement, Vec<&'a (dyn ToSql + Sync)>);

/// `BEGIN; SELECT qm_fence(term); calls; COMMIT` in one round trip. Every
/// message is sent before the first answer is read, and every answer is
/// awaited (a failed fence or statement aborts the transaction, whose
/// COMMIT then rolls back), so the connection goes back to the pool idle.
async fn fenced_transaction(
    client: &deadpool_postgres::Object,
    term: i64,
    calls: &[Call<'_>],
    commit: Commit,
) -> Result<(), StorageError> {
    let fence = client
        .prepare_cached("SELECT qm_fence($1)")
        .await
        .map_err(pg_error)?;
    let begin = client.batch_execute(match commit {
        Commit::Durable => "BEGIN",
        Commit::Relaxed => "BEGIN; SET LOCAL synchronous_commit = off",
    });
    let fence_params: [&(dyn ToSql + Sync); 1] = [&term];
    let fenced = client.execute(&fence, &fence_params);
    let statements = futures::future::join_all(
        calls
            .iter()
            .map(|(statement, params)| client.execute(*statement, params)),
    );
    let commit = client.batch_execute("COMMIT");
    let (begun, fenced, results, committed) =
        futures::future::join4(begin, fenced, statements, commit).await;
    begun.map_err(pg_error)?;
    if let Err(e) = fenced {
        return Err(match e.code().map(|c| c.code()) {
            Some("QMF01") => StorageError::Fenced(NOT_ACTIVE.into()),
            _ => pg_error(e),
        });
    }
    for result in results {
        result.map_err(pg_error)?;
    }
    committed.map_err(pg_error)
}

/// An unfenced write: one statement, or one pipelined transaction.
async fn plain_transaction(
    mut client: deadpool_postgres::Object,
    calls: &[Call<'_>],
) -> Result<(), StorageError> {
    if let [(statement, params)] = calls {
        client.execute(*statement, params).await.map_err(pg_error)?;
        return Ok(());
    }
    let tx = client.transaction().await.map_err(pg_error)?;
    // Pipelined: every statement is sent before the first answer.
    futures::future::try_join_all(
        calls
            .iter()
            .map(|(statement, params)| tx.execute(*statement, params)),
    )
    .await
    .map_err(pg_error)?;
    tx.commit().await.map_err(pg_error)
}

impl Drop for PostgresStorage {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which Tokio forbids inside async code
        // (where the server drops its store); this does not.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Storage for PostgresStorage {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        check_key(key)?;
        let key = key.to_string();
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(GET).await.map_err(pg_error)?;
            let row = client
                .query_opt(&statement, &[&key])
                .await
                .map_err(pg_error)?;
            row.map(|row| row.try_get::<_, Vec<u8>>(0).map_err(pg_error))
                .transpose()
        })
    }

    fn apply(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        self.write(changes, Commit::Durable)
    }

    fn apply_in_order(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        self.write(changes, Commit::Durable)
    }

    fn apply_relaxed(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        self.write(changes, Commit::Relaxed)
    }

    fn apply_relaxed_in_order(&self, changes: Vec<Change>) -> Result<(), StorageError> {
        self.write(changes, Commit::Relaxed)
    }

    fn keys_with_prefix(&self, prefix: &str) -> Result<Vec<String>, StorageError> {
        self.scan(prefix, usize::MAX)
    }

    fn first_keys_with_prefix(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StorageError> {
        self.scan(prefix, limit)
    }

    /// One REPEATABLE READ transaction: a single moment of the table,
    /// without holding writers up.
    fn snapshot(&self) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        let pool = self.pool.clone();
        self.run(async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg_error)?;
            let rows = tx
                .query("SELECT key, value FROM qm_store ORDER BY key", &[])
                .await
                .map_err(pg_error)?;
            tx.commit().await.map_err(pg_error)?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get(0).map_err(pg_error)?,
                        row.try_get(1).map_err(pg_error)?,
                    ))
                })
                .collect()
        })
    }

    /// One fenced transaction: every row deleted, the entries inserted.
    fn replace_all(&self, entries: Vec<(String, Vec<u8>)>) -> Result<(), StorageError> {
        for (key, _) in &entries {
            check_key(key)?;
        }
        let term = self.write_term()?;
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            let clear = client
                .prepare_cached("DELETE FROM qm_store")
                .await
                .map_err(pg_error)?;
            let put = client.prepare_cached(PUT).await.map_err(pg_error)?;
            let mut calls: Vec<Call<'_>> = vec![(&clear, Vec::new())];
            calls.extend(
                entries
                    .iter()
                    .map(|(key, value)| (&put, vec![key as &(dyn ToSql + Sync), value as _])),
            );
            match term {
                Some(term) => fenced_transaction(&client, term, &calls, Commit::Durable).await,
                None => plain_transaction(client, &calls).await,
            }
        })
    }

    fn remote(&self) -> bool {
        true
    }

    fn writable(&self) -> bool {
        !self.fenced || self.fence.term().is_some()
    }

    /// Durable writes are durable once committed; relaxed ones since the
    /// last flush are made durable by one synchronous commit (which waits
    /// for the WAL up to itself, and so past every earlier commit).
    fn flush(&self) -> Result<(), StorageError> {
        if !self.relaxed_unflushed.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(pool_error)?;
            client
                .batch_execute("BEGIN; SELECT txid_current(); COMMIT")
                .await
                .map_err(pg_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successor_bounds_exactly_the_prefix() {
        assert_eq!(prefix_successor(""), None);
        assert_eq!(prefix_successor("a/"), Some("a0".into()));
        assert_eq!(prefix_successor("sys/lease/"), Some("sys/lease0".into()));
        assert_eq!(prefix_successor("a\u{7F}"), Some("a\u{80}".into()));
        assert_eq!(prefix_successor("a\u{FFFF}"), Some("a\u{10000}".into()));
        assert_eq!(prefix_successor("a\u{D7FF}"), Some("a\u{E000}".into()));
        assert_eq!(prefix_successor("a\u{10FFFF}"), Some("b".into()));
        assert_eq!(prefix_successor("\u{10FFFF}\u{10FFFF}"), None);
        // Byte order: the successor sorts after every extension of the prefix.
        for prefix in ["a/", "é", "a\u{7F}", "z\u{FFFF}", "a\u{10FFFF}", "\u{D7FF}"] {
            let successor = prefix_successor(prefix).expect("bounded");
            for tail in ["", "\u{0}", "\u{10FFFF}", "zzz", "\u{FFFF}\u{10FFFF}"] {
                let key = format!("{prefix}{tail}");
                assert!(key.as_bytes() < successor.as_bytes(), "{key:?}");
            }
            assert!(prefix.as_bytes() < successor.as_bytes());
        }
    }

    #[test]
    fn nul_bytes_are_refused() {
        assert!(check_key("a\0b").is_err());
        assert!(check_key("sys/lease/id/database/creds/app/x").is_ok());
    }
}
