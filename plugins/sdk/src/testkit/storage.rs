//! An in-memory [`PluginStorage`]: a sorted map behind a mutex, with the
//! same `list` semantics as the core's (direct children, folders with a
//! trailing `/`). Writes are atomic; "durable" means nothing here.

use crate::{PluginError, PluginStorage, Write};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Plugin storage kept in memory, for tests.
#[derive(Default)]
pub struct MemoryStorage {
    // A std mutex: held for map access only, never across an await.
    entries: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every key, sorted (for assertions).
    pub fn keys(&self) -> Vec<String> {
        self.entries
            .lock()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn locked(&self) -> Result<std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>>, PluginError> {
        self.entries
            .lock()
            .map_err(|_| PluginError::Storage("memory storage: a writer panicked".into()))
    }
}

#[async_trait::async_trait]
impl PluginStorage for MemoryStorage {
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PluginError> {
        Ok(self.locked()?.get(key).cloned())
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), PluginError> {
        let mut entries = self.locked()?;
        for write in writes {
            match write {
                Write::Put(key, value) => entries.insert(key, value),
                Write::Delete(key) => entries.remove(&key),
            };
        }
        Ok(())
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, PluginError> {
        let entries = self.locked()?;
        let mut children: Vec<String> = Vec::new();
        for key in entries.keys() {
            let Some(rest) = key.strip_prefix(prefix) else {
                continue;
            };
            let child = match rest.split_once('/') {
                Some((folder, _)) => format!("{folder}/"),
                None => rest.to_string(),
            };
            if !child.is_empty() && children.last() != Some(&child) {
                children.push(child);
            }
        }
        Ok(children)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_direct_children_and_folders() {
        let storage = MemoryStorage::new();
        let put = |k: &str| Write::Put(k.into(), b"x".to_vec());
        storage
            .write(vec![
                put("roles/a"),
                put("roles/b/c"),
                put("roles/b/d"),
                put("users/x"),
            ])
            .await
            .unwrap();
        assert_eq!(storage.list("roles/").await.unwrap(), vec!["a", "b/"]);
        assert_eq!(storage.list("").await.unwrap(), vec!["roles/", "users/"]);
        storage
            .write(vec![Write::Delete("roles/a".into())])
            .await
            .unwrap();
        assert_eq!(storage.get("roles/a").await.unwrap(), None);
        assert_eq!(storage.keys(), vec!["roles/b/c", "roles/b/d", "users/x"]);
    }
}
