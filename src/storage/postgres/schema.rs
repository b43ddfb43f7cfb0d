//! The tables, created and migrated by the server on first start.
//!
//! ```sql
//! qm_schema (version integer)                              -- one row: the schema version
//! qm_store  (key text COLLATE "C" PRIMARY KEY, value bytea) -- every storage key
//! qm_leader (id = 1, term, holder, api_addr, active_since, expires_at) -- see `leader`
//! qm_nodes  (node_id PRIMARY KEY, api_addr, version, last_seen)      -- for sys/ha-status
//! qm_fence(term)                                           -- raises unless `term` is current
//! ```
//!
//! `COLLATE "C"` orders keys by their UTF-8 bytes, which is sled's order, so
//! prefix scans return the same keys in the same order on both stores and the
//! primary key's B-tree serves them as range scans. Several nodes may start at
//! once against one database: migration runs in one transaction under an
//! advisory lock. A database written by a newer schema is refused.

use super::pg_error;
use crate::storage::StorageError;

/// The version this build writes and reads.
const SCHEMA_VERSION: i32 = 3;

/// `pg_advisory_xact_lock` key serialising migrations ("qm-schema" in ASCII).
const MIGRATION_LOCK: i64 = 0x716d_2d73_6368_656d;

/// Each version's statements; `MIGRATIONS[n]` takes version n to n+1.
const MIGRATIONS: [&str; 3] = [
    "CREATE TABLE qm_store (key text COLLATE \"C\" PRIMARY KEY, value bytea NOT NULL)",
    // Leadership (version 2); version 3 replaces its `qm_fence`.
    "CREATE TABLE qm_leader (
        id integer PRIMARY KEY CHECK (id = 1),
        term bigint NOT NULL,
        holder text NOT NULL,
        api_addr text NOT NULL,
        active_since timestamptz,
        expires_at timestamptz NOT NULL
     );
     INSERT INTO qm_leader VALUES (1, 0, '', '', NULL, '-infinity');
     CREATE TABLE qm_nodes (
        node_id text PRIMARY KEY,
        api_addr text NOT NULL,
        version text NOT NULL,
        last_seen timestamptz NOT NULL
     );
     CREATE FUNCTION qm_fence(t bigint) RETURNS void LANGUAGE plpgsql AS $$
     BEGIN
        PERFORM 1 FROM qm_leader WHERE id = 1 AND term = t FOR KEY SHARE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'leadership term % is over: this node is no longer the active node', t
                USING ERRCODE = 'QMF01';
        END IF;
     END $$;",
    // `qm_fence` holds the term's fence lock (an advisory lock, class
    // 0x716e, shared) until its transaction ends, then reads the term; a
    // takeover takes the old term's fence lock exclusively before raising
    // the term, so it waits for every write that passed the fence, and
    // writes that queue behind it read the new term and fail. Unlike the
    // row lock of version 2, this writes no WAL and no multixact.
    "CREATE OR REPLACE FUNCTION qm_fence(t bigint) RETURNS void LANGUAGE plpgsql AS $$
     BEGIN
        PERFORM pg_advisory_xact_lock_shared(29038, (t % 2147483647)::integer);
        PERFORM 1 FROM qm_leader WHERE id = 1 AND term = t;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'leadership term % is over: this node is no longer the active node', t
                USING ERRCODE = 'QMF01';
        END IF;
     END $$;",
];

/// Brings the database to [`SCHEMA_VERSION`].
pub(super) async fn migrate(client: &mut tokio_postgres::Client) -> Result<(), StorageError> {
    let encoding: String = client
        .query_one("SHOW server_encoding", &[])
        .await
        .map_err(pg_error)?
        .try_get(0)
        .map_err(pg_error)?;
    if encoding != "UTF8" {
        return Err(StorageError::Io(format!(
            "the storage database's encoding is {encoding}; it must be UTF8"
        )));
    }
    let tx = client.transaction().await.map_err(pg_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(pg_error)?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS qm_schema (version integer NOT NULL)")
        .await
        .map_err(pg_error)?;
    let current: Option<i32> = tx
        .query_one("SELECT max(version) FROM qm_schema", &[])
        .await
        .map_err(pg_error)?
        .try_get(0)
        .map_err(pg_error)?;
    let current = current.unwrap_or(0);
    if current > SCHEMA_VERSION {
        return Err(StorageError::Io(format!(
            "the storage schema is version {current}, written by a newer qm; this one knows {SCHEMA_VERSION}"
        )));
    }
    for statement in MIGRATIONS
        .iter()
        .skip(usize::try_from(current).unwrap_or(usize::MAX))
    {
        tx.batch_execute(statement).await.map_err(pg_error)?;
    }
    if current < SCHEMA_VERSION {
        tx.execute("DELETE FROM qm_schema", &[])
            .await
            .map_err(pg_error)?;
        tx.execute(
            "INSERT INTO qm_schema (version) VALUES ($1)",
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(pg_error)?;
        tracing::info!(
            from = current,
            to = SCHEMA_VERSION,
            "storage schema migrated"
        );
    }
    tx.commit().await.map_err(pg_error)
}
