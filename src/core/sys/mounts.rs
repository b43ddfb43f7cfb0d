//! `sys/mounts`, `sys/auth` (enable, disable, list, read, tune) and
//! `sys/internal/ui/mounts`, which the CLI asks before every `kv` command.
//! Tune writes (options, and the KV v1 -> v2 upgrade) are in `mount_tune`.

use crate::core::auth_mount_tokens::Sweep;
use crate::core::ctx::Ctx;
use crate::core::mounts::Mounted;
use crate::duration::field_seconds;
use crate::error::ApiError;
use crate::logical::{MountConfig, MountEntry};
use crate::logical::{Operation, Response};
use crate::params::optional_str;
use serde_json::{json, Map, Value};

/// A mount as Vault lists it.
fn mount_json(entry: &MountEntry) -> Value {
    let mut config = json!({
        "default_lease_ttl": entry.config.default_lease_ttl,
        "max_lease_ttl": entry.config.max_lease_ttl,
        "force_no_cache": false,
    });
    if entry.is_auth() {
        config
            .as_object_mut()
            .map(|c| c.insert("token_type".into(), json!("default-service")));
    }
    json!({
        "accessor": entry.accessor,
        "config": config,
        "description": entry.description,
        "external_entropy_access": false,
        "local": entry.local,
        "options": if entry.options.is_empty() { Value::Null } else { json!(entry.options) },
        "seal_wrap": entry.seal_wrap,
        "type": entry.kind,
        "uuid": entry.uuid,
        "plugin_version": "",
        "running_plugin_version": "",
        "running_sha256": "",
        "deprecation_status": "",
    })
}

/// A TTL field of a mount request: absent, empty, "system" or "0s" mean the
/// system default (0).
fn ttl_field(data: &Map<String, Value>, field: &str) -> Result<Option<i64>, ApiError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "system" => Ok(Some(0)),
        other => field_seconds(other, field).map_err(ApiError::BadRequest),
    }
}

fn normalize_mount_path(raw: &str) -> Result<String, ApiError> {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Err(ApiError::bad("missing mount path"));
    }
    Ok(format!("{trimmed}/"))
}

fn parse_config(data: &Map<String, Value>, base: &MountConfig) -> Result<MountConfig, ApiError> {
    let mut config = base.clone();
    if let Some(ttl) = ttl_field(data, "default_lease_ttl")? {
        config.default_lease_ttl = ttl;
    }
    if let Some(ttl) = ttl_field(data, "max_lease_ttl")? {
        config.max_lease_ttl = ttl;
    }
    if config.max_lease_ttl > 0 && config.default_lease_ttl > config.max_lease_ttl {
        return Err(ApiError::bad(
            "default_lease_ttl cannot be greater than max_lease_ttl",
        ));
    }
    Ok(config)
}

/// The body fields of an enable. `local`, `seal_wrap`, `external_entropy_access`
/// and the plugin fields are Vault's, taken and without effect here (no
/// replication, no seal wrapping, one build of each engine); the CLI sends them.
const ENABLE_FIELDS: &[&str] = &[
    "type",
    "description",
    "config",
    "options",
    "local",
    "seal_wrap",
    "external_entropy_access",
    "plugin_name",
    "plugin_version",
];

/// The body fields of a tune.
const TUNE_FIELDS: &[&str] = &[
    "default_lease_ttl",
    "max_lease_ttl",
    "description",
    "options",
];

