//! `sys/nhi/*` (ours): the identity inventory (`identities`, filtered,
//! sorted, paged (`offset`, `limit`; `total` when every identity was read),
//! or exported as JSON lines or CSV), one identity (`identities/ID`, with
//! its recent requests), drift alerts (`alerts`, `alerts/ID/ack`), and
//! offboarding an owner (`owners/OWNER/offboard`).

use crate::core::ctx::Ctx;
use crate::core::inventory::MountedBackends;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::nhi::inventory::{self, Identity, Scan};
use crate::nhi::paths::{self, APPROLE, JWT_ROLE, TOKEN};
use crate::params::{optional_bool, optional_duration, optional_str, optional_u64};
use serde_json::{json, Map, Value};

const PAGE: usize = 100;
const MAX_PAGE: usize = 1000;

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    use Operation::*;
    let rest = path.trim_start_matches("nhi/").trim_end_matches('/');
    match (rest, op) {
        ("identities", Read | List) => list(ctx).await,
        ("alerts", Read | List) => list_alerts(ctx),
        (path, Create | Update) if path.starts_with("alerts/") && path.ends_with("/ack") => {
            let id = path
                .strip_prefix("alerts/")
                .and_then(|rest| rest.strip_suffix("/ack"))
                .unwrap_or_default();
            acknowledge_alert(ctx, id)
        }
        ("revoke", Create | Update) => revoke_selected(ctx).await,
        ("drift/config", Read) => Ok(Response::json(json!(ctx.active.nhi.drift_config()))),
        ("drift/config", Create | Update) => {
            let data = &ctx.req.data;
            let mut config = ctx.active.nhi.drift_config();
            if let Some(n) = optional_u64(data, "learning_requests")? {
                config.learning_requests = n;
            }
            if let Some(n) = optional_u64(data, "burst_factor")? {
                config.burst_factor = n.max(1);
            }
            if let Some(mounts) = crate::params::optional_strings(data, "deny_mounts")? {
                config.deny_mounts = mounts
                    .iter()
                    .map(|m| format!("{}/", m.trim_matches('/')))
                    .collect();
            }
            if let Some(url) = optional_str(data, "webhook_url")? {
                config.webhook_url = Some(url.to_string()).filter(|u| !u.is_empty());
            }
            ctx.active.nhi.set_drift_config(config).await?;
            Ok(Response::empty())
        }
        (id, Read) if id.starts_with("identities/") => {
            let id = id.strip_prefix("identities/").unwrap_or_default();
            if id.starts_with(TOKEN_IDS) && !sees_accessors(ctx) {
                return Err(ApiError::PermissionDenied);
            }
            let scan = Scan {
                keep: &|i: &Identity| i.id == id,
                want: Some(1),
                leases: true,
                owner: None,
            };
            let (found, _) = collect(ctx, &scan).await?;
            let found = found.into_iter().next().ok_or(ApiError::NotFound)?;
            let mut answer = json!(found);
            if let Some(fields) = answer.as_object_mut() {
                let recent = ctx.active.nhi.recent.of(id);
                fields.insert("recent_requests".into(), json!(recent));
            }
            Ok(Response::json(answer))
        }
        (path, Create | Update) if path.starts_with("owners/") && path.ends_with("/offboard") => {
            let owner = path
                .strip_prefix("owners/")
                .and_then(|rest| rest.strip_suffix("/offboard"))
                .unwrap_or_default();
            offboard(ctx, owner).await
        }
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}

/// The kept drift alerts, newest last; `acknowledged=true|false` keeps
/// only those. A token workload's accessor shows only to a caller who may
/// list accessors.
fn list_alerts(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let acknowledged = optional_bool(&ctx.req.data, "acknowledged")?;
    let alerts: Vec<_> = ctx
        .active
        .nhi
        .drift
        .recent()
        .into_iter()
        .filter(|a| acknowledged.is_none_or(|want| a.acknowledged == want))
        .map(|mut a| {
            a.identity = shown_id(ctx, &a.identity);
            a
        })
        .collect();
    Ok(Response::json(json!({ "alerts": alerts })))
}

