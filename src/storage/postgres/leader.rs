//! Leadership through PostgreSQL: one row, `qm_leader`, holds the current
//! term, its holder and until when its lease runs (Postgres's clock, never
//! a node's). A node becomes active by raising the term; it stays active by
//! extending the lease; every write it makes carries the term (see
//! [`Fence`] and `qm_fence` in `schema`), so a deposed node's writes fail.
//!
//! The lease alone would make a dead active's successor wait out the TTL.
//! So the holder of term T also holds the session advisory lock (class
//! [`LOCK_CLASS`], T) on a dedicated connection: Postgres releases it the
//! moment that connection closes (process killed, machine gone), and a
//! standby that can take it knows the holder is gone and takes over at once.
//! A holder that is alive but stuck (paused, partitioned) keeps its
//! connection and its advisory lock; its lease then runs out and a standby
//! takes over by the row alone.

use super::{pg_error, PostgresStorage};
use crate::storage::StorageError;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The advisory-lock class of leadership terms ("qm" in ASCII).
const LOCK_CLASS: i32 = 0x716d;

/// The advisory-lock class of a term's fence (`qm_fence` in `schema`):
/// writers hold it shared, a takeover takes it exclusively.
const FENCE_CLASS: i32 = 0x716e;

/// How long a takeover waits for the old term's last writes to commit.
const TAKEOVER_LOCK_TIMEOUT: &str = "2s";

/// The term this node's writes carry, and until when it may use it (its
/// last lease extension's start plus 90% of the TTL, by this node's
/// monotonic clock: before Postgres's own expiry). No term: writes refused.
#[derive(Default)]
pub struct Fence {
    term: AtomicI64,
    valid_until: Mutex<Option<Instant>>,
}

impl Fence {
    /// The term, while it is held and its lease has not run out here.
    pub fn term(&self) -> Option<i64> {
        let term = self.term.load(Ordering::SeqCst);
        let valid = self
            .valid_until
            .lock()
            .ok()
            .and_then(|until| *until)
            .is_some_and(|until| Instant::now() < until);
        (term != 0 && valid).then_some(term)
    }

    fn hold(&self, term: i64, until: Instant) {
        if let Ok(mut valid_until) = self.valid_until.lock() {
            *valid_until = Some(until);
        }
        self.term.store(term, Ordering::SeqCst);
    }

    /// Stops every write from now on.
    pub fn clear(&self) {
        self.term.store(0, Ordering::SeqCst);
        if let Ok(mut valid_until) = self.valid_until.lock() {
            *valid_until = None;
        }
    }
}

/// Who is active, as the leader row says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderInfo {
    pub term: i64,
    pub holder: String,
    pub api_addr: String,
    /// Unix seconds.
    pub active_since: Option<i64>,
    /// Whether its lease still runs.
    pub live: bool,
}

/// What a takeover attempt found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Acquired {
    /// This node holds the new term.
    Won(i64),
    /// Someone else does (or a rival won the race): the row as read.
    Held(LeaderInfo),
}

impl Acquired {
    /// The term won, if any.
    pub fn term(&self) -> Option<i64> {
        match self {
            Self::Won(term) => Some(*term),
            Self::Held(_) => None,
        }
    }
}

/// One node, as it last said it was alive.
#[derive(Clone, Debug)]
pub struct NodeInfo {
    pub node_id: String,
    pub api_addr: String,
    pub version: String,
    /// Unix seconds.
    pub last_seen: i64,
}

/// This node, as it presents itself to the others.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub node_id: String,
    pub api_addr: String,
}

/// The advisory lock's object id for `term` (terms wrap at 2^31: only
/// neighbours are ever compared).
fn lock_id(term: i64) -> i32 {
    i32::try_from(term.rem_euclid(i64::from(i32::MAX))).unwrap_or(0)
}

fn leader_from_row(row: &tokio_postgres::Row) -> Result<LeaderInfo, StorageError> {
    Ok(LeaderInfo {
        term: row.try_get(0).map_err(pg_error)?,
        holder: row.try_get(1).map_err(pg_error)?,
        api_addr: row.try_get(2).map_err(pg_error)?,
        active_since: row.try_get(3).map_err(pg_error)?,
        live: row.try_get(4).map_err(pg_error)?,
    })
}

fn seconds(ttl: Duration) -> f64 {
    ttl.as_secs_f64()
}