async fn enable(ctx: &Ctx<'_>, full_path: String, auth: bool) -> Result<Response, ApiError> {
    let data = &ctx.req.data;
    let requested = optional_str(data, "type")?
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad("type: required (for example \"kv\")"))?;
    // `kv-v1` and `kv-v2` are shorthand for `kv` with that version.
    let kind = if matches!(requested, "kv-v1" | "kv-v2") {
        "kv"
    } else {
        requested
    }
    .to_string();
    if ["sys/", "auth/", "cubbyhole/", "identity/"]
        .iter()
        .any(|r| full_path == *r)
        || (!auth && full_path.starts_with("auth/"))
    {
        return Err(ApiError::bad(format!(
            "cannot mount at reserved path {full_path:?}"
        )));
    }
    if ["system", "token", "cubbyhole"].contains(&kind.as_str()) {
        return Err(ApiError::bad(format!(
            "type {kind:?} is built in and mounted once, at its own path"
        )));
    }
    let description = optional_str(data, "description")?.unwrap_or("").to_string();
    let mut entry = MountEntry::new(&full_path, &kind, &description);
    if let Some(Value::Object(config)) = data.get("config") {
        entry.config = parse_config(config, &entry.config)?;
    }
    match data.get("options") {
        Some(Value::Object(options)) => {
            for (key, value) in options {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                entry.options.insert(key.clone(), text);
            }
        }
        None | Some(Value::Null) => {}
        Some(_) => return Err(ApiError::bad("options: expected an object")),
    }
    if let Some(version) = requested.strip_prefix("kv-v") {
        entry.options.insert("version".into(), version.into());
    }
    if kind == "kv" {
        // Vault's default for `kv` is version 1; the listing says so, so
        // clients (the CLI's preflight) pick the v1 paths.
        let version = entry.options.entry("version".into()).or_default();
        if version.is_empty() {
            *version = "1".into();
        }
        crate::engines::kv_version(&entry)?;
    }
    ctx.active.mounts.mount(entry).await?;
    tracing::info!(path = %full_path, kind = %kind, "mount enabled");
    Ok(Response::empty().warn(crate::params::unrecognized(data, ENABLE_FIELDS)))
}

