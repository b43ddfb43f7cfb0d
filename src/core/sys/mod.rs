//! The `sys/` backend: seal lifecycle, mounts, policies, leases, audit and
//! the inventory's endpoints.
//! Served by the core itself, since it manages the core.

mod audit;
mod discover;
mod irrevocable;
mod key_ceremonies;
mod leases;
mod metrics;
mod mount_tune;
mod mounts;
mod nhi;
mod openapi;
mod password_policies;
mod policies;
mod seal;
mod snapshot;
mod storage_verify;
mod wrapping;

use crate::core::ctx::Ctx;
use crate::core::Core;
use crate::error::ApiError;
use crate::logical::{Operation, Request, Response};

/// Answers the paths that need no token (and work while sealed); `None` for
/// every other path.
pub(super) async fn unauthenticated(
    core: &Core,
    req: &Request,
) -> Option<Result<Response, ApiError>> {
    let path = req.path.strip_prefix("sys/")?;
    if let Some(answer) =
        key_ceremonies::unauthenticated(core, path, req.operation, &req.data).await
    {
        return Some(answer);
    }
    Some(match (path, req.operation) {
        ("init", Operation::Read) => seal::init_status(core).await,
        ("init", Operation::Update | Operation::Create) => seal::init(core, &req.data).await,
        ("seal-status", Operation::Read) => seal::seal_status(core).await.map(Response::raw),
        ("unseal", Operation::Update | Operation::Create) => seal::unseal(core, &req.data).await,
        ("health", Operation::Read) => seal::health(core, &req.data).await,
        ("leader", Operation::Read) => Ok(seal::leader(core)),
        ("metrics", Operation::Read) if core.settings.unauthenticated_metrics => {
            metrics::unauthenticated(core, &req.data).await
        }
        ("init" | "seal-status" | "unseal" | "health" | "leader", _) => {
            Err(ApiError::UnsupportedOperation)
        }
        _ => return None,
    })
}

/// Answers authenticated `sys/` paths.
pub(super) async fn handle(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let op = ctx.req.operation;
    let path = ctx.path;
    let first = path.split('/').next().unwrap_or("");
    match first {
        "seal" | "rotate" | "key-status" | "ha-status" | "step-down" => {
            seal::handle(ctx, path, op).await
        }
        "mounts" | "auth" => mounts::handle(ctx, path, op).await,
        "remount" => mounts::remount(ctx, path, op).await,
        "storage" if path == "storage/verify" && op == Operation::Read => {
            storage_verify::handle(ctx).await
        }
        "storage" => snapshot::handle(ctx, path, op).await,
        "generate-root-token" | "rekey" => {
            key_ceremonies::handle(ctx.core, path, op, &ctx.req.data).await
        }
        "leases" | "renew" | "revoke" | "revoke-prefix" | "revoke-force" => {
            leases::handle(ctx, path, op).await
        }
        "nhi" if path.starts_with("nhi/jobs/") && op == Operation::Read => {
            leases::job(ctx, path.trim_start_matches("nhi/jobs/"))
        }
        "nhi" if path.starts_with("nhi/lease-count") && op == Operation::Read => {
            match path.strip_prefix("nhi/lease-count") {
                Some(rest) if rest.is_empty() || rest.starts_with('/') => {
                    leases::count_under(ctx, rest.trim_start_matches('/')).await
                }
                _ => nhi::handle(ctx, path, op).await,
            }
        }
        "nhi" => nhi::handle(ctx, path, op).await,
        "discover" => discover::handle(ctx, path, op).await,
        "wrapping" => wrapping::handle(ctx, path, op).await,
        "metrics" if op == Operation::Read => metrics::handle(ctx).await,
        "audit" | "audit-hash" | "audit-chain" => audit::handle(ctx, path, op).await,
        "internal" if path.starts_with("internal/ui/mounts") => mounts::ui_mounts(ctx, path).await,
        "internal" if path == "internal/specs/openapi" && op == Operation::Read => {
            Ok(openapi::document(ctx))
        }
        "policies" if path == "policies/password" || path.starts_with("policies/password/") => {
            password_policies::handle(ctx, path, op).await
        }
        "policies" | "policy" | "capabilities" | "capabilities-self" | "capabilities-accessor" => {
            policies::handle(ctx, path, op).await
        }
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}