/// `alerts/ID/ack`: records who acknowledged the alert; idempotent.
fn acknowledge_alert(ctx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    if uuid::Uuid::try_parse(id).is_err() {
        return Err(ApiError::bad(format!("{id:?} is not an alert id (a UUID)")));
    }
    let by = match ctx.caller.display_name.as_str() {
        "" => "token",
        name => name,
    };
    let mut alert = ctx
        .active
        .nhi
        .drift
        .acknowledge(id, by, ctx.core.clock.now_unix())
        .ok_or(ApiError::NotFound)?;
    alert.identity = shown_id(ctx, &alert.identity);
    Ok(Response::json(json!(alert)))
}

/// The identities `scan` keeps, read from this core's stores and mounts.
async fn collect(ctx: &Ctx<'_>, scan: &Scan<'_>) -> Result<(Vec<Identity>, bool), ApiError> {
    let backends = MountedBackends::new(ctx.core, ctx.active);
    inventory::collect(&backends.sources(), scan).await
}

/// The first `want` identities `keep` keeps, walking the risk index from
/// the riskiest down, each re-scored as it is read (the caller sorts them
/// by those exact scores); the flag says whether the index was exhausted.
async fn riskiest(
    ctx: &Ctx<'_>,
    keep: &(dyn Fn(&Identity) -> bool + Sync),
    want: usize,
) -> Result<(Vec<Identity>, bool), ApiError> {
    const CHUNK: usize = 256;
    crate::core::inventory::rescore_marked(ctx.core, ctx.active).await?;
    let backends = MountedBackends::new(ctx.core, ctx.active);
    let sources = backends.sources();
    let mut found = Vec::new();
    let mut from = 0_usize;
    loop {
        let ids = ctx.active.nhi.risk.ranked_ids(from, CHUNK);
        if ids.is_empty() {
            return Ok((found, true));
        }
        from = from.saturating_add(ids.len());
        for id in ids {
            if found.len() >= want {
                return Ok((found, false));
            }
            let identity = inventory::one(&sources, &id).await?;
            ctx.active
                .nhi
                .risk
                .set(&id, identity.as_ref().map(|i| i.risk_score));
            if let Some(identity) = identity.filter(|i| keep(i)) {
                found.push(identity);
            }
        }
    }
}

/// The owner a listing may read through the owner indexes: a named one
/// (no owner at all is not indexed).
fn indexed_owner(owner: Option<&str>) -> Option<&str> {
    owner.filter(|o| !o.is_empty())
}

/// Where token identities live: their ids carry the token's accessor.
const TOKEN_IDS: &str = "auth/token/accessors/";

/// Whether the caller may see token accessors: the same capability as
/// `LIST auth/token/accessors` (list with sudo). Without it, token
/// identities are left out of listings and their ids hidden in results.
fn sees_accessors(ctx: &Ctx<'_>) -> bool {
    ctx.acl.allows(
        TOKEN_IDS,
        crate::policy::Capabilities::LIST.union(crate::policy::Capabilities::SUDO),
    )
}

/// A token identity's id as this caller may see it.
fn shown_id(ctx: &Ctx<'_>, id: &str) -> String {
    if id.starts_with(TOKEN_IDS) && !sees_accessors(ctx) {
        format!("{TOKEN_IDS}(hidden: needs sudo on {TOKEN_IDS})")
    } else {
        id.to_string()
    }
}

/// Hides token accessors in identities the caller may not see them in.
fn hide_accessors(ctx: &Ctx<'_>, identities: &mut [Identity]) {
    for identity in identities {
        identity.id = shown_id(ctx, &identity.id);
    }
}

