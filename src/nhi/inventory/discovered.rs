//! A discovered identity (found outside the broker, `crate::discover`) as
//! an inventory identity: `managed: false`, its source, and risk from what
//! the connector saw: never expires, old, privileged, exposed in files.

use super::context::Context;
use super::risk::{scored_identity, Record, DAY};
use super::Identity;
use crate::discover::{files, iam, postgres, Discovered};
use crate::error::ApiError;
use crate::nhi::paths::{FILE_SECRET, IAM_ACCESS_KEY, IAM_ROLE, IAM_USER, POSTGRES_ROLE};

/// Credentials older than this are old.
const OLD_AFTER: i64 = 90 * DAY;

fn kind_of(record: &Discovered) -> Option<&'static str> {
    match record.kind.as_str() {
        postgres::KIND => Some(POSTGRES_ROLE),
        files::KIND => Some(FILE_SECRET),
        iam::USER => Some(IAM_USER),
        iam::ACCESS_KEY => Some(IAM_ACCESS_KEY),
        iam::ROLE => Some(IAM_ROLE),
        _ => None,
    }
}

/// The identity of a discovered record; `None` for a kind this server
/// does not know (a record from a newer version).
pub(super) async fn discovered_identity(
    ctx: &mut Context<'_>,
    id: &str,
    record: &Discovered,
) -> Result<Option<Identity>, ApiError> {
    let Some(kind) = kind_of(record) else {
        return Ok(None);
    };
    let w = ctx.weights;
    let mut reasons = Vec::new();
    if record.never_expires {
        reasons.push((w.never_expires, "never expires".to_string()));
    }
    let created = record
        .details
        .get("created")
        .and_then(serde_json::Value::as_i64);
    if let Some(created) = created.filter(|c| ctx.now.saturating_sub(*c) >= OLD_AFTER) {
        reasons.push((
            w.old_credential,
            format!("created {} days ago", ctx.now.saturating_sub(created) / DAY),
        ));
    }
    if !record.privileged.is_empty() {
        reasons.push((
            w.privileged,
            format!("privileged: {}", record.privileged.join(", ")),
        ));
    }
    let mut exposed: Vec<String> = record.locations.clone();
    for fingerprint in &record.fingerprints {
        for other in ctx.src.discovered.carrying(fingerprint).await? {
            if other == id || !other.starts_with("discovered/files/") {
                continue;
            }
            if let Some(secret) = ctx.src.discovered.get(&other).await? {
                exposed.extend(secret.locations);
            }
        }
    }
    if !exposed.is_empty() {
        exposed.sort();
        exposed.dedup();
        reasons.push((
            w.exposed_in_files,
            format!("exposed in files: {}", exposed.join(", ")),
        ));
    }
    let meta = ctx.src.nhi.meta(id).await?.unwrap_or_default();
    let mut identity = scored_identity(
        ctx,
        Record {
            id: id.to_string(),
            kind,
            name: record.name.clone(),
            mount: String::new(),
            meta,
            created: Some(created.unwrap_or(record.first_seen)),
            last_used: record.last_used,
            permissions: record.permissions.clone(),
            active_leases: 0,
            expire: record.expires,
            reasons,
            orphaned: false,
        },
    )
    .await?;
    identity.managed = false;
    identity.source = record.source.clone();
    Ok(Some(identity))
}
