//! Every token's cubbyhole: a private KV v1 space, stored in the token store
//! next to the token's own entry, under `cubbyhole/<token hash>/<path>`. The
//! key holds the token's HMAC hash, never the token; no request can name
//! another token's space (the hash comes from the authenticated caller, not
//! from the path), and the space is deleted in the same write that deletes
//! the token (revocation, expiry, use-up), see `TokenStore::deletion`.

use super::store::{TokenError, TokenStore};
use crate::barrier::Write;
use serde_json::{Map, Value};

/// The storage prefix of one token's cubbyhole (inside the token store).
pub(super) fn prefix(id_hash: &str) -> String {
    format!("cubbyhole/{id_hash}/")
}

impl TokenStore {
    /// The entry at `path` in the cubbyhole of the token hashed `id_hash`.
    pub async fn cubbyhole_get(
        &self,
        id_hash: &str,
        path: &str,
    ) -> Result<Option<Map<String, Value>>, TokenError> {
        Ok(self
            .view()
            .get_json(&format!("{}{path}", prefix(id_hash)))
            .await?)
    }

    pub async fn cubbyhole_put(
        &self,
        id_hash: &str,
        path: &str,
        data: &Map<String, Value>,
    ) -> Result<(), TokenError> {
        Ok(self
            .view()
            .put_json(&format!("{}{path}", prefix(id_hash)), data)
            .await?)
    }

    pub async fn cubbyhole_delete(&self, id_hash: &str, path: &str) -> Result<(), TokenError> {
        Ok(self
            .view()
            .delete(&format!("{}{path}", prefix(id_hash)))
            .await?)
    }

    /// The direct children of `dir` (empty, or ending in `/`).
    pub async fn cubbyhole_list(
        &self,
        id_hash: &str,
        dir: &str,
    ) -> Result<Vec<String>, TokenError> {
        Ok(self
            .view()
            .list(&format!("{}{dir}", prefix(id_hash)))
            .await?)
    }

    /// The deletions that empty a token's cubbyhole.
    pub(super) async fn cubbyhole_deletion(&self, id_hash: &str) -> Result<Vec<Write>, TokenError> {
        if id_hash.is_empty() || id_hash.contains('/') {
            return Ok(Vec::new());
        }
        Ok(self
            .view()
            .keys(&prefix(id_hash))
            .await?
            .into_iter()
            .map(Write::Delete)
            .collect())
    }
}
