//! The token store (`store`) and the `auth` block a token is handed out in.
//! The `auth/token/` endpoints over it are the core's (`core::token_api`).

pub mod cubbyhole;
mod owners;
pub mod store;

use crate::logical::AuthBlock;
use store::TokenEntry;

pub(crate) fn auth_block(token: &str, entry: &TokenEntry, now: i64) -> AuthBlock {
    AuthBlock {
        client_token: token.to_string(),
        accessor: entry.accessor.clone(),
        policies: entry.policies.clone(),
        token_policies: entry.policies.clone(),
        identity_policies: None,
        metadata: (!entry.meta.is_empty()).then(|| entry.meta.clone()),
        lease_duration: entry.ttl_remaining(now),
        renewable: entry.renewable,
        entity_id: String::new(),
        token_type: "service".into(),
        orphan: entry.parent_hash.is_none(),
        mfa_requirement: None,
        num_uses: entry.num_uses,
    }
}
