//! A lease as an identity: owned by its role's owner (or its token's),
//! orphaned when the token that took it is gone.

use super::context::Context;
use super::risk::{scored_identity, Record};
use super::Identity;
use crate::error::ApiError;
use crate::lease::LeaseRecord;
use crate::nhi::paths::{self, LEASE};
use crate::nhi::IdentityMeta;

/// The identity of a secret's lease.
pub(super) async fn lease_identity(
    ctx: &mut Context<'_>,
    record: &LeaseRecord,
) -> Result<Identity, ApiError> {
    let mut reasons = Vec::new();
    let mut orphaned = false;
    let mut meta = IdentityMeta::default();
    let mut permissions = Vec::new();
    if let Some(role) = paths::role_of_lease(&record.lease_id) {
        meta = ctx.src.nhi.meta(&role).await?.unwrap_or_default();
        permissions.push(format!("a credential of {role}"));
    }
    if let Some(hash) = &record.token_hash {
        match ctx.src.tokens.lookup_hash(hash).await? {
            Some(token) if meta.owner.is_empty() => {
                meta.owner = token.meta.get("owner").cloned().unwrap_or_default();
            }
            Some(_) => {}
            None => {
                orphaned = true;
                reasons.push((
                    ctx.weights.token_gone,
                    "the token that took it is gone".to_string(),
                ));
            }
        }
    }
    meta.disabled = None;
    scored_identity(
        ctx,
        Record {
            id: record.lease_id.clone(),
            kind: LEASE,
            name: record
                .lease_id
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string(),
            mount: record.mount.clone(),
            meta,
            created: Some(record.issued_at),
            last_used: None,
            permissions,
            active_leases: 0,
            expire: Some(record.expire_at),
            reasons,
            orphaned,
        },
    )
    .await
}
