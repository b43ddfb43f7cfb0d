//! The `auth/token/` endpoints: create, look up, renew and revoke tokens, by
//! token, by accessor or for the caller itself; token roles. The core's own
//! backend (as OpenBao keeps its token store in the core), over the token
//! store in `auth::token`.

mod policies;
mod roles;

use crate::auth::token::auth_block;
use crate::auth::token::store::{NewToken, TokenEntry};
use crate::clock::rfc3339;
use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{
    optional_bool, optional_duration, optional_str, optional_string_map, optional_strings,
    optional_u64,
};
use crate::policy::Capabilities;
use roles::TokenRole;
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

/// Display names become `token-NAME`, limited to safe characters.
fn display_name(raw: Option<&str>) -> String {
    match raw.map(str::trim).filter(|n| !n.is_empty()) {
        None => "token".into(),
        Some(name) => {
            let clean: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '-'
                    }
                })
                .take(64)
                .collect();
            format!("token-{clean}")
        }
    }
}

pub(super) async fn handle(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    use Operation::*;
    let op = ctx.req.operation;
    let tokens = &ctx.active.tokens;
    let now = tokens.now();
    // The pipeline hands LIST paths with exactly one trailing '/' and other
    // paths with none; only that one is taken off, nothing is re-normalised.
    let path = match op {
        List => ctx.path.strip_suffix('/').unwrap_or(ctx.path),
        _ => ctx.path,
    };
    let (head, tail) = path.split_once('/').unwrap_or((path, ""));
    match (head, op) {
        ("create", Create | Update) if tail.is_empty() => create(ctx, false, None).await,
        ("create", Create | Update) => create(ctx, false, Some(tail)).await,
        ("create-orphan", Create | Update) => create(ctx, true, None).await,
        ("lookup-self", Read | Create | Update) => {
            let token = ctx.req.token.as_deref().map(String::as_str);
            Ok(Response::json(lookup_json(ctx.caller, token, now)))
        }
        ("lookup", Create | Update) => {
            let token = token_param(ctx)?;
            let entry = tokens
                .lookup(&token)
                .await?
                .ok_or_else(|| ApiError::bad("bad token"))?;
            Ok(Response::json(lookup_json(&entry, Some(&token), now)))
        }
        ("lookup-accessor", Create | Update) => {
            let entry = tokens
                .lookup_accessor(&accessor_param(ctx)?)
                .await?
                .ok_or_else(|| ApiError::bad("invalid accessor"))?;
            Ok(Response::json(lookup_json(&entry, None, now)))
        }
        ("renew-self", Create | Update) => {
            let token = ctx.req.token.as_deref().map(String::as_str).unwrap_or("");
            renew(ctx, ctx.caller, token).await
        }
        ("renew", Create | Update) => {
            let token = token_param(ctx)?;
            let entry = tokens
                .lookup(&token)
                .await?
                .ok_or_else(|| ApiError::bad("bad token"))?;
            renew(ctx, &entry, &token).await
        }
        ("renew-accessor", Create | Update) => {
            let entry = tokens
                .lookup_accessor(&accessor_param(ctx)?)
                .await?
                .ok_or_else(|| ApiError::bad("invalid accessor"))?;
            renew(ctx, &entry, "").await
        }
        ("revoke-self", Create | Update) => {
            ctx.active.leases.revoke_token(&ctx.caller.id_hash).await?;
            Ok(Response::empty())
        }
        ("revoke", Create | Update) => {
            if let Some(entry) = tokens.lookup(&token_param(ctx)?).await? {
                ctx.active.leases.revoke_token(&entry.id_hash).await?;
            }
            Ok(Response::empty())
        }
        ("revoke-accessor", Create | Update) => {
            if let Some(entry) = tokens.lookup_accessor(&accessor_param(ctx)?).await? {
                ctx.active.leases.revoke_token(&entry.id_hash).await?;
            }
            Ok(Response::empty())
        }
        ("revoke-orphan", Create | Update) => {
            if let Some(entry) = tokens.lookup(&token_param(ctx)?).await? {
                ctx.active
                    .leases
                    .revoke_token_orphan(&entry.id_hash)
                    .await?;
            }
            Ok(Response::empty())
        }
        ("accessors", List) => Response::keys(tokens.accessors().await?),
        ("roles", List) if tail.is_empty() => Response::keys(roles::list(ctx).await?),
        ("roles", Read) if !tail.is_empty() => {
            let role = roles::get(ctx, tail).await?.ok_or(ApiError::NotFound)?;
            Ok(Response::json(role.to_json()))
        }
        ("roles", Create | Update) if !tail.is_empty() => roles::write(ctx, tail).await,
        ("roles", Delete) if !tail.is_empty() => roles::delete(ctx, tail).await,
        (
            "create" | "create-orphan" | "lookup-self" | "lookup" | "lookup-accessor"
            | "renew-self" | "renew" | "renew-accessor" | "revoke-self" | "revoke"
            | "revoke-accessor" | "revoke-orphan" | "accessors" | "roles",
            _,
        ) => Err(ApiError::UnsupportedOperation),
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"auth/token/{path}\". route entry not found."
        ))),
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

/// The lesser of two durations where 0 means unset.
fn lesser_set(a: i64, b: i64) -> i64 {
    match (a, b) {
        (0, other) | (other, 0) => other,
        (a, b) => a.min(b),
    }
}

