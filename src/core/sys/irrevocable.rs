//! Vault's reports of irrevocable leases (revocations that failed past
//! their retry budget, still retried slowly and by `sys/leases/tidy`):
//! `GET sys/leases?type=irrevocable` lists them with their last error,
//! `GET sys/leases/count?type=irrevocable` counts them per mount. Both
//! need `sudo`; both read only the ledger's `failing/` index.

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::lease::LeaseRecord;
use crate::logical::Response;
use crate::params::{optional_bool, optional_str};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// At most this many leases are listed unless `limit=none` (Vault's bound).
const DEFAULT_LIMIT: usize = 10_000;

/// Vault's warning when the list stops at its limit.
const MORE_WARNING: &str =
    "Command halted because many irrevocable leases were found. To emit the entire list, re-run the command with limit set to none.";

/// Checks `type` (only `irrevocable` exists) and `include_child_namespaces`
/// (accepted; there are no namespaces).
fn check_type(data: &Map<String, Value>) -> Result<(), ApiError> {
    match optional_str(data, "type")? {
        Some(kind) if kind.eq_ignore_ascii_case("irrevocable") => {}
        Some(kind) => {
            return Err(ApiError::bad(format!(
                "type: {kind:?} is not supported; the one type is \"irrevocable\""
            )))
        }
        None => return Err(ApiError::bad("type: required (type=irrevocable)")),
    }
    optional_bool(data, "include_child_namespaces")?;
    Ok(())
}

/// `limit`: a positive count, or `none` for all; 10,000 when absent.
fn limit(data: &Map<String, Value>) -> Result<Option<usize>, ApiError> {
    let invalid = || ApiError::bad("limit: must be \"none\" or a positive integer");
    let parsed = match data.get("limit") {
        None | Some(Value::Null) => return Ok(Some(DEFAULT_LIMIT)),
        Some(Value::String(s)) if s.is_empty() => return Ok(Some(DEFAULT_LIMIT)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("none") => return Ok(None),
        Some(Value::String(s)) => s.parse::<usize>().map_err(|_| invalid())?,
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(invalid)?,
        Some(_) => return Err(invalid()),
    };
    if parsed == 0 {
        return Err(invalid());
    }
    Ok(Some(parsed))
}

/// Vault's `mount_id`: the accessor of the mount that issued the lease
/// (its path, if that mount is gone).
fn mount_id(ctx: &Ctx<'_>, record: &LeaseRecord) -> String {
    ctx.active
        .mounts
        .get(&record.mount)
        .map_or_else(|| record.mount.clone(), |m| m.entry.accessor)
}

/// `GET sys/leases?type=irrevocable[&limit=N|none]`.
pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    check_type(&ctx.req.data)?;
    let limit = limit(&ctx.req.data)?;
    let (records, more) = ctx.active.leases.ledger().irrevocable(limit).await?;
    let leases: Vec<Value> = records
        .iter()
        .map(|r| {
            json!({
                "lease_id": r.lease_id,
                "mount_id": mount_id(ctx, r),
                "error": r.last_error.as_deref().unwrap_or("unknown"),
            })
        })
        .collect();
    let mut response = Response::json(json!({
        "lease_count": leases.len(),
        "leases": leases,
    }));
    if more {
        response.warnings.push(MORE_WARNING.to_string());
    }
    Ok(response)
}

/// `GET sys/leases/count?type=irrevocable`: the total and per mount.
pub(super) async fn count(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    check_type(&ctx.req.data)?;
    let (records, _) = ctx.active.leases.ledger().irrevocable(None).await?;
    let mut counts = BTreeMap::<String, usize>::new();
    for record in &records {
        let count = counts.entry(mount_id(ctx, record)).or_default();
        *count = count.saturating_add(1);
    }
    Ok(Response::json(json!({
        "lease_count": records.len(),
        "counts": counts,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn type_must_be_irrevocable_in_any_case() {
        assert!(check_type(&data(json!({"type": "irrevocable"}))).is_ok());
        assert!(check_type(&data(json!({"type": "IRREVOCABLE"}))).is_ok());
        for bad in [
            json!({}),
            json!({"type": "active"}),
            json!({"type": 1}),
            json!({"type": "irrevocable", "include_child_namespaces": "maybe"}),
        ] {
            let error = check_type(&data(bad.clone())).expect_err("refused");
            assert_eq!(error.status(), 400, "{bad}");
        }
    }

    #[test]
    fn limit_is_none_or_a_positive_count() {
        assert_eq!(limit(&data(json!({}))).ok(), Some(Some(DEFAULT_LIMIT)));
        assert_eq!(
            limit(&data(json!({"limit": ""}))).ok(),
            Some(Some(DEFAULT_LIMIT))
        );
        assert_eq!(limit(&data(json!({"limit": "None"}))).ok(), Some(None));
        assert_eq!(limit(&data(json!({"limit": "3"}))).ok(), Some(Some(3)));
        assert_eq!(limit(&data(json!({"limit": 7}))).ok(), Some(Some(7)));
        for bad in [
            json!("0"),
            json!(0),
            json!(-1),
            json!("-1"),
            json!("1e3"),
            json!("99999999999999999999999"),
            json!(1.5),
            json!(true),
        ] {
            let error = limit(&data(json!({ "limit": bad }))).expect_err("refused");
            assert_eq!(error.status(), 400, "{bad}");
        }
    }
}
