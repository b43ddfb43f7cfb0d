//! `sys/leases/*` (lookup, renew, revoke, revoke-prefix, revoke-force,
//! tidy, and the irrevocable reports in `irrevocable.rs`), the legacy
//! `sys/renew` and `sys/revoke`, and our `sys/nhi/jobs/ID` for background
//! revoke-prefix progress.

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::lease::Revocation;
use crate::logical::{Operation, Response};
use crate::params::{optional_bool, optional_duration, optional_str};
use serde_json::json;

/// The one lease a request names. When the path names it
/// (`sys/leases/revoke/ID`), that is the lease the ACL checked, and a body
/// naming a different one is refused (Vault lets the body win; we do not).
/// The id is used exactly as given: never trimmed, never a prefix.
fn lease_id_param(ctx: &Ctx<'_>, from_path: &str) -> Result<String, ApiError> {
    let from_body = optional_str(&ctx.req.data, "lease_id")?.filter(|s| !s.is_empty());
    let id = match (from_path, from_body) {
        ("", None) => return Err(ApiError::bad("lease_id: required")),
        ("", Some(body)) => body,
        (path, None) => path,
        (path, Some(body)) if body == path => path,
        (_, Some(_)) => {
            return Err(ApiError::bad(
                "lease_id: the body names a different lease than the request path; name it in one place",
            ))
        }
    };
    Ok(id.to_string())
}

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    use Operation::*;
    let (head, rest) = match path.strip_prefix("leases/") {
        Some(rest) => rest.split_once('/').unwrap_or((rest, "")),
        None => path.split_once('/').unwrap_or((path, "")),
    };
    match (head, op) {
        ("lookup", List) => {
            let prefix = rest.trim_start_matches('/');
            Response::keys(ctx.active.leases.ledger().list(prefix).await?)
        }
        ("lookup", Create | Update) => {
            let id = lease_id_param(ctx, rest)?;
            Ok(Response::json(ctx.active.leases.lookup(&id).await?))
        }
        ("renew", Create | Update) => {
            let id = lease_id_param(ctx, rest)?;
            let increment = optional_duration(&ctx.req.data, "increment")?;
            Ok(ctx.active.leases.renew(&id, increment).await?)
        }
        ("revoke", Create | Update) => {
            let id = lease_id_param(ctx, rest)?;
            if optional_bool(&ctx.req.data, "sync")? == Some(false) {
                let job = ctx
                    .active
                    .leases
                    .start_revoke_job(Revocation::Lease(id), false);
                return Ok(Response::json(json!({ "job_id": job })).with_status(202));
            }
            let warnings = ctx.active.leases.revoke(&id).await?;
            Ok(Response {
                warnings,
                ..Response::empty()
            })
        }
        ("revoke-prefix" | "revoke-force", Create | Update) => {
            let prefix = rest.trim_start_matches('/').to_string();
            if prefix.is_empty() {
                return Err(ApiError::bad(
                    "prefix: required (sys/leases/revoke-prefix/PREFIX)",
                ));
            }
            let force = head == "revoke-force";
            if optional_bool(&ctx.req.data, "sync")? == Some(false) {
                let job = ctx
                    .active
                    .leases
                    .start_revoke_job(Revocation::Prefix(prefix), force);
                return Ok(Response::json(json!({ "job_id": job })).with_status(202));
            }
            let (revoked, failed) = ctx
                .active
                .leases
                .revoke_prefix_spread(prefix.clone(), force)
                .await?;
            tracing::info!(prefix = %prefix, revoked, failed, force, "revoke-prefix");
            if failed > 0 {
                return Err(ApiError::BadGateway(format!(
                    "{failed} of {} leases under {prefix:?} could not be revoked; they stay scheduled for retry (see sys/leases/lookup)",
                    revoked.saturating_add(failed)
                )));
            }
            Ok(Response::empty())
        }
        ("tidy", Create | Update) => {
            let removed = ctx.active.leases.ledger().tidy().await?;
            // Every failing lease (irrevocable ones too) is tried again now,
            // in the background: a backend still down may take its time.
            let job = ctx
                .active
                .leases
                .start_revoke_job(Revocation::Failing, false);
            Ok(Response::json(json!({
                "removed_index_entries": removed,
                "retry_job_id": job,
            })))
        }
        ("leases", Read) if rest.is_empty() => super::irrevocable::list(ctx).await,
        ("count", Read) if rest.is_empty() && path.starts_with("leases/") => {
            super::irrevocable::count(ctx).await
        }
        ("lookup" | "renew" | "revoke" | "revoke-prefix" | "revoke-force" | "tidy", _) => {
            Err(ApiError::UnsupportedOperation)
        }
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}

/// Leases counted by `sys/nhi/lease-count/PREFIX` before it says "more".
const COUNT_CAP: usize = 1_000_000;

/// `sys/nhi/lease-count/PREFIX` (ours): how many leases a revoke-prefix of
/// PREFIX would revoke, for a preview before doing it.
pub(super) async fn count_under(ctx: &Ctx<'_>, prefix: &str) -> Result<Response, ApiError> {
    let count = ctx.active.leases.count_prefix(prefix, COUNT_CAP).await?;
    Ok(Response::json(json!({
        "prefix": prefix,
        "count": count,
        "capped": count >= COUNT_CAP,
    })))
}

/// `sys/nhi/jobs/ID`: a background revocation's progress.
pub(super) fn job(ctx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    let job = ctx.active.leases.job(id).ok_or(ApiError::NotFound)?;
    Ok(Response::json(
        serde_json::to_value(job).unwrap_or_default(),
    ))
}
