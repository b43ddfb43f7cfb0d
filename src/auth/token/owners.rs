//! The tokens by owner (`meta.owner`), so the inventory's owner filter
//! reads one owner's tokens instead of every token: `owner/<owner>/<accessor>`
//! → "" in the token store's view, written and deleted in the same batch
//! as the token (a token's meta never changes). Stores from before the
//! index are indexed once, when the store opens (`owner-index` marks it).

use super::store::{TokenEntry, TokenError, TokenStore};
use crate::barrier::{StorageView, Write};

const MARKER: &str = "owner-index";
const PREFIX: &str = "owner/";

/// An owner as one key segment: `%` and `/` percent-encoded.
fn segment(owner: &str) -> String {
    owner.replace('%', "%25").replace('/', "%2F")
}

/// The index key of a token, if it has an owner.
pub(super) fn owner_key(entry: &TokenEntry) -> Option<String> {
    let owner = entry.meta.get("owner").filter(|o| !o.is_empty())?;
    Some(format!("{PREFIX}{}/{}", segment(owner), entry.accessor))
}

/// Indexes every token of a store opened without the index, once.
pub(super) async fn index_once(store: &TokenStore, view: &StorageView) -> Result<(), TokenError> {
    if view.get_bytes(MARKER).await?.is_some() {
        return Ok(());
    }
    let accessors = store.accessors_limited(usize::MAX).await?;
    let mut writes = Vec::new();
    for accessor in &accessors {
        if let Some(key) = store
            .lookup_accessor(accessor)
            .await?
            .as_ref()
            .and_then(owner_key)
        {
            writes.push(Write::json(key, &""));
        }
        if writes.len() >= 1000 {
            view.write(std::mem::take(&mut writes)).await?;
        }
    }
    writes.push(Write::json(MARKER, &true));
    view.write(writes).await?;
    if !accessors.is_empty() {
        tracing::info!(tokens = accessors.len(), "indexed the tokens by owner");
    }
    Ok(())
}

impl TokenStore {
    /// The accessors of the tokens `owner` owns, in order.
    pub async fn accessors_of_owner(&self, owner: &str) -> Result<Vec<String>, TokenError> {
        if owner.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .view()
            .list(&format!("{PREFIX}{}/", segment(owner)))
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::segment;

    #[test]
    fn an_owner_is_one_segment() {
        assert_eq!(segment("team/a%b"), "team%2Fa%25b");
        assert_ne!(segment("a/b"), segment("a%2Fb"));
    }
}
