//! `sys/discover/*` (ours): finding the machine identities that live
//! outside the broker and bringing them under management.
//!
//! - `scan` (write, `source=MOUNT/config/NAME` of a database mount, or
//!   `MOUNT/config/root` of an aws mount): a database's login roles or an
//!   AWS account's IAM users, keys and risky roles, as a background job
//!   (`jobs/ID`); the caller must also be able to read the connector path
//!   (`MOUNT/discover/NAME`, `MOUNT/discover`). One scan of a source at a
//!   time: another while it runs is a 400 naming the running job.
//! - `schedules` (list) and `schedules/NAME` (read, write: `source`,
//!   `interval`; delete): a source rescanned every `interval` (10 s to a
//!   year) by the active node, the first run within a second of creation;
//!   the writer must be able to read the connector path, as for `scan`.
//! - `files` (write, `name`, `archive`: a base64 tar or tar.gz, optional
//!   `rules`: a rule file's text): hard-coded secrets in files.
//! - `identities/ID`: one discovered identity (read), or its ownership
//!   fields (write: `owner`, `purpose`, `environment`, `labels`).
//! - `adopt` (write, `id`, `name`, `rotation_period`, `dry_run`, default
//!   true): a discovered login role becomes a static role the broker
//!   rotates; the caller must be able to write `MOUNT/static-roles/NAME`.
//!
//! Retiring a role is the connector's own path (`MOUNT/discover/NAME`).

use crate::core::ctx::Ctx;
use crate::discover::files::{self, archive, rules::Rules};
use crate::discover::schedules::{self, Schedule};
use crate::discover::{postgres, Discovered};
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::nhi::OwnershipFields;
use crate::params::{optional_bool, optional_duration, optional_str};
use crate::policy::Capabilities;
use base64::Engine as _;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const DEFAULT_ROTATION_PERIOD: i64 = 86_400;

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    use Operation::*;
    let rest = path.trim_start_matches("discover/");
    match (rest, op) {
        ("scan", Create | Update) => scan(ctx).await,
        ("schedules" | "schedules/", List | Read) => {
            Response::keys(ctx.active.discover.schedules.names().await?)
        }
        (name, Read) if name.starts_with("schedules/") => {
            read_schedule(ctx, name.trim_start_matches("schedules/")).await
        }
        (name, Create | Update) if name.starts_with("schedules/") => {
            write_schedule(ctx, name.trim_start_matches("schedules/")).await
        }
        (name, Delete) if name.starts_with("schedules/") => {
            let name = checked_name(name.trim_start_matches("schedules/"))?;
            ctx.active.discover.schedules.delete(name).await?;
            Ok(Response::empty())
        }
        (job, Read) if job.starts_with("jobs/") => {
            let id = job.trim_start_matches("jobs/");
            let job = ctx.active.discover.jobs.get(id).ok_or(ApiError::NotFound)?;
            Ok(Response::json(json!(job)))
        }
        ("files", Create | Update) => scan_files(ctx).await,
        ("adopt", Create | Update) => adopt(ctx).await,
        (id, Read) if id.starts_with("identities/") => {
            show(ctx, id.trim_start_matches("identities/")).await
        }
        (id, Create | Update) if id.starts_with("identities/") => {
            set_ownership(ctx, id.trim_start_matches("identities/")).await
        }
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}

/// The `source` a scan or schedule names, resolved, configured, and
/// readable by the caller through its connector path.
async fn checked_source(
    ctx: &Ctx<'_>,
    source: Option<&str>,
) -> Result<crate::core::discover_scan::ScanSource, ApiError> {
    let source = source.ok_or_else(|| ApiError::bad("source: required (MOUNT/config/NAME)"))?;
    let source = ctx.core.scan_source(ctx.active, source)?;
    if !ctx.acl.allows(&source.connector_path(), Capabilities::READ) {
        return Err(ApiError::PermissionDenied);
    }
    let mounted = ctx
        .active
        .mounts
        .get(&source.mount_path)
        .ok_or(ApiError::NotFound)?;
    {
        let config = match &source.db_name {
            Some(db_name) => format!("config/{db_name}"),
            None => "config/root".to_string(),
        };
        if ctx.core.backend_read(&mounted, &config).await?.is_none() {
            return Err(ApiError::bad(format!(
                "source: {}{config} is not configured",
                source.mount_path
            )));
        }
    }
    Ok(source)
}

async fn scan(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let source = checked_source(ctx, optional_str(&ctx.req.data, "source")?).await?;
    let active = ctx.core.active()?;
    let job = ctx.core.start_discover_scan(&active, source)?;
    Ok(Response::json(json!({ "job_id": job })).with_status(202))
}

/// A file scan's or a schedule's name, if valid.
fn checked_name(name: &str) -> Result<&str, ApiError> {
    match crate::discover::valid_name(name) {
        true => Ok(name),
        false => Err(ApiError::bad(
            "name: 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.')",
        )),
    }
}

