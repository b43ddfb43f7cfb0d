//! The risk reasons every identity shares (no owner or an offboarded one,
//! unused, many leases), and the score: the reasons' points, at most 100.

use super::context::Context;
use super::Identity;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::nhi::IdentityMeta;

pub(super) const DAY: i64 = 86_400;
pub(super) const STALE_AFTER: i64 = 30 * DAY;
const MANY_LEASES: usize = 100;

/// What every kind of identity shares before scoring.
pub(super) struct Record {
    pub(super) id: String,
    pub(super) kind: &'static str,
    pub(super) name: String,
    pub(super) mount: String,
    pub(super) meta: IdentityMeta,
    pub(super) created: Option<i64>,
    pub(super) last_used: Option<i64>,
    pub(super) permissions: Vec<String>,
    pub(super) active_leases: usize,
    pub(super) expire: Option<i64>,
    pub(super) reasons: Vec<(u32, String)>,
    pub(super) orphaned: bool,
}

/// The identity of a record, with the shared reasons added and scored.
pub(super) async fn scored_identity(
    ctx: &mut Context<'_>,
    mut r: Record,
) -> Result<Identity, ApiError> {
    if r.meta.owner.is_empty() {
        r.reasons.push((ctx.weights.no_owner, "no owner".into()));
    } else if ctx.owner_gone(&r.meta.owner).await? {
        r.reasons.push((
            ctx.weights.owner_offboarded,
            format!("owner {:?} was offboarded", r.meta.owner),
        ));
        r.orphaned = true;
    }
    match r.last_used.or(r.created) {
        Some(since) if ctx.now.saturating_sub(since) >= STALE_AFTER => {
            let what = if r.last_used.is_some() {
                "unused"
            } else {
                "never used"
            };
            r.reasons.push((
                ctx.weights.unused,
                format!("{what} for {} days", ctx.now.saturating_sub(since) / DAY),
            ));
        }
        _ => {}
    }
    if r.active_leases > MANY_LEASES {
        r.reasons.push((
            ctx.weights.many_leases,
            format!("{} active leases", r.active_leases),
        ));
    }
    let score = r
        .reasons
        .iter()
        .map(|(points, _)| points)
        .sum::<u32>()
        .min(100);
    let source = r.mount.clone();
    Ok(Identity {
        id: r.id,
        identity_type: r.kind,
        name: r.name,
        mount: r.mount,
        owner: r.meta.owner,
        purpose: r.meta.purpose,
        environment: r.meta.environment,
        labels: r.meta.labels,
        creation_date: r.created.map(rfc3339),
        last_accessed: r.last_used.map(rfc3339),
        permissions: r.permissions,
        active_leases: r.active_leases,
        expiration: r.expire.map(rfc3339),
        risk_score: score,
        risk_reasons: r
            .reasons
            .into_iter()
            .map(|(points, why)| format!("+{points}: {why}"))
            .collect(),
        disabled: r.meta.disabled,
        orphaned: r.orphaned,
        managed: true,
        source,
        last_used_unix: r.last_used,
        expire_unix: r.expire,
    })
}
