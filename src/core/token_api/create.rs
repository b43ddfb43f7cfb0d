//! `auth/token/create`, `create/ROLE` and `create-orphan`: who may create
//! what (ids, orphans, periodic tokens), the new token's policies, its TTLs
//! as capped by the mount, the role and the parent, and the token itself.

use super::roles::{self, TokenRole};
use super::{effective_max_ttl, policies};
use crate::auth::token::auth_block;
use crate::auth::token::store::{NewToken, TokenEntry};
use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::Response;
use crate::params::{
    optional_bool, optional_duration, optional_str, optional_string_map, optional_strings,
    optional_u64,
};
use crate::policy::Capabilities;
use serde_json::{Map, Value};

/// The fields `auth/token/create[-orphan|/ROLE]` takes.
const FIELDS: &[&str] = &[
    "id",
    "policies",
    "meta",
    "no_parent",
    "no_default_policy",
    "renewable",
    "lease",
    "ttl",
    "type",
    "explicit_max_ttl",
    "display_name",
    "num_uses",
    "period",
];

/// Creates a token, a child of the caller unless it is an orphan (by the
/// `create-orphan` path, `no_parent`, or the role).
pub(super) async fn create(
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
    let role = match role_name {
        Some(name) => Some(
            roles::get(ctx, name)
                .await?
                .ok_or_else(|| ApiError::bad(format!("unknown role {name:?}")))?,
        ),
        None => None,
    };
    check_token_type(data)?;
    let id = requested_id(data, parent)?;
    let orphan = is_orphan(data, orphan_path, role.as_ref(), privileged)?;
    let requested = optional_strings(data, "policies")?.unwrap_or_default();
    let policies = policies::decide(&policies::PolicyRequest {
        requested: &requested,
        no_default_policy: optional_bool(data, "no_default_policy")?.unwrap_or(false),
        parent: &parent.policies,
        parent_is_root: parent.is_root(),
        sudo: privileged,
        role: role.as_ref(),
    })?;
    let mut warnings: Vec<String> = crate::params::unrecognized(data, FIELDS)
        .into_iter()
        .collect();
    let lifetimes = lifetimes(ctx, role.as_ref(), privileged, &mut warnings)?;
    let ttl = if orphan {
        lifetimes.ttl
    } else {
        cap_to_parent(ctx, parent, lifetimes.ttl, &mut warnings)
    };
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
        explicit_max_ttl: lifetimes.explicit_max_ttl,
        period: lifetimes.period,
        renewable,
        path: creation_path(orphan_path, role_name),
        role: role_name.map(String::from),
        id,
        // A role's bounds, as Vault's token roles apply them.
        bound_cidrs: role
            .as_ref()
            .map(|r| r.token_bound_cidrs.clone())
            .unwrap_or_default(),
    };
    issue(ctx, spec, warnings).await
}

/// Only service tokens are made (`default` and empty mean service).
fn check_token_type(data: &Map<String, Value>) -> Result<(), ApiError> {
    if let Some(kind) = optional_str(data, "type")? {
        if kind != "service" && kind != "default" && !kind.is_empty() {
            return Err(ApiError::bad(format!(
                "type: {kind:?} tokens are not supported; use \"service\""
            )));
        }
    }
    Ok(())
}

/// The token id asked for, which only root may choose.
fn requested_id(
    data: &Map<String, Value>,
    parent: &TokenEntry,
) -> Result<Option<String>, ApiError> {
    let id = optional_str(data, "id")?
        .filter(|i| !i.is_empty())
        .map(String::from);
    if id.is_some() && !parent.is_root() {
        return Err(ApiError::bad(
            "root or sudo privileges required to specify token id",
        ));
    }
    Ok(id)
}

/// Whether the new token has no parent; only the privileged may ask for
/// that with `no_parent`.
fn is_orphan(
    data: &Map<String, Value>,
    orphan_path: bool,
    role: Option<&TokenRole>,
    privileged: bool,
) -> Result<bool, ApiError> {
    // With a role, the role decides whether the token is an orphan.
    let no_parent = role.is_none() && optional_bool(data, "no_parent")?.unwrap_or(false);
    if no_parent && !privileged {
        return Err(ApiError::bad(
            "root or sudo privileges required to create orphan token",
        ));
    }
    Ok(orphan_path || no_parent || role.is_some_and(|r| r.orphan))
}

/// A new token's TTLs in seconds (0: unset), as capped by the mount.
struct Lifetimes {
    ttl: i64,
    explicit_max_ttl: i64,
    period: i64,
}

/// The TTL, explicit max TTL and period asked for (with the role's), none
/// longer than the mount's (and the system's) max TTL; each cap warns.
fn lifetimes(
    ctx: &Ctx<'_>,
    role: Option<&TokenRole>,
    privileged: bool,
    warnings: &mut Vec<String>,
) -> Result<Lifetimes, ApiError> {
    let data = &ctx.req.data;
    let system_max = effective_max_ttl(ctx);
    let ttl = optional_duration(data, "ttl")?
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
    // Set both in the request and in the role, the lesser holds.
    let explicit_max_ttl = lesser_set(
        optional_duration(data, "explicit_max_ttl")?.unwrap_or(0),
        role.map_or(0, |r| r.token_explicit_max_ttl),
    );
    let explicit_max_ttl = capped(explicit_max_ttl, system_max, "explicit_max_ttl", warnings);
    let period = lesser_set(requested_period, role.map_or(0, |r| r.token_period));
    let period = capped(period, system_max, "period", warnings);
    let ttl = if ttl > system_max {
        // A periodic token's TTL is its period; the cap on it goes unsaid.
        if period == 0 {
            warnings.push(format!(
                "TTL was capped to the maximum of {system_max} seconds"
            ));
        }
        system_max
    } else {
        ttl
    };
    Ok(Lifetimes {
        ttl,
        explicit_max_ttl,
        period,
    })
}

/// `value`, or `max` if it is longer, with a warning naming `what`.
fn capped(value: i64, max: i64, what: &str, warnings: &mut Vec<String>) -> i64 {
    if value > max {
        warnings.push(format!("{what} was capped to the maximum of {max} seconds"));
        max
    } else {
        value
    }
}

/// A child outlives its parent by no more than a second (the least TTL).
fn cap_to_parent(ctx: &Ctx<'_>, parent: &TokenEntry, ttl: i64, warnings: &mut Vec<String>) -> i64 {
    let parent_left = parent
        .expire_time
        .map(|t| t.saturating_sub(ctx.active.tokens.now()));
    match parent_left {
        Some(parent_left) if ttl > parent_left => {
            warnings.push("TTL was capped to the parent token's remaining TTL".into());
            parent_left.max(1)
        }
        _ => ttl,
    }
}

/// The lesser of two durations where 0 means unset.
fn lesser_set(a: i64, b: i64) -> i64 {
    match (a, b) {
        (0, other) | (other, 0) => other,
        (a, b) => a.min(b),
    }
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

/// The path the token records it was created through.
fn creation_path(orphan_path: bool, role_name: Option<&str>) -> String {
    match role_name {
        Some(name) => format!("auth/token/create/{name}"),
        None if orphan_path => "auth/token/create-orphan".into(),
        None => "auth/token/create".into(),
    }
}

/// Stores the token, tracks its expiry, and answers with its auth block.
async fn issue(ctx: &Ctx<'_>, spec: NewToken, warnings: Vec<String>) -> Result<Response, ApiError> {
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
