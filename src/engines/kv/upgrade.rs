//! The upgrade of a KV mount from version 1 to version 2 (a tune of
//! `options.version` to "2", as Vault): every v1 object becomes version 1 of
//! the v2 key at the same path. A downgrade is refused before anything
//! changes (`sys/mounts/NAME/tune`).
//!
//! # Crash safety
//!
//! The mount's version lives in the mount table; v1 objects live under
//! `v1/` in the mount's storage, where v2 never writes. The upgrade is:
//!
//! 1. the tune stores the mount table with version "2" (one durable put)
//!    and swaps in a v2 engine that is *awaiting* its migration: it answers
//!    every request with Vault's "Upgrading from non-versioned to versioned
//!    data" error (400) meanwhile;
//! 2. the tune waits (bounded) until no request still holds the old v1
//!    engine, so no v1 write can land behind the migration;
//! 3. the migration moves each key in one atomic, durable batch: write
//!    `version/1/P` and `meta/P`, delete `v1/P`;
//! 4. the engine serves.
//!
//! A crash before step 1's put leaves a v1 mount with its data untouched:
//! tune again. A crash at any later point leaves a v2 mount with some keys
//! still under `v1/`; every v2 engine, when it is built (at unseal, or after
//! a restart), moves whatever is left under `v1/` before it serves its first
//! request. Each key moves atomically, so none is lost or doubled. If a key
//! already has v2 metadata (a v1 write that arrived after the bounded wait
//! in step 2), its v1 object becomes a newer version instead of replacing
//! anything.

use super::metadata::KeyMetadata;
use super::v1::V1_PREFIX;
use super::KvEngine;
use crate::barrier::Write;
use crate::error::ApiError;
use serde_json::{Map, Value};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// Vault's answer while a mount's data is being upgraded.
pub(super) const UPGRADING: &str = "Upgrading from non-versioned to versioned data. This backend will be unavailable for a brief period and will resume service shortly.";

/// Built at load: the first request moves what is left under `v1/`.
const UNCHECKED: u8 = 0;
/// Built by an upgrade: requests wait for [`KvEngine::migrate`].
const AWAITING: u8 = 1;
const DONE: u8 = 2;

/// How long a request waits for a running migration before it is answered
/// with [`UPGRADING`] (Vault waits 15 ms too).
const GRACE: Duration = Duration::from_millis(15);

pub(super) struct Upgrade {
    state: AtomicU8,
    // A tokio mutex: the migration spans storage awaits.
    running: tokio::sync::Mutex<()>,
}

impl Upgrade {
    pub(super) fn new(awaiting: bool) -> Self {
        Self {
            state: AtomicU8::new(if awaiting { AWAITING } else { UNCHECKED }),
            running: tokio::sync::Mutex::new(()),
        }
    }

    fn done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }
}

impl KvEngine {
    /// Before a request: moves what is left of v1 data on first use, or
    /// answers [`UPGRADING`] while an upgrade runs.
    pub(super) async fn ready(&self) -> Result<(), ApiError> {
        if self.upgrade.done() {
            return Ok(());
        }
        if self.upgrade.state.load(Ordering::Acquire) == UNCHECKED {
            if let Ok(_running) = self.upgrade.running.try_lock() {
                if self.upgrade.done() {
                    return Ok(());
                }
                return self.run_migration().await;
            }
        }
        tokio::time::sleep(GRACE).await;
        if self.upgrade.done() {
            return Ok(());
        }
        Err(ApiError::bad(UPGRADING))
    }

    /// Runs (or waits for) the migration of v1 data: the tune calls it once
    /// the old v1 engine has drained.
    pub(super) async fn migrate_now(&self) -> Result<(), ApiError> {
        let _running = self.upgrade.running.lock().await;
        if self.upgrade.done() {
            return Ok(());
        }
        self.run_migration().await
    }

    /// Holding `running`: moves every v1 key, then serves. On failure the
    /// next request tries again.
    async fn run_migration(&self) -> Result<(), ApiError> {
        match self.move_v1_keys().await {
            Ok(moved) => {
                if moved > 0 {
                    tracing::info!(keys = moved, "kv mount upgraded from version 1 to 2");
                }
                self.upgrade.state.store(DONE, Ordering::Release);
                Ok(())
            }
            Err(e) => {
                self.upgrade.state.store(UNCHECKED, Ordering::Release);
                tracing::warn!(error = %e, "kv upgrade from version 1 stopped; it resumes on the next request");
                Err(e)
            }
        }
    }