fn list(ctx: &Ctx<'_>, auth: bool) -> Response {
    let mut listing = Map::new();
    for mounted in ctx.active.mounts.snapshot().iter() {
        if mounted.entry.is_auth() != auth {
            continue;
        }
        let key = if auth {
            mounted.entry.path.trim_start_matches("auth/").to_string()
        } else {
            mounted.entry.path.clone()
        };
        listing.insert(key, mount_json(&mounted.entry));
    }
    Response::data(listing)
}

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    let (table, rest) = path.split_once('/').unwrap_or((path, ""));
    let auth = table == "auth";
    if rest.is_empty() {
        return match op {
            Operation::Read => Ok(list(ctx, auth)),
            _ => Err(ApiError::UnsupportedOperation),
        };
    }
    let (mount_part, tune) = match rest.trim_end_matches('/').strip_suffix("/tune") {
        Some(mount_part) => (mount_part, true),
        None => (rest, false),
    };
    let mut full_path = normalize_mount_path(mount_part)?;
    if auth {
        full_path = format!("auth/{full_path}");
    }
    let existing = ctx.active.mounts.get(&full_path);
    let not_found = || ApiError::bad(format!("no mount at {full_path:?}"));
    match (tune, op) {
        (false, Operation::Create | Operation::Update) => {
            enable(ctx, full_path.clone(), auth).await
        }
        (false, Operation::Delete) => {
            if let Some(mounted) = &existing {
                if mounted.backend.is_builtin() {
                    // Before any revocation: the prefix would cover every token.
                    return Err(ApiError::bad(format!("cannot unmount {full_path:?}")));
                }
                ctx.core
                    .revoke_auth_mount_tokens(ctx.active, &mounted.entry, Sweep::Full)
                    .await?;
            }
            let (_, failed) = ctx
                .active
                .leases
                .revoke_prefix(&full_path, false, None)
                .await?;
            if failed > 0 {
                return Err(ApiError::BadGateway(format!(
                    "{failed} leases of {full_path} could not be revoked; the mount stays until they are (or revoke-force them)"
                )));
            }
            ctx.active.mounts.unmount(&full_path).await?;
            if let Some(mounted) = &existing {
                // Logins that were under way when the first pass ran.
                ctx.core
                    .revoke_auth_mount_tokens(ctx.active, &mounted.entry, Sweep::Recorded)
                    .await?;
            }
            tracing::info!(path = %full_path, "mount disabled");
            Ok(Response::empty())
        }
        (false, Operation::Read) => {
            let mounted: Mounted = existing.ok_or_else(not_found)?;
            Ok(Response::json(mount_json(&mounted.entry)))
        }
        (true, Operation::Read) => {
            let mounted = existing.ok_or_else(not_found)?;
            let entry = &mounted.entry;
            let effective = |v: i64, system: i64| if v > 0 { v } else { system };
            Ok(Response::json(json!({
                "default_lease_ttl": effective(entry.config.default_lease_ttl, ctx.core.settings.default_lease_ttl),
                "max_lease_ttl": effective(entry.config.max_lease_ttl, ctx.core.settings.max_lease_ttl),
                "force_no_cache": false,
                "description": entry.description,
                "options": entry.options,
            })))
        }
        (true, Operation::Create | Operation::Update) => {
            let mounted = existing.ok_or_else(not_found)?;
            let config = parse_config(&ctx.req.data, &mounted.entry.config)?;
            let description = optional_str(&ctx.req.data, "description")?.map(String::from);
            let warning = crate::params::unrecognized(&ctx.req.data, TUNE_FIELDS);
            super::mount_tune::write(ctx, &full_path, mounted, config, description)
                .await
                .map(|response| response.warn(warning))
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}

/// `sys/remount` (`from`, `to`) and `sys/remount/status/ID`, as Vault's
/// (done at once here: the mount's storage is keyed by its uuid). A mount
/// with leases is not moved: their ids name the old path.
pub(super) async fn remount(
    ctx: &Ctx<'_>,
    path: &str,
    op: Operation,
) -> Result<Response, ApiError> {
    match (path.strip_prefix("remount/status/"), op) {
        (Some(id), Operation::Read) => {
            let moved = ctx.active.mounts.moved(id).ok_or(ApiError::NotFound)?;
            Ok(Response::json(json!({
                "migration_id": moved.id,
                "migration_info": {
                    "source_mount": moved.from,
                    "target_mount": moved.to,
                    "status": "success",
                },
            })))
        }
        (None, Operation::Create | Operation::Update) if path == "remount" => {
            let field = |name: &str| -> Result<String, ApiError> {
                let raw = optional_str(&ctx.req.data, name)?
                    .ok_or_else(|| ApiError::bad(format!("{name}: required")))?;
                // Held to the rules of a path in a URL: no `//`, `.`, `..`,
                // control characters or edge whitespace.
                let checked =
                    crate::policy::path::canonical(Operation::Update, raw.trim_matches('/'))
                        .map_err(|e| ApiError::bad(format!("{name}: {e}")))?;
                normalize_mount_path(&checked)
            };
            let (from, to) = (field("from")?, field("to")?);
            if from.starts_with("auth/") != to.starts_with("auth/") {
                return Err(ApiError::bad(
                    "cannot move a mount between the secrets and the auth tables",
                ));
            }
            if to.starts_with("sys/") || to.starts_with("auth/token/") {
                return Err(ApiError::bad(format!("cannot remount to {to:?}")));
            }
            let leases = ctx
                .active
                .leases
                .ledger()
                .count_with_prefix(&from, 1)
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            if leases > 0 {
                return Err(ApiError::bad(format!(
                    "{from} has leases, whose ids name it: revoke them (sys/leases/revoke-prefix/{from}) before moving it"
                )));
            }
            let id = ctx.active.mounts.remount(&from, &to).await?;
            tracing::info!(from = %from, to = %to, "mount moved");
            Ok(Response::json(json!({ "migration_id": id })))
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}

/// `sys/internal/ui/mounts[/PATH]`: the mount serving PATH, for clients that
/// must know a mount's type and KV version before they call it.
pub(super) async fn ui_mounts(ctx: &Ctx<'_>, path: &str) -> Result<Response, ApiError> {
    let target = path
        .strip_prefix("internal/ui/mounts")
        .unwrap_or("")
        .trim_start_matches('/');
    if target.is_empty() {
        // Only the mounts the caller can use part of, as Vault filters them.
        let reachable = |auth: bool| {
            let mut mounts = list(ctx, auth).data.unwrap_or_default();
            mounts.retain(|path, _| {
                let full = if auth {
                    format!("auth/{path}")
                } else {
                    path.clone()
                };
                ctx.acl.has_access_under(&full)
            });
            mounts
        };
        let (secret, auth) = (reachable(false), reachable(true));
        return Ok(Response::json(json!({ "secret": secret, "auth": auth })));
    }
    let denied = || {
        ApiError::Forbidden(format!(
            "preflight capability check returned 403, please ensure client's policies grant access to path \"{target}/\""
        ))
    };
    let (mounted, _) = ctx.active.mounts.route(target).ok_or_else(denied)?;
    if !ctx.acl.has_access_under(&mounted.entry.path) {
        return Err(ApiError::PermissionDenied);
    }
    let mut info = mount_json(&mounted.entry);
    info.as_object_mut()
        .map(|i| i.insert("path".into(), json!(mounted.entry.path)));
    Ok(Response::json(info))
}
