//! A role as an identity: what its configuration lets it reach, and the
//! risks it shows by kind (a database role whose connection is gone, a
//! static user not rotated in time, an AWS role allowing `*` actions, an
//! auth role with broad policies or secret IDs bound to no network).

use super::context::Context;
use super::risk::{scored_identity, Record};
use super::Identity;
use crate::error::ApiError;
use crate::logical::MountEntry;
use crate::nhi::paths::{self, APPROLE, AWS_ROLE, DB_ROLE, JWT_ROLE, STATIC_DB_USER};
use serde_json::{Map, Value};

/// The plugin rotates static users from a 30 s periodic task: allow for it.
const ROTATION_SLACK: i64 = 30;
/// Lease counts stop here (a role with a million leases is not re-counted
/// on every listing).
const COUNT_LEASES_UP_TO: usize = 10_000;

/// What a role's configuration says of it.
#[derive(Default)]
struct RoleFacts {
    permissions: Vec<String>,
    reasons: Vec<(u32, String)>,
    orphaned: bool,
}

/// The identity of the role `name` in the collection `list` of a mount.
pub(super) async fn role_identity(
    ctx: &mut Context<'_>,
    mount: &MountEntry,
    list: &str,
    kind: &'static str,
    name: &str,
    config: &Map<String, Value>,
) -> Result<Identity, ApiError> {
    let id = format!("{}{list}{name}", mount.path);
    let meta = ctx.src.nhi.meta(&id).await?.unwrap_or_default();
    let facts = match kind {
        DB_ROLE => db_role_facts(ctx, mount, config).await?,
        STATIC_DB_USER => static_user_facts(ctx, config),
        AWS_ROLE => aws_role_facts(ctx, config),
        APPROLE | JWT_ROLE => auth_role_facts(ctx, &id, kind, config).await?,
        _ => RoleFacts::default(),
    };
    let active_leases = count_role_leases(ctx, &id, kind).await?;
    let last_used = ctx.src.nhi.last_used(&id).await?;
    let created = (meta.created > 0).then_some(meta.created);
    scored_identity(
        ctx,
        Record {
            id,
            kind,
            name: name.to_string(),
            mount: mount.path.clone(),
            meta,
            created,
            last_used,
            permissions: facts.permissions,
            active_leases,
            expire: None,
            reasons: facts.reasons,
            orphaned: facts.orphaned,
        },
    )
    .await
}

/// A database role reaches what its creation statements grant; it is
/// orphaned when its connection (`db_name`) is gone.
async fn db_role_facts(
    ctx: &Context<'_>,
    mount: &MountEntry,
    config: &Map<String, Value>,
) -> Result<RoleFacts, ApiError> {
    let mut facts = RoleFacts {
        permissions: strings(config, "creation_statements")
            .into_iter()
            .filter(|s| s.to_uppercase().contains("GRANT"))
            .collect(),
        ..RoleFacts::default()
    };
    if facts.permissions.is_empty() {
        facts.permissions.push("login only".into());
    }
    let db = config
        .get("db_name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if ctx
        .src
        .backends
        .read(mount, &format!("config/{db}"))
        .await?
        .is_none()
    {
        facts.orphaned = true;
        facts.reasons.push((
            ctx.weights.backend_gone,
            format!("its database connection {db:?} is gone"),
        ));
    }
    Ok(facts)
}

/// A static user reaches its user's password; risky when not rotated
/// within its period.
fn static_user_facts(ctx: &Context<'_>, config: &Map<String, Value>) -> RoleFacts {
    let mut facts = RoleFacts::default();
    let user = config
        .get("username")
        .and_then(Value::as_str)
        .unwrap_or_default();
    facts
        .permissions
        .push(format!("the password of existing user {user:?}"));
    let period = config
        .get("rotation_period")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let last = config
        .get("last_vault_rotation")
        .and_then(Value::as_str)
        .and_then(parse_time);
    if let Some(last) = last.filter(|_| period > 0) {
        if ctx.now > last.saturating_add(period).saturating_add(ROTATION_SLACK) {
            facts.reasons.push((
                ctx.weights.rotation_overdue,
                format!(
                    "not rotated for {} s (period {period} s)",
                    ctx.now.saturating_sub(last)
                ),
            ));
        }
    }
    facts
}

/// An AWS role reaches the roles it assumes and its policies; risky when
/// its inline policy allows `*` actions.
fn aws_role_facts(ctx: &Context<'_>, config: &Map<String, Value>) -> RoleFacts {
    let mut facts = RoleFacts::default();
    facts.permissions.extend(
        strings(config, "role_arns")
            .into_iter()
            .map(|a| format!("assume {a}")),
    );
    facts.permissions.extend(
        strings(config, "policy_arns")
            .into_iter()
            .map(|a| format!("policy {a}")),
    );
    let document = config
        .get("policy_document")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !document.is_empty() {
        facts.permissions.push(format!("inline policy: {document}"));
    }
    let compact: String = document.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("\"Action\":\"*\"")
        || compact.contains("\"*\"]")
        || compact.contains("[\"*\"")
    {
        facts.reasons.push((
            ctx.weights.aws_wildcard,
            "its policy allows \"*\" actions".into(),
        ));
    }
    facts
}

/// An AppRole or JWT role reaches what its token policies allow; risky
/// when they are broad or allow unused writes, and (AppRole) when its
/// secret IDs work from any network.
async fn auth_role_facts(
    ctx: &mut Context<'_>,
    id: &str,
    kind: &str,
    config: &Map<String, Value>,
) -> Result<RoleFacts, ApiError> {
    let (permissions, broad) = ctx
        .policy_permissions(&strings(config, "token_policies"))
        .await?;
    let mut reasons = Vec::new();
    if let Some(broad) = broad {
        reasons.push((ctx.weights.broad_policy, broad));
    }
    reasons.extend(ctx.unused_writes(id, &permissions));
    let unbound = config.get("bind_secret_id").and_then(Value::as_bool) == Some(true)
        && strings(config, "secret_id_bound_cidrs").is_empty()
        && strings(config, "token_bound_cidrs").is_empty();
    if kind == APPROLE && unbound {
        reasons.push((
            ctx.weights.unbound_secret_ids,
            "its secret IDs work from any network (no CIDR bounds)".into(),
        ));
    }
    Ok(RoleFacts {
        permissions,
        reasons,
        orphaned: false,
    })
}

/// The role's active leases, counted up to `COUNT_LEASES_UP_TO` per prefix.
async fn count_role_leases(ctx: &Context<'_>, id: &str, kind: &str) -> Result<usize, ApiError> {
    let mut active_leases: usize = 0;
    for prefix in paths::lease_prefixes(id, kind) {
        let count = ctx
            .src
            .leases
            .count_with_prefix(&prefix, COUNT_LEASES_UP_TO)
            .await?;
        active_leases = count.saturating_add(active_leases);
    }
    Ok(active_leases)
}

/// A config field holding a list of strings (or one non-empty string).
fn strings(config: &Map<String, Value>, field: &str) -> Vec<String> {
    match config.get(field) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// Unix seconds of an RFC 3339 time.
fn parse_time(text: &str) -> Option<i64> {
    humantime::parse_rfc3339(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}
