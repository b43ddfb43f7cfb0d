//! The `auth/token/` endpoints: create, look up, renew and revoke tokens, by
//! token, by accessor or for the caller itself; token roles. The core's own
//! backend (as OpenBao keeps its token store in the core), over the token
//! store in `auth::token`.

mod create;
mod policies;
mod roles;

use crate::auth::token::auth_block;
use crate::auth::token::store::TokenEntry;
use crate::clock::rfc3339;
use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_duration, optional_str};
use serde_json::{json, Value};

/// The `data` of a lookup. The token itself is shown only to whoever
/// presented it (`lookup`, `lookup-self`), never for an accessor lookup.
fn lookup_json(entry: &TokenEntry, token: Option<&str>, now: i64) -> Value {
    let mut data = json!({
        "accessor": entry.accessor,
        "creation_time": entry.creation_time,
        "creation_ttl": entry.creation_ttl,
        "display_name": entry.display_name,
        "entity_id": "",
        "expire_time": entry.expire_time.map(rfc3339),
        "explicit_max_ttl": entry.explicit_max_ttl,
        "id": token.unwrap_or(""),
        "issue_time": rfc3339(entry.creation_time),
        "meta": if entry.meta.is_empty() { Value::Null } else { json!(entry.meta) },
        "num_uses": entry.num_uses,
        "orphan": entry.parent_hash.is_none(),
        "path": entry.path,
        "policies": entry.policies,
        "renewable": entry.renewable,
        "ttl": entry.ttl_remaining(now),
        "type": "service",
    });
    if entry.period > 0 {
        data.as_object_mut()
            .map(|d| d.insert("period".into(), json!(entry.period)));
    }
    if let Some(role) = &entry.role {
        data.as_object_mut()
            .map(|d| d.insert("role".into(), json!(role)));
    }
    data
}

fn token_param(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    optional_str(&ctx.req.data, "token")?
        .filter(|t| !t.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad("token: required"))
}

fn accessor_param(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    optional_str(&ctx.req.data, "accessor")?
        .filter(|a| !a.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad("accessor: required"))
}

/// Serves a request below `auth/token/`, by its first path segment.
pub(super) async fn handle(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    // The pipeline hands LIST paths with exactly one trailing '/' and other
    // paths with none; only that one is taken off, nothing is re-normalised.
    let path = match ctx.req.operation {
        Operation::List => ctx.path.strip_suffix('/').unwrap_or(ctx.path),
        _ => ctx.path,
    };
    let (head, tail) = path.split_once('/').unwrap_or((path, ""));
    match head {
        "create" | "create-orphan" => create_route(ctx, head, tail).await,
        "lookup-self" | "lookup" | "lookup-accessor" => lookup_route(ctx, head).await,
        "renew-self" | "renew" | "renew-accessor" => renew_route(ctx, head).await,
        "revoke-self" | "revoke" | "revoke-accessor" | "revoke-orphan" => {
            revoke_route(ctx, head).await
        }
        "accessors" => match ctx.req.operation {
            Operation::List => Response::keys(ctx.active.tokens.accessors().await?),
            _ => Err(ApiError::UnsupportedOperation),
        },
        "roles" => roles_route(ctx, tail).await,
        "tidy" if is_write(ctx) && tail.is_empty() => {
            let removed = ctx.active.tokens.tidy().await?;
            tracing::info!(removed, "token tidy done");
            // Vault answers 202 and tidies in the background; done here
            // already, so the answer says what went.
            let mut response = Response::json(serde_json::json!({ "removed_entries": removed }));
            response.warnings.push(format!(
                "Tidy operation finished: {removed} index entries without their token removed."
            ));
            Ok(response.with_status(202))
        }
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"auth/token/{path}\". route entry not found."
        ))),
    }
}

/// Whether the request writes (`create`/`update`), as the token verbs want.
fn is_write(ctx: &Ctx<'_>) -> bool {
    matches!(ctx.req.operation, Operation::Create | Operation::Update)
}

/// `create`, `create/ROLE` and `create-orphan`.
async fn create_route(ctx: &Ctx<'_>, head: &str, tail: &str) -> Result<Response, ApiError> {
    if !is_write(ctx) {
        return Err(ApiError::UnsupportedOperation);
    }
    match head {
        "create-orphan" => create::create(ctx, true, None).await,
        _ if tail.is_empty() => create::create(ctx, false, None).await,
        _ => create::create(ctx, false, Some(tail)).await,
    }
}

/// The entry of the `token` parameter, with the token itself.
async fn entry_of_token_param(ctx: &Ctx<'_>) -> Result<(String, TokenEntry), ApiError> {
    let token = token_param(ctx)?;
    let entry = ctx
        .active
        .tokens
        .lookup(&token)
        .await?
        .ok_or_else(|| ApiError::bad("bad token"))?;
    Ok((token, entry))
}

/// The entry of the `accessor` parameter.
async fn entry_of_accessor_param(ctx: &Ctx<'_>) -> Result<TokenEntry, ApiError> {
    ctx.active
        .tokens
        .lookup_accessor(&accessor_param(ctx)?)
        .await?
        .ok_or_else(|| ApiError::bad("invalid accessor"))
}