async fn create(
    ctx: &Ctx<'_>,
    orphan_path: bool,
    role_name: Option<&str>,
) -> Result<Response, ApiError> {
    let data = &ctx.req.data;
    let parent = ctx.caller;
    // A limited-use token would escape its count through an unlimited child
    // (or orphan). `num_uses` here is the count before this request's use.
    if parent.num_uses != 0 {
        return Err(ApiError::bad(
            "restricted use token cannot generate child tokens",
        ));
    }
    let privileged = parent.is_root() || ctx.acl.allows(&ctx.req.path, Capabilities::SUDO);
    let role: Option<TokenRole> = match role_name {
        Some(name) => Some(
            roles::get(ctx, name)
                .await?
                .ok_or_else(|| ApiError::bad(format!("unknown role {name:?}")))?,
        ),
        None => None,
    };
    if let Some(kind) = optional_str(data, "type")? {
        if kind != "service" && kind != "default" && !kind.is_empty() {
            return Err(ApiError::bad(format!(
                "type: {kind:?} tokens are not supported; use \"service\""
            )));
        }
    }
    let id = optional_str(data, "id")?
        .filter(|i| !i.is_empty())
        .map(String::from);
    if id.is_some() && !parent.is_root() {
        return Err(ApiError::bad(
            "root or sudo privileges required to specify token id",
        ));
    }
    // With a role, the role decides whether the token is an orphan.
    let no_parent = role.is_none() && optional_bool(data, "no_parent")?.unwrap_or(false);
    if no_parent && !privileged {
        return Err(ApiError::bad(
            "root or sudo privileges required to create orphan token",
        ));
    }
    let orphan = orphan_path || no_parent || role.as_ref().is_some_and(|r| r.orphan);

    let requested = optional_strings(data, "policies")?.unwrap_or_default();
    let policies = policies::decide(&policies::PolicyRequest {
        requested: &requested,
        no_default_policy: optional_bool(data, "no_default_policy")?.unwrap_or(false),
        parent: &parent.policies,
        parent_is_root: parent.is_root(),
        sudo: privileged,
        role: role.as_ref(),
    })?;

    let system_max = effective_max_ttl(ctx);
    let mut warnings = Vec::new();
    let mut ttl = optional_duration(data, "ttl")?
        .or(optional_duration(data, "lease")?)
        .filter(|t| *t > 0)
        .unwrap_or(match ctx.mount.config.default_lease_ttl {
            0 => ctx.core.settings.default_lease_ttl,
            mount => mount,
        });
    let requested_period = optional_duration(data, "period")?.unwrap_or(0);
    if requested_period > 0 && !privileged {
        return Err(ApiError::bad(
            "root or sudo privileges required to create periodic token",
        ));
    }
    // Set both in the request and in the role, the lesser holds; none is
    // longer than the mount's (and the system's) max TTL.
    let mut explicit_max_ttl = lesser_set(
        optional_duration(data, "explicit_max_ttl")?.unwrap_or(0),
        role.as_ref().map_or(0, |r| r.token_explicit_max_ttl),
    );
    if explicit_max_ttl > system_max {
        explicit_max_ttl = system_max;
        warnings.push(format!(
            "explicit_max_ttl was capped to the maximum of {system_max} seconds"
        ));
    }
    let mut period = lesser_set(
        requested_period,
        role.as_ref().map_or(0, |r| r.token_period),
    );
    if period > system_max {
        period = system_max;
        warnings.push(format!(
            "period was capped to the maximum of {system_max} seconds"
        ));
    }
    if ttl > system_max {
        ttl = system_max;
        if period == 0 {
            warnings.push(format!(
                "TTL was capped to the maximum of {system_max} seconds"
            ));
        }
    }
    if !orphan {
        if let Some(parent_left) = parent
            .expire_time
            .map(|t| t.saturating_sub(ctx.active.tokens.now()))
        {
            if ttl > parent_left {
                ttl = parent_left.max(1);
                warnings.push("TTL was capped to the parent token's remaining TTL".into());
            }
        }
    }
    let num_uses = optional_u64(data, "num_uses")?.unwrap_or(0);
    // A role that says not renewable cannot be overridden by the caller.
    let renewable = optional_bool(data, "renewable")?.unwrap_or(true)
        && role.as_ref().is_none_or(|r| r.renewable);
    let meta = optional_string_map(data, "meta")?.unwrap_or_default();

    let spec = NewToken {
        parent_hash: (!orphan).then(|| parent.id_hash.clone()),
        policies,
        meta,
        display_name: display_name(optional_str(data, "display_name")?),
        num_uses: i64::try_from(num_uses).map_err(|_| ApiError::bad("num_uses: too large"))?,
        ttl,
        explicit_max_ttl,
        period,
        renewable,
        path: match role_name {
            Some(name) => format!("auth/token/create/{name}"),
            None if orphan_path => "auth/token/create-orphan".into(),
            None => "auth/token/create".into(),
        },
        role: role_name.map(String::from),
        id,
        bound_cidrs: Vec::new(),
    };
    let (token, entry) = ctx.active.tokens.create(spec).await?;
    ctx.active.leases.track_token(&entry).await?;
    tracing::info!(accessor = %entry.accessor, policies = ?entry.policies, "token created");
    Ok(Response {
        // The TTL as issued, not less a second that ticked since.
        auth: Some(auth_block(&token, &entry, entry.creation_time)),
        warnings,
        ..Response::default()
    })
}