const READ_LEADER: &str = "SELECT term, holder, api_addr, \
     extract(epoch FROM active_since)::bigint, expires_at > clock_timestamp() \
     FROM qm_leader WHERE id = 1";

impl PostgresStorage {
    /// The leader row.
    pub fn leader(&self) -> Result<LeaderInfo, StorageError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(super::pool_error)?;
            let row = client.query_one(READ_LEADER, &[]).await.map_err(pg_error)?;
            leader_from_row(&row)
        })
    }

    /// Becomes active if nobody is: the term's lease ran out, or its
    /// holder's connection is gone. Returns the new term (the fence then
    /// holds it), or the leader row as this attempt read it.
    pub fn try_acquire(&self, me: &Candidate, ttl: Duration) -> Result<Acquired, StorageError> {
        let me = me.clone();
        let lock = self.lock.clone();
        let sent = Instant::now();
        let acquired = self.run(async move {
            let mut guard = lock.client().await?;
            let client = guard
                .as_mut()
                .ok_or_else(|| StorageError::Io("no leadership connection".into()))?;
            let current =
                leader_from_row(&client.query_one(READ_LEADER, &[]).await.map_err(pg_error)?)?;
            let old = current.term;
            let mut holds_old = false;
            if current.live && current.holder == me.node_id {
                // Our own lease, which this node gave up or lost track of:
                // the advisory lock would say nothing (we may hold it).
                return Ok(Acquired::Held(current));
            }
            if current.live {
                // The lease runs: take over only if its holder is gone.
                holds_old = try_lock(client, old).await?;
                if !holds_old {
                    return Ok(Acquired::Held(current));
                }
            }
            let new = old.saturating_add(1);
            if !try_lock(client, new).await? {
                unlock(client, old, holds_old).await?;
                return Ok(Acquired::Held(current));
            }
            let won = raise_term(client, &me, old, new, ttl).await;
            unlock(client, old, holds_old).await?;
            match won {
                Ok(true) => Ok(Acquired::Won(new)),
                Ok(false) => {
                    unlock(client, new, true).await?;
                    Ok(Acquired::Held(current))
                }
                Err(e) => {
                    unlock(client, new, true).await?;
                    Err(e)
                }
            }
        })?;
        if let Acquired::Won(term) = acquired {
            self.hold_fence(term, sent, ttl);
        }
        Ok(acquired)
    }

    /// Extends this node's lease on `term`. `Ok(false)`: the term is over
    /// (someone took over); the fence is cleared.
    pub fn renew(&self, term: i64, ttl: Duration) -> Result<bool, StorageError> {
        let lock = self.lock.clone();
        let sent = Instant::now();
        let renewed = self.run(async move {
            let mut guard = lock.client().await?;
            let client = guard
                .as_mut()
                .ok_or_else(|| StorageError::Io("no leadership connection".into()))?;
            let rows = client
                .execute(
                    "UPDATE qm_leader SET expires_at = clock_timestamp() + make_interval(secs => $2) \
                     WHERE id = 1 AND term = $1",
                    &[&term, &seconds(ttl)],
                )
                .await
                .map_err(pg_error)?;
            if rows != 1 {
                return Ok(false);
            }
            // After a reconnect the advisory lock is gone: take it back, or
            // a standby is taking over right now.
            let held: bool = client
                .query_one(
                    "SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory' \
                     AND classid = $1::int::oid AND objid = $2::int::oid AND pid = pg_backend_pid()",
                    &[&LOCK_CLASS, &lock_id(term)],
                )
                .await
                .map_err(pg_error)?
                .try_get(0)
                .map_err(pg_error)?;
            Ok(held || try_lock(client, term).await?)
        });
        match renewed {
            Ok(true) => {
                self.hold_fence(term, sent, ttl);
                Ok(true)
            }
            Ok(false) => {
                self.fence.clear();
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Gives `term` up (sealing, shutting down): the fence is cleared
    /// first, then the lease ends now so a standby takes over at once.
    pub fn release(&self, term: i64) -> Result<(), StorageError> {
        self.fence.clear();
        let lock = self.lock.clone();
        self.run(async move {
            let mut guard = lock.client().await?;
            let client = guard
                .as_mut()
                .ok_or_else(|| StorageError::Io("no leadership connection".into()))?;
            client
                .execute(
                    "UPDATE qm_leader SET expires_at = '-infinity' WHERE id = 1 AND term = $1",
                    &[&term],
                )
                .await
                .map_err(pg_error)?;
            unlock(client, term, true).await
        })
    }

    /// The fence every write of this store checks.
    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// Says this node is alive (for `sys/ha-status`).
    pub fn heartbeat(&self, me: &Candidate) -> Result<(), StorageError> {
        let me = me.clone();
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(super::pool_error)?;
            client
                .execute(
                    "INSERT INTO qm_nodes (node_id, api_addr, version, last_seen) \
                     VALUES ($1, $2, $3, clock_timestamp()) ON CONFLICT (node_id) DO UPDATE \
                     SET api_addr = EXCLUDED.api_addr, version = EXCLUDED.version, \
                     last_seen = EXCLUDED.last_seen",
                    &[&me.node_id, &me.api_addr, &env!("CARGO_PKG_VERSION")],
                )
                .await
                .map_err(pg_error)?;
            // Nodes silent for a day are forgotten.
            client
                .execute(
                    "DELETE FROM qm_nodes WHERE last_seen < clock_timestamp() - interval '1 day'",
                    &[],
                )
                .await
                .map_err(pg_error)?;
            Ok(())
        })
    }

    /// The nodes seen within `within`.
    pub fn nodes(&self, within: Duration) -> Result<Vec<NodeInfo>, StorageError> {
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(super::pool_error)?;
            let rows = client
                .query(
                    "SELECT node_id, api_addr, version, extract(epoch FROM last_seen)::bigint \
                     FROM qm_nodes WHERE last_seen > clock_timestamp() - make_interval(secs => $1) \
                     ORDER BY node_id",
                    &[&seconds(within)],
                )
                .await
                .map_err(pg_error)?;
            rows.iter()
                .map(|row| {
                    Ok(NodeInfo {
                        node_id: row.try_get(0).map_err(pg_error)?,
                        api_addr: row.try_get(1).map_err(pg_error)?,
                        version: row.try_get(2).map_err(pg_error)?,
                        last_seen: row.try_get(3).map_err(pg_error)?,
                    })
                })
                .collect()
        })
    }

    fn hold_fence(&self, term: i64, sent: Instant, ttl: Duration) {
        match sent.checked_add(ttl.mul_f64(0.9)) {
            Some(until) => self.fence.hold(term, until),
            None => self.fence.clear(),
        }
    }
}

