//! A view of the barrier confined to one key prefix: each mount sees only its
//! own part of storage.

use super::{Barrier, BarrierError, Write};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::Arc;

#[derive(Clone)]
pub struct StorageView {
    barrier: Arc<Barrier>,
    prefix: String,
}

impl StorageView {
    pub fn new(barrier: Arc<Barrier>, prefix: impl Into<String>) -> Self {
        Self {
            barrier,
            prefix: prefix.into(),
        }
    }

    /// The barrier key of `key` inside this view.
    pub fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, BarrierError> {
        self.barrier.get_json(&self.full(key)).await
    }

    pub async fn put_json<T: Serialize>(&self, key: &str, value: &T) -> Result<(), BarrierError> {
        self.barrier.put_json(&self.full(key), value).await
    }

    pub async fn delete(&self, key: &str) -> Result<(), BarrierError> {
        self.barrier.delete(&self.full(key)).await
    }

    /// Applies writes (keys relative to this view) atomically and durably.
    pub async fn write(&self, writes: Vec<Write>) -> Result<(), BarrierError> {
        self.barrier.write(self.relative_to_full(writes)).await
    }

    /// [`StorageView::write_relaxed`] for async callers (see
    /// [`Barrier::write_relaxed_async`]).
    pub async fn write_relaxed_async(&self, writes: Vec<Write>) -> Result<(), BarrierError> {
        self.barrier
            .write_relaxed_async(self.relative_to_full(writes))
            .await
    }

    /// [`StorageView::write_relaxed_in_order`] for async callers.
    pub async fn write_relaxed_in_order_async(
        &self,
        writes: Vec<Write>,
    ) -> Result<(), BarrierError> {
        self.barrier
            .write_relaxed_in_order_async(self.relative_to_full(writes))
            .await
    }

    /// Like [`StorageView::write`], durable with the next durable write.
    pub fn write_relaxed(&self, writes: Vec<Write>) -> Result<(), BarrierError> {
        self.barrier.write_relaxed(self.relative_to_full(writes))
    }

    /// Like [`StorageView::write`], applied in order rather than atomically.
    pub async fn write_in_order(&self, writes: Vec<Write>) -> Result<(), BarrierError> {
        self.barrier
            .write_in_order(self.relative_to_full(writes))
            .await
    }

    /// Like [`StorageView::write_relaxed`], applied in order rather than atomically.
    pub fn write_relaxed_in_order(&self, writes: Vec<Write>) -> Result<(), BarrierError> {
        self.barrier
            .write_relaxed_in_order(self.relative_to_full(writes))
    }

    fn relative_to_full(&self, writes: Vec<Write>) -> Vec<Write> {
        writes
            .into_iter()
            .map(|w| match w {
                Write::Put(key, value) => Write::Put(self.full(&key), value),
                Write::Delete(key) => Write::Delete(self.full(&key)),
            })
            .collect()
    }

    /// Returns once every write applied so far is on disk.
    pub async fn sync(&self) -> Result<(), BarrierError> {
        self.barrier.sync().await
    }

    /// Direct children of `prefix` inside this view.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        self.barrier.list(&self.full(prefix)).await
    }

    /// Every key under `prefix` inside this view, relative to the view.
    pub async fn keys(&self, prefix: &str) -> Result<Vec<String>, BarrierError> {
        let keys = self.barrier.keys(&self.full(prefix)).await?;
        Ok(keys
            .into_iter()
            .map(|k| k[self.prefix.len()..].to_owned())
            .collect())
    }

    /// The first `limit` keys under `prefix`, relative to the view.
    pub async fn keys_limited(
        &self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, BarrierError> {
        let keys = self.barrier.keys_limited(&self.full(prefix), limit).await?;
        Ok(keys
            .into_iter()
            .map(|k| k[self.prefix.len()..].to_owned())
            .collect())
    }

    /// Reads raw bytes.
    pub async fn get_bytes(&self, key: &str) -> Result<Option<Vec<u8>>, BarrierError> {
        self.barrier.get(&self.full(key)).await
    }
}
