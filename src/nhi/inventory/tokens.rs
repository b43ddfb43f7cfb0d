//! A token as an identity: owned per its `meta.owner`, risky by its
//! policies and by how long it lives.

use super::context::Context;
use super::risk::{scored_identity, Record, DAY, STALE_AFTER};
use super::Identity;
use crate::auth::token::store::TokenEntry;
use crate::error::ApiError;
use crate::nhi::paths::TOKEN;
use crate::nhi::IdentityMeta;

/// The identity of a token, by its accessor.
pub(super) async fn token_identity(
    ctx: &mut Context<'_>,
    entry: &TokenEntry,
) -> Result<Identity, ApiError> {
    let id = format!("auth/token/accessors/{}", entry.accessor);
    let field = |key: &str| entry.meta.get(key).cloned().unwrap_or_default();
    let meta = IdentityMeta {
        owner: field("owner"),
        purpose: field("purpose"),
        environment: field("environment"),
        created: entry.creation_time,
        ..IdentityMeta::default()
    };
    let mut reasons = Vec::new();
    let (permissions, broad) = ctx.policy_permissions(&entry.policies).await?;
    if let Some(broad) = broad {
        reasons.push((ctx.weights.broad_policy, broad));
    }
    reasons.extend(ctx.unused_writes(&id, &permissions));
    match entry.expire_time {
        None => reasons.push((ctx.weights.never_expires, "never expires".to_string())),
        Some(expire) if expire.saturating_sub(ctx.now) > STALE_AFTER => {
            reasons.push((
                ctx.weights.long_ttl,
                format!("{} days left", expire.saturating_sub(ctx.now) / DAY),
            ));
        }
        Some(_) => {}
    }
    let active_leases = ctx.src.leases.of_token(&entry.id_hash).await?.len();
    let last_used = ctx.src.nhi.last_used(&id).await?;
    scored_identity(
        ctx,
        Record {
            id,
            kind: TOKEN,
            name: entry.display_name.clone(),
            mount: "auth/token/".into(),
            meta,
            created: Some(entry.creation_time),
            last_used,
            permissions,
            active_leases,
            expire: entry.expire_time,
            reasons,
            orphaned: false,
        },
    )
    .await
}