/// Whether an identity passes the request's filters.
fn filter(ctx: &Ctx<'_>) -> Result<impl Fn(&Identity) -> bool + Sync, ApiError> {
    let data = &ctx.req.data;
    let kind = optional_str(data, "kind")?.map(String::from);
    let owner = optional_str(data, "owner")?.map(String::from);
    let mount = optional_str(data, "mount")?.map(|m| format!("{}/", m.trim_matches('/')));
    let environment = optional_str(data, "environment")?.map(String::from);
    let risk_above = optional_u64(data, "risk_above")?;
    let unused_for = optional_duration(data, "unused_for")?;
    let expires_within = optional_duration(data, "expires_within")?;
    let orphaned = optional_bool(data, "orphaned")?;
    let managed = optional_bool(data, "managed")?;
    let source = optional_str(data, "source")?.map(|s| s.trim_matches('/').to_string());
    let now = ctx.core.clock.now_unix();
    let tokens_visible = sees_accessors(ctx);
    Ok(move |i: &Identity| {
        (tokens_visible || i.identity_type != TOKEN)
            && kind.as_ref().is_none_or(|k| i.identity_type == k)
            && owner.as_ref().is_none_or(|o| &i.owner == o)
            && mount.as_ref().is_none_or(|m| &i.mount == m)
            && environment.as_ref().is_none_or(|e| &i.environment == e)
            && risk_above.is_none_or(|r| u64::from(i.risk_score) > r)
            && unused_for
                .is_none_or(|d| i.last_used_unix.is_none_or(|t| now.saturating_sub(t) >= d))
            && expires_within
                .is_none_or(|d| i.expire_unix.is_some_and(|t| t.saturating_sub(now) <= d))
            && orphaned.is_none_or(|o| i.orphaned == o)
            && managed.is_none_or(|m| i.managed == m)
            && source
                .as_ref()
                .is_none_or(|s| i.source.trim_end_matches('/') == s)
    })
}

async fn list(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let data = &ctx.req.data;
    let keep = filter(ctx)?;
    let offset = usize::try_from(optional_u64(data, "offset")?.unwrap_or(0)).unwrap_or(usize::MAX);
    let limit = usize::try_from(optional_u64(data, "limit")?.unwrap_or(PAGE as u64))
        .unwrap_or(MAX_PAGE)
        .min(MAX_PAGE);
    let sort = optional_str(data, "sort")?.unwrap_or("source");
    // In source order a page needs only the identities up to its end (and
    // one more, to say whether there are more); other orders read all.
    let want = (sort == "source").then(|| offset.saturating_add(limit).saturating_add(1));
    let leases = optional_str(data, "kind")? == Some(crate::nhi::paths::LEASE);
    let owner = indexed_owner(optional_str(data, "owner")?);
    let by_index = sort == "risk" && !leases && owner.is_none() && ctx.active.nhi.risk.ready();
    let page_end = offset.saturating_add(limit).saturating_add(1);
    let (mut found, complete) = if by_index {
        riskiest(ctx, &keep, page_end).await?
    } else {
        let scan = Scan {
            keep: &keep,
            want,
            leases,
            owner,
        };
        collect(ctx, &scan).await?
    };
    match sort {
        "source" => {}
        "id" => found.sort_by(|a, b| a.id.cmp(&b.id)),
        "risk" => found.sort_by(|a, b| b.risk_score.cmp(&a.risk_score).then(a.id.cmp(&b.id))),
        "last_accessed" => found.sort_by_key(|i| i.last_used_unix.unwrap_or(0)),
        other => {
            return Err(ApiError::bad(format!(
                "sort: {other:?} is not one of source, id, risk, last_accessed"
            )))
        }
    }
    let total = complete.then_some(found.len());
    let more = found.len() > offset.saturating_add(limit);
    let page: Vec<Identity> = found.into_iter().skip(offset).take(limit).collect();
    match optional_str(data, "format")?.unwrap_or("json") {
        "json" => Ok(Response::json(json!({
            "identities": page,
            "total": total,
            "more": more,
            "offset": offset,
            "limit": limit,
            "ranked_by_index": by_index,
        }))),
        "jsonl" => Ok(Response {
            text: Some(page.iter().map(|i| format!("{}\n", json!(i))).collect()),
            ..Response::default()
        }),
        "csv" => Ok(Response {
            text: Some(csv(&page)),
            ..Response::default()
        }),
        other => Err(ApiError::bad(format!(
            "format: {other:?} is not one of json, jsonl, csv"
        ))),
    }
}