async fn read_schedule(ctx: &Ctx<'_>, name: &str) -> Result<Response, ApiError> {
    let name = checked_name(name)?;
    let schedule = ctx
        .active
        .discover
        .schedules
        .get(name)
        .await?
        .ok_or(ApiError::NotFound)?;
    let last_job = schedule
        .last_job
        .as_deref()
        .and_then(|id| ctx.active.discover.jobs.get(id));
    let mut answer = json!(schedule);
    if let Some(fields) = answer.as_object_mut() {
        fields.insert("name".into(), json!(name));
        fields.insert(
            "last_state".into(),
            json!(last_job.as_ref().map(|j| j.state)),
        );
        fields.insert("last_error".into(), json!(last_job.and_then(|j| j.error)));
    }
    Ok(Response::json(answer))
}

/// Creates or changes a schedule. A new one first runs within a second; a
/// changed one runs an interval after its last run.
async fn write_schedule(ctx: &Ctx<'_>, name: &str) -> Result<Response, ApiError> {
    let name = checked_name(name)?;
    let data = &ctx.req.data;
    if let Some(field) = data
        .keys()
        .find(|k| !matches!(k.as_str(), "source" | "interval"))
    {
        return Err(ApiError::bad(format!(
            "{field}: unknown; a schedule takes source and interval"
        )));
    }
    let store = &ctx.active.discover.schedules;
    let existing = store.get(name).await?;
    let source = optional_str(data, "source")?.or(existing.as_ref().map(|s| s.source.as_str()));
    let source = checked_source(ctx, source).await?;
    let interval = optional_duration(data, "interval")?
        .or(existing.as_ref().map(|s| s.interval))
        .ok_or_else(|| ApiError::bad("interval: required (a duration: 24h, 3600)"))?;
    if !(schedules::MIN_INTERVAL..=schedules::MAX_INTERVAL).contains(&interval) {
        return Err(ApiError::bad(format!(
            "interval: {interval} seconds; from {} seconds to {} days",
            schedules::MIN_INTERVAL,
            schedules::MAX_INTERVAL / 86_400
        )));
    }
    let now = ctx.core.clock.now_unix();
    let schedule = match existing {
        Some(old) => Schedule {
            source: source.source,
            interval,
            next_run: old.last_run.map_or(now, |at| at.saturating_add(interval)),
            ..old
        },
        None => Schedule {
            source: source.source,
            interval,
            next_run: now,
            last_run: None,
            last_job: None,
            not_started: None,
            created: now,
            created_by: ctx.caller.display_name.clone(),
        },
    };
    store.put(name, schedule).await?;
    tracing::info!(schedule = %name, "discovery schedule written");
    Ok(Response::empty())
}

