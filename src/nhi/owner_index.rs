//! The roles by owner, so the inventory's owner filter reads one owner's
//! roles instead of every mount's: `by-owner/<owner>/<identity>` → "" in
//! the `sys/nhi/` view, written in the same batch as the role's ownership
//! record (`meta/<identity>`) and deleted with it. Ownership records from
//! before the index are indexed once, when the store loads (`owner-index`
//! marks it).

use super::IdentityMeta;
use crate::barrier::{BarrierError, StorageView, Write};

const MARKER: &str = "owner-index";
const PREFIX: &str = "by-owner/";

/// An owner as one key segment: `%` and `/` percent-encoded.
fn segment(owner: &str) -> String {
    owner.replace('%', "%25").replace('/', "%2F")
}

fn key(owner: &str, identity: &str) -> Option<String> {
    (!owner.is_empty()).then(|| format!("{PREFIX}{}/{identity}", segment(owner)))
}

/// The index writes that go with replacing `old` by `new` for `identity`.
pub(super) fn moved(
    identity: &str,
    old: Option<&IdentityMeta>,
    new: Option<&IdentityMeta>,
) -> Vec<Write> {
    let old_owner = old.map(|m| m.owner.as_str()).unwrap_or_default();
    let new_owner = new.map(|m| m.owner.as_str()).unwrap_or_default();
    if old_owner == new_owner {
        return Vec::new();
    }
    let mut writes = Vec::new();
    writes.extend(key(old_owner, identity).map(Write::Delete));
    writes.extend(key(new_owner, identity).map(|k| Write::json(k, &"")));
    writes
}

/// The identities `owner` owns, in order.
pub(super) async fn owned(view: &StorageView, owner: &str) -> Result<Vec<String>, BarrierError> {
    if owner.is_empty() {
        return Ok(Vec::new());
    }
    let prefix = format!("{PREFIX}{}/", segment(owner));
    let keys = view.keys(&prefix).await?;
    Ok(keys
        .into_iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(String::from))
        .collect())
}

/// Indexes every ownership record of a store loaded without the index, once.
pub(super) async fn index_once(view: &StorageView) -> Result<(), BarrierError> {
    if view.get_bytes(MARKER).await?.is_some() {
        return Ok(());
    }
    let mut writes = Vec::new();
    for meta_key in view.keys("meta/").await? {
        let Some(identity) = meta_key.strip_prefix("meta/") else {
            continue;
        };
        if let Some(meta) = view.get_json::<IdentityMeta>(&meta_key).await? {
            writes.extend(moved(identity, None, Some(&meta)));
        }
        if writes.len() >= 1000 {
            view.write(std::mem::take(&mut writes)).await?;
        }
    }
    writes.push(Write::json(MARKER, &true));
    view.write(writes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned_by(owner: &str) -> IdentityMeta {
        IdentityMeta {
            owner: owner.into(),
            ..IdentityMeta::default()
        }
    }

    #[test]
    fn a_new_owner_moves_the_entry_and_the_same_owner_writes_nothing() {
        let id = "database/roles/app";
        assert!(moved(id, Some(&owned_by("alice")), Some(&owned_by("alice"))).is_empty());
        let keys: Vec<String> = moved(id, Some(&owned_by("alice")), Some(&owned_by("team/b")))
            .into_iter()
            .map(|w| match w {
                Write::Put(k, _) => format!("put {k}"),
                Write::Delete(k) => format!("delete {k}"),
            })
            .collect();
        assert_eq!(
            keys,
            vec![
                "delete by-owner/alice/database/roles/app",
                "put by-owner/team%2Fb/database/roles/app"
            ]
        );
        assert_eq!(moved(id, Some(&owned_by("alice")), None).len(), 1);
    }
}