/// A CSV field, quoted when it must be.
fn csv_quoted(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A CSV field from outside (a name, an owner: a discovered role's name is
/// anyone's), with a leading `'` when a spreadsheet would take it for a
/// formula.
fn csv_field(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        csv_quoted(&format!("'{value}"))
    } else {
        csv_quoted(value)
    }
}

/// The CSV column of the risk reasons (ours, each starting with `+`).
const REASONS_COLUMN: usize = 11;

fn csv(identities: &[Identity]) -> String {
    let mut out = String::from("id,identity_type,name,owner,purpose,environment,creation_date,last_accessed,expiration,active_leases,risk_score,risk_reasons,orphaned,disabled,managed,source\n");
    for i in identities {
        let fields = [
            i.id.clone(),
            i.identity_type.to_string(),
            i.name.clone(),
            i.owner.clone(),
            i.purpose.clone(),
            i.environment.clone(),
            i.creation_date.clone().unwrap_or_default(),
            i.last_accessed.clone().unwrap_or_default(),
            i.expiration.clone().unwrap_or_default(),
            i.active_leases.to_string(),
            i.risk_score.to_string(),
            i.risk_reasons.join("; "),
            i.orphaned.to_string(),
            i.disabled.clone().unwrap_or_default(),
            i.managed.to_string(),
            i.source.clone(),
        ];
        let line: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(n, f)| match n {
                REASONS_COLUMN => csv_quoted(f),
                _ => csv_field(f),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// Revokes an owner's tokens and leases and disables (or re-assigns) their
/// roles; with `dry_run`, only says what it would do.
async fn offboard(ctx: &Ctx<'_>, owner: &str) -> Result<Response, ApiError> {
    let data = &ctx.req.data;
    if owner.is_empty() {
        return Err(ApiError::bad("owner: required in the path"));
    }
    let dry_run = optional_bool(data, "dry_run")?.unwrap_or(false);
    let reassign_to = optional_str(data, "reassign_to")?.filter(|r| !r.is_empty());
    let (core, active) = (ctx.core, ctx.active);
    let scan = Scan {
        keep: &|i: &Identity| i.owner == owner,
        want: None,
        leases: false,
        owner: indexed_owner(Some(owner)),
    };
    let (mut owned, _) = collect(ctx, &scan).await?;
    if dry_run {
        hide_accessors(ctx, &mut owned);
        return Ok(Response::json(json!({
            "owner": owner,
            "dry_run": true,
            "identities": owned,
        })));
    }
    let now = core.clock.now_unix();
    let mut revoked_tokens = Vec::new();
    let mut revoked_leases: usize = 0;
    let mut changed_roles = Vec::new();
    let mut to_retire = Vec::new();
    for identity in &owned {
        if identity.identity_type == TOKEN {
            if revoke_token_identity(ctx, identity).await? {
                revoked_tokens.push(shown_id(ctx, &identity.id));
            }
            continue;
        }
        let mut meta = active.nhi.meta(&identity.id).await?.unwrap_or_default();
        // The broker cannot disable what it did not issue: a discovered
        // identity is handed over, or listed for retirement.
        if !identity.managed && reassign_to.is_none() {
            to_retire.push(identity.id.clone());
            continue;
        }
        match reassign_to {
            Some(new_owner) => meta.owner = new_owner.to_string(),
            None => {
                meta.disabled = Some(format!("owner {owner:?} was offboarded"));
                for prefix in paths::lease_prefixes(&identity.id, identity.identity_type) {
                    let (revoked, _) = active.leases.revoke_prefix(&prefix, false, None).await?;
                    revoked_leases = revoked_leases.saturating_add(revoked);
                }
                if matches!(identity.identity_type, APPROLE | JWT_ROLE) {
                    let revoked = revoke_login_tokens(ctx, identity).await?;
                    revoked_tokens.extend(revoked.iter().map(|id| shown_id(ctx, id)));
                }
            }
        }
        active.nhi.put_meta(&identity.id, &meta).await?;
        changed_roles.push(identity.id.clone());
    }
    active.nhi.mark_offboarded(owner, now).await?;
    tracing::info!(%owner, roles = changed_roles.len(), tokens = revoked_tokens.len(), revoked_leases, "owner offboarded");
    let mut answer = Map::new();
    answer.insert("owner".into(), owner.into());
    answer.insert("dry_run".into(), false.into());
    answer.insert(
        if reassign_to.is_some() {
            "reassigned_roles"
        } else {
            "disabled_roles"
        }
        .into(),
        json!(changed_roles),
    );
    answer.insert("revoked_tokens".into(), json!(revoked_tokens));
    answer.insert("to_retire".into(), json!(to_retire));
    answer.insert("revoked_leases".into(), json!(revoked_leases));
    if let Some(new_owner) = reassign_to {
        answer.insert("reassigned_to".into(), Value::from(new_owner));
    }
    Ok(Response::data(answer))
}

/// `sys/nhi/revoke`: revokes the tokens, and the leases of the roles, that
/// a selector matches (`owner`, `kind`, `environment`, `labels`), next to
/// revoke-prefix; roles stay enabled. With `dry_run`, only lists them.
async fn revoke_selected(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let data = &ctx.req.data;
    let owner = optional_str(data, "owner")?.map(String::from);
    let kind = optional_str(data, "kind")?.map(String::from);
    let environment = optional_str(data, "environment")?.map(String::from);
    let labels = crate::params::optional_string_map(data, "labels")?.unwrap_or_default();
    if owner.is_none() && kind.is_none() && environment.is_none() && labels.is_empty() {
        return Err(ApiError::bad(
            "a selector is required: owner, kind, environment or labels",
        ));
    }
    let keep = |i: &Identity| {
        owner.as_ref().is_none_or(|o| &i.owner == o)
            && kind.as_ref().is_none_or(|k| i.identity_type == k)
            && environment.as_ref().is_none_or(|e| &i.environment == e)
            && labels.iter().all(|(k, v)| i.labels.get(k) == Some(v))
    };
    let scan = Scan {
        keep: &keep,
        want: None,
        leases: false,
        owner: indexed_owner(owner.as_deref()),
    };
    let (mut matched, _) = collect(ctx, &scan).await?;
    if optional_bool(data, "dry_run")?.unwrap_or(false) {
        hide_accessors(ctx, &mut matched);
        return Ok(Response::json(
            json!({ "dry_run": true, "identities": matched }),
        ));
    }
    let active = ctx.active;
    let mut revoked_tokens = Vec::new();
    let mut revoked_leases: usize = 0;
    for identity in &matched {
        if identity.identity_type == TOKEN && revoke_token_identity(ctx, identity).await? {
            revoked_tokens.push(shown_id(ctx, &identity.id));
        }
        for prefix in paths::lease_prefixes(&identity.id, identity.identity_type) {
            let (revoked, _) = active.leases.revoke_prefix(&prefix, false, None).await?;
            revoked_leases = revoked_leases.saturating_add(revoked);
        }
    }
    tracing::info!(
        identities = matched.len(),
        revoked_leases,
        "revoked by selector"
    );
    Ok(Response::json(json!({
        "dry_run": false,
        "matched": matched.iter().map(|i| shown_id(ctx, &i.id)).collect::<Vec<_>>(),
        "revoked_tokens": revoked_tokens,
        "revoked_leases": revoked_leases,
    })))
}

/// Revokes a token identity; false if it was gone already.
async fn revoke_token_identity(ctx: &Ctx<'_>, identity: &Identity) -> Result<bool, ApiError> {
    let accessor = identity.id.trim_start_matches("auth/token/accessors/");
    match ctx.active.tokens.lookup_accessor(accessor).await? {
        Some(entry) => {
            ctx.active.leases.revoke_token(&entry.id_hash).await?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Revokes the tokens that logged in through an auth role.
async fn revoke_login_tokens(ctx: &Ctx<'_>, role: &Identity) -> Result<Vec<String>, ApiError> {
    let active = ctx.active;
    let login_path = format!("{}login", role.mount);
    let key = if role.identity_type == APPROLE {
        "role_name"
    } else {
        "role"
    };
    let mut revoked = Vec::new();
    for accessor in active.tokens.accessors().await.unwrap_or_default() {
        let Some(entry) = active.tokens.lookup_accessor(&accessor).await? else {
            continue;
        };
        if entry.path == login_path && entry.meta.get(key) == Some(&role.name) {
            active.leases.revoke_token(&entry.id_hash).await?;
            revoked.push(format!("auth/token/accessors/{accessor}"));
        }
    }
    Ok(revoked)
}