async fn scan_files(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let data = &ctx.req.data;
    let name = checked_name(optional_str(data, "name")?.unwrap_or("default"))?;
    let encoded = optional_str(data, "archive")?
        .ok_or_else(|| ApiError::bad("archive: required (a base64 tar or tar.gz)"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| ApiError::bad("archive: not valid base64"))?;
    let rules = match optional_str(data, "rules")? {
        Some(text) => Rules::parse(text),
        None => Rules::parse(files::rules::DEFAULT_RULES),
    }
    .map_err(|e| ApiError::bad(format!("rules: {e}")))?;
    let read = archive::read(&bytes).map_err(ApiError::bad)?;
    let store = &ctx.active.discover;
    let key = store.fingerprint_key().await?;
    let findings: Vec<files::Finding> = read
        .texts
        .iter()
        .flat_map(|(path, text)| files::scan_text(&rules, &key, path, text))
        .collect();
    let source = format!("files/{name}");
    let mut linked: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for finding in &findings {
        if let Some(link) = finding.link_fingerprint(&key) {
            if linked.contains_key(&link) {
                continue;
            }
            let others: Vec<String> = store
                .carrying(&link)
                .await?
                .into_iter()
                .filter(|id| !id.starts_with(&format!("discovered/{source}/")))
                .collect();
            linked.insert(link, others);
        }
    }
    let now = ctx.core.clock.now_unix();
    let records = files::records(&findings, &key, &source, &linked, now);
    let (stored, changed) = store.replace_source(&source, records).await?;
    let mut touched: Vec<&String> = changed.iter().collect();
    touched.extend(linked.values().flatten());
    for id in touched {
        ctx.active.nhi.risk.mark(id);
    }
    let shown: Vec<Value> = findings
        .iter()
        .map(|f| {
            let links = f
                .link_fingerprint(&key)
                .and_then(|l| linked.get(&l).cloned())
                .unwrap_or_default();
            let mut entry = json!(f);
            if let Some(fields) = entry.as_object_mut() {
                fields.insert("linked_identities".into(), json!(links));
            }
            entry
        })
        .collect();
    tracing::info!(%source, files = read.texts.len(), findings = findings.len(), "file scan done");
    Ok(Response::json(json!({
        "source": source,
        "files_scanned": read.texts.len(),
        "files_skipped": read.skipped,
        "findings": shown,
        "stored": stored,
    })))
}

async fn load(ctx: &Ctx<'_>, id: &str) -> Result<Discovered, ApiError> {
    ctx.active.discover.get(id).await?.ok_or(ApiError::NotFound)
}

async fn show(ctx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    let record = load(ctx, id).await?;
    let mut linked = Vec::new();
    for fingerprint in &record.fingerprints {
        for other in ctx.active.discover.carrying(fingerprint).await? {
            if other != id && !linked.contains(&other) {
                linked.push(other);
            }
        }
    }
    let mut answer = json!(record);
    if let Some(fields) = answer.as_object_mut() {
        fields.insert("id".into(), json!(id));
        fields.insert("linked_identities".into(), json!(linked));
        fields.insert("managed".into(), json!(false));
        fields.insert("meta".into(), json!(ctx.active.nhi.meta(id).await?));
    }
    Ok(Response::json(answer))
}

async fn set_ownership(ctx: &Ctx<'_>, id: &str) -> Result<Response, ApiError> {
    load(ctx, id).await?;
    let mut data = ctx.req.data.clone();
    let fields = OwnershipFields::take(&mut data)?;
    if let Some(field) = data.keys().next() {
        return Err(ApiError::bad(format!(
            "{field}: unknown; a discovered identity takes owner, purpose, environment, labels"
        )));
    }
    let now = ctx.core.clock.now_unix();
    ctx.active.nhi.record_write(id, fields, now).await?;
    ctx.active.nhi.risk.mark(id);
    Ok(Response::empty())
}

/// Turns a discovered login role into a static role (rotated at once).
async fn adopt(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let data = &ctx.req.data;
    let id = optional_str(data, "id")?.ok_or_else(|| ApiError::bad("id: required"))?;
    let record = load(ctx, id).await?;
    if record.kind != postgres::KIND {
        return Err(ApiError::bad(format!(
            "{id}: a {} cannot be adopted; only a {} can",
            record.kind,
            postgres::KIND
        )));
    }
    let source = ctx.core.scan_source(ctx.active, &record.source)?;
    let db_name = source
        .db_name
        .clone()
        .ok_or_else(|| ApiError::bad(format!("{id}: not a database role")))?;
    let name = optional_str(data, "name")?.unwrap_or(&record.name);
    let name_ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(ApiError::bad(
            "name: the static role's name: letters, digits, '.', '_' or '-' (give one when the login role's name has other characters)",
        ));
    }
    let period = optional_duration(data, "rotation_period")?.unwrap_or(DEFAULT_ROTATION_PERIOD);
    let dry_run = optional_bool(data, "dry_run")?.unwrap_or(true);
    let target = format!("{}static-roles/{name}", source.mount_path);
    if !ctx.acl.allows(&target, Capabilities::CREATE) {
        return Err(ApiError::PermissionDenied);
    }
    let definition = json!({
        "db_name": db_name,
        "username": record.name,
        "rotation_period": period,
    });
    let changes = vec![
        format!(
            "{target} is created and rotates the password of {:?} now",
            record.name
        ),
        format!("the broker rotates it every {period} seconds from then on"),
        format!(
            "applications read the password from {}static-creds/{name}; the old one stops working",
            source.mount_path
        ),
    ];
    let mut answer = json!({
        "id": id,
        "dry_run": dry_run,
        "static_role": target,
        "definition": definition,
        "changes": changes,
    });
    if dry_run {
        return Ok(Response::json(answer));
    }
    let mounted = ctx
        .active
        .mounts
        .get(&source.mount_path)
        .ok_or(ApiError::NotFound)?;
    let Value::Object(fields) = definition else {
        return Err(ApiError::Internal("a static role definition".into()));
    };
    ctx.core
        .backend_write(&mounted, &format!("static-roles/{name}"), fields)
        .await?;
    // The ownership moves to the static role; the discovered record goes
    // (the next scan sees the role as managed).
    if let Some(meta) = ctx.active.nhi.meta(id).await? {
        ctx.active.nhi.put_meta(&target, &meta).await?;
    }
    ctx.active.nhi.forget(id).await?;
    ctx.active.discover.forget(id).await?;
    ctx.active.nhi.risk.mark(id);
    ctx.active.nhi.risk.mark(&target);
    tracing::info!(%id, static_role = %target, "discovered role adopted");
    if let Some(fields) = answer.as_object_mut() {
        fields.insert("adopted".into(), json!(true));
    }
    Ok(Response::json(answer))
}