    async fn move_v1_keys(&self) -> Result<usize, ApiError> {
        let keys = self.view.keys(V1_PREFIX).await?;
        let mut moved = 0usize;
        for stored in &keys {
            let Some(path) = stored.strip_prefix(V1_PREFIX) else {
                continue;
            };
            self.move_one(stored, path).await?;
            moved = moved.saturating_add(1);
        }
        Ok(moved)
    }

    /// One key, in one atomic batch: its v1 object becomes the next version
    /// (version 1 for a key v2 has never seen) and the v1 copy goes.
    async fn move_one(&self, stored: &str, path: &str) -> Result<(), ApiError> {
        let _guard = self.lock(path).await;
        let Some(secret) = self.view.get_json::<Map<String, Value>>(stored).await? else {
            return Ok(());
        };
        let now = super::now_rfc3339();
        let mut meta = self
            .metadata(path)
            .await?
            .unwrap_or_else(|| KeyMetadata::new(&now));
        let version = meta.current_version.saturating_add(1);
        meta.add_version(version, &now);
        self.view
            .write(vec![
                Write::json(format!("version/{version}/{path}"), &Value::Object(secret)),
                Write::json(format!("meta/{path}"), &meta),
                Write::Delete(stored.to_string()),
            ])
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::KvV1Engine;
    use super::*;
    use crate::barrier::{Barrier, StorageView};
    use crate::engines::{Engine, EngineRequest};
    use crate::logical::{MountEntry, Operation};
    use serde_json::json;
    use std::sync::Arc;

    async fn view() -> StorageView {
        let storage = crate::storage::SledStorage::temporary().expect("store");
        let barrier = Barrier::new(Arc::new(storage), Arc::new(crate::clock::SystemClock));
        barrier.initialize(&[7; 32]).await.expect("init");
        StorageView::new(barrier, "logical/test/")
    }

    async fn call(
        engine: &dyn Engine,
        operation: Operation,
        path: &str,
        data: Value,
    ) -> Result<Option<Map<String, Value>>, ApiError> {
        let entry = MountEntry::new("kv/", "kv", "");
        let data = match data {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        let req = EngineRequest {
            operation,
            path,
            data: &data,
            mount: &entry,
            default_lease_ttl: 60,
        };
        Ok(engine.handle(&req).await?.data)
    }

    /// A crash in the middle of the migration: some keys moved, some not,
    /// one written again by v2 already. A fresh engine (the restart) moves
    /// the rest before it answers, and loses or doubles nothing.
    #[tokio::test]
    async fn an_interrupted_upgrade_resumes_at_the_next_load() {
        let view = view().await;
        let v1 = KvV1Engine::new(view.clone());
        for i in 0..20 {
            call(
                &v1,
                Operation::Update,
                &format!("app/k{i}"),
                json!({ "n": i }),
            )
            .await
            .expect("v1 write");
        }
        let interrupted = KvEngine::upgrading(view.clone());
        for i in 0..7 {
            let path = format!("app/k{i}");
            interrupted
                .move_one(&format!("{V1_PREFIX}{path}"), &path)
                .await
                .expect("move");
        }
        // Requests to the interrupted engine get Vault's upgrading error.
        let refused = call(&interrupted, Operation::Read, "data/app/k0", json!({})).await;
        assert!(
            matches!(&refused, Err(ApiError::BadRequest(m)) if m == UPGRADING),
            "{:?}",
            refused.err()
        );
        // A v1 object that arrived after the drain, for a key v2 has.
        view.put_json(&format!("{V1_PREFIX}app/k0"), &json!({ "n": "late" }))
            .await
            .expect("late v1 write");

        let restarted = KvEngine::new(view.clone());
        for i in 1..20 {
            let read = call(
                &restarted,
                Operation::Read,
                &format!("data/app/k{i}"),
                json!({}),
            )
            .await
            .expect("read")
            .expect("data");
            assert_eq!(read["data"], json!({ "n": i }), "key {i}");
            assert_eq!(read["metadata"]["version"], 1, "key {i}");
        }
        let late = call(&restarted, Operation::Read, "data/app/k0", json!({}))
            .await
            .expect("read")
            .expect("data");
        assert_eq!(late["data"], json!({ "n": "late" }));
        assert_eq!(late["metadata"]["version"], 2);
        let first = call(
            &restarted,
            Operation::Read,
            "data/app/k0",
            json!({ "version": 1 }),
        )
        .await
        .expect("read")
        .expect("data");
        assert_eq!(first["data"], json!({ "n": 0 }));
        assert!(view.keys(V1_PREFIX).await.expect("keys").is_empty());
    }
}