/// `lookup-self`, `lookup` and `lookup-accessor`.
async fn lookup_route(ctx: &Ctx<'_>, head: &str) -> Result<Response, ApiError> {
    let now = ctx.active.tokens.now();
    match head {
        "lookup-self" if is_write(ctx) || ctx.req.operation == Operation::Read => {
            let token = ctx.req.token.as_deref().map(String::as_str);
            Ok(Response::json(lookup_json(ctx.caller, token, now)))
        }
        "lookup" if is_write(ctx) => {
            let (token, entry) = entry_of_token_param(ctx).await?;
            Ok(Response::json(lookup_json(&entry, Some(&token), now)))
        }
        "lookup-accessor" if is_write(ctx) => {
            let entry = entry_of_accessor_param(ctx).await?;
            Ok(Response::json(lookup_json(&entry, None, now)))
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}

/// `renew-self`, `renew` and `renew-accessor`.
async fn renew_route(ctx: &Ctx<'_>, head: &str) -> Result<Response, ApiError> {
    if !is_write(ctx) {
        return Err(ApiError::UnsupportedOperation);
    }
    match head {
        "renew-self" => {
            let token = ctx.req.token.as_deref().map(String::as_str).unwrap_or("");
            renew(ctx, ctx.caller, token).await
        }
        "renew" => {
            let (token, entry) = entry_of_token_param(ctx).await?;
            renew(ctx, &entry, &token).await
        }
        _ => {
            let entry = entry_of_accessor_param(ctx).await?;
            renew(ctx, &entry, "").await
        }
    }
}

/// `revoke-self`, `revoke`, `revoke-accessor` and `revoke-orphan`. A token
/// that is not there is revoked already.
async fn revoke_route(ctx: &Ctx<'_>, head: &str) -> Result<Response, ApiError> {
    if !is_write(ctx) {
        return Err(ApiError::UnsupportedOperation);
    }
    let tokens = &ctx.active.tokens;
    match head {
        "revoke-self" => {
            ctx.active.leases.revoke_token(&ctx.caller.id_hash).await?;
        }
        "revoke" => {
            if let Some(entry) = tokens.lookup(&token_param(ctx)?).await? {
                ctx.active.leases.revoke_token(&entry.id_hash).await?;
            }
        }
        "revoke-accessor" => {
            if let Some(entry) = tokens.lookup_accessor(&accessor_param(ctx)?).await? {
                ctx.active.leases.revoke_token(&entry.id_hash).await?;
            }
        }
        _ => {
            if let Some(entry) = tokens.lookup(&token_param(ctx)?).await? {
                ctx.active
                    .leases
                    .revoke_token_orphan(&entry.id_hash)
                    .await?;
            }
        }
    }
    Ok(Response::empty())
}

/// `roles/` (list) and `roles/NAME` (read, write, delete).
async fn roles_route(ctx: &Ctx<'_>, name: &str) -> Result<Response, ApiError> {
    match ctx.req.operation {
        Operation::List if name.is_empty() => Response::keys(roles::list(ctx).await?),
        Operation::Read if !name.is_empty() => {
            let role = roles::get(ctx, name).await?.ok_or(ApiError::NotFound)?;
            Ok(Response::json(role.to_json()))
        }
        Operation::Create | Operation::Update if !name.is_empty() => roles::write(ctx, name).await,
        Operation::Delete if !name.is_empty() => roles::delete(ctx, name).await,
        _ => Err(ApiError::UnsupportedOperation),
    }
}

async fn renew(ctx: &Ctx<'_>, entry: &TokenEntry, token: &str) -> Result<Response, ApiError> {
    let increment = optional_duration(&ctx.req.data, "increment")?;
    let mut max_ttl = effective_max_ttl(ctx);
    // A login token is bounded by its auth mount's max too, as tuned now.
    if let Some(accessor) = ctx.active.tokens.login_mount_of(entry).await? {
        let mounts = ctx.active.mounts.snapshot();
        if let Some(mounted) = mounts.iter().find(|m| m.entry.accessor == accessor) {
            let (_, mount_max) = crate::lease::mount_ttls(&mounted.entry.config, ctx.core.limits());
            max_ttl = max_ttl.min(mount_max);
        }
    }
    let renewed = ctx.active.tokens.renew(entry, increment, max_ttl).await?;
    ctx.active.leases.track_token(&renewed).await?;
    let now = ctx.active.tokens.now();
    let mut response = Response {
        auth: Some(auth_block(token, &renewed, now)),
        ..Response::default()
    };
    if let Some(increment) = increment.filter(|i| *i > 0) {
        if renewed.ttl_remaining(now) < increment {
            response
                .warnings
                .push("TTL of the token was capped by its maximum TTL".into());
        }
    }
    Ok(response)
}

/// The longest any token of this mount may live in one go: the mount's max
/// TTL, never more than the system's.
fn effective_max_ttl(ctx: &Ctx<'_>) -> i64 {
    let system = ctx.core.settings.max_lease_ttl;
    match ctx.mount.config.max_lease_ttl {
        0 => system,
        mount if system > 0 => mount.min(system),
        mount => mount,
    }
}