/// Raises the term from `old` to `new` for `me`, waiting (at most
/// [`TAKEOVER_LOCK_TIMEOUT`]) for the old term's in-flight writes: it takes
/// the old term's fence lock exclusively, which every write holds shared.
async fn raise_term(
    client: &mut tokio_postgres::Client,
    me: &Candidate,
    old: i64,
    new: i64,
    ttl: Duration,
) -> Result<bool, StorageError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = '{TAKEOVER_LOCK_TIMEOUT}'"
    ))
    .await
    .map_err(pg_error)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&FENCE_CLASS, &lock_id(old)],
    )
    .await
    .map_err(pg_error)?;
    let raised = tx
        .execute(
            "UPDATE qm_leader SET term = $2, holder = $3, api_addr = $4, \
         active_since = clock_timestamp(), \
         expires_at = clock_timestamp() + make_interval(secs => $5) \
         WHERE id = 1 AND term = $1",
            &[&old, &new, &me.node_id, &me.api_addr, &seconds(ttl)],
        )
        .await
        .map_err(pg_error)?;
    if raised != 1 {
        return Ok(false);
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(true)
}

async fn try_lock(client: &tokio_postgres::Client, term: i64) -> Result<bool, StorageError> {
    client
        .query_one(
            "SELECT pg_try_advisory_lock($1, $2)",
            &[&LOCK_CLASS, &lock_id(term)],
        )
        .await
        .map_err(pg_error)?
        .try_get(0)
        .map_err(pg_error)
}

async fn unlock(
    client: &tokio_postgres::Client,
    term: i64,
    held: bool,
) -> Result<(), StorageError> {
    if held {
        client
            .execute(
                "SELECT pg_advisory_unlock($1, $2)",
                &[&LOCK_CLASS, &lock_id(term)],
            )
            .await
            .map_err(pg_error)?;
    }
    Ok(())
}
