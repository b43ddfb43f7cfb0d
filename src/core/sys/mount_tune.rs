//! The write side of `sys/mounts/NAME/tune` (and `sys/auth/NAME/tune`):
//! TTLs, description and options, with Vault's rules for a KV mount's
//! `options.version`: 1 → 2 upgrades the mount (its v1 data becomes version
//! 1 of each v2 key, see `engines::kv::upgrade`), 2 → 1 is refused with
//! "cannot downgrade mount from version 2", anything but 1 or 2 is refused.

use crate::core::ctx::Ctx;
use crate::core::mounts::{Mounted, Replaced, Tune};
use crate::error::ApiError;
use crate::logical::{MountConfig, Response};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an upgrade waits for requests still served by the old engine
/// before it migrates anyway (what lands later moves at the next load).
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// A version option as Vault parses it: a whole number, as a string or not.
fn parse_version(value: &Value) -> Result<i64, ApiError> {
    let parsed = match value {
        Value::String(s) if s.is_empty() => Some(0),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::bad("unable to parse options: version: expected a whole number"))
}

/// The options of a tune request as strings (Vault's `map[string]string`).
fn requested_options(data: &Map<String, Value>) -> Result<Option<Map<String, Value>>, ApiError> {
    match data.get("options") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(options)) => Ok(Some(options.clone())),
        Some(_) => Err(ApiError::bad("options: expected an object")),
    }
}

/// A KV version change: from, to.
type Upgrade = Option<(i64, i64)>;

/// The mount's option map after the tune, and whether it upgrades KV.
fn merged_options(
    mounted: &Mounted,
    requested: &Map<String, Value>,
) -> Result<(BTreeMap<String, String>, Upgrade), ApiError> {
    let entry = &mounted.entry;
    let mut options = entry.options.clone();
    let mut upgrade = None;
    for (key, value) in requested {
        if key == "version" {
            if !matches!(entry.kind.as_str(), "kv" | "kv-v2") {
                return Err(ApiError::bad(format!(
                    "secrets engine {:?} does not allow setting a version",
                    entry.kind
                )));
            }
            let current = i64::from(crate::engines::kv_version(entry)?);
            let wanted = parse_version(value)?;
            if !(1..=2).contains(&wanted) {
                return Err(ApiError::bad(format!("invalid version provided: {wanted}")));
            }
            if current > wanted {
                return Err(ApiError::bad(format!(
                    "cannot downgrade mount from version {current}"
                )));
            }
            if current < wanted {
                upgrade = Some((current, wanted));
            }
            options.insert(key.clone(), wanted.to_string());
            continue;
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        };
        if text.is_empty() {
            options.remove(key);
        } else {
            options.insert(key.clone(), text);
        }
    }
    Ok((options, upgrade))
}

/// Waits until no request holds the replaced engine any more (bounded).
async fn drain(old: Arc<dyn crate::engines::Engine>) {
    let started = Instant::now();
    // One reference is `old` itself.
    while Arc::strong_count(&old) > 1 && started.elapsed() < DRAIN_LIMIT {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Applies a tune write to `mounted` (at `full_path`). Takes `mounted` by
/// value: it holds the engine a KV upgrade waits to see released.
pub(super) async fn write(
    ctx: &Ctx<'_>,
    full_path: &str,
    mounted: Mounted,
    config: MountConfig,
    description: Option<String>,
) -> Result<Response, ApiError> {
    let (options, upgrade) = match requested_options(&ctx.req.data)? {
        Some(requested) => {
            let (options, upgrade) = merged_options(&mounted, &requested)?;
            (Some(options), upgrade)
        }
        None => (None, None),
    };
    drop(mounted);
    let tune = Tune {
        config,
        description,
        options,
        kv_upgrade: upgrade.is_some(),
    };
    let replaced = ctx.active.mounts.tune(full_path, tune).await?;
    let Some((from, to)) = upgrade else {
        return Ok(Response::empty());
    };
    if let Some(Replaced { old, new }) = replaced {
        tracing::info!(path = %full_path, from, to, "kv mount upgrading");
        drain(old).await;
        new.migrate().await?;
    }
    Ok(Response {
        warnings: vec![format!(
            "Upgrading mount from version {from} to version {to}. This mount will be unavailable for a brief period and will resume service shortly."
        )],
        ..Response::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_parse_as_vault_does() {
        assert_eq!(parse_version(&json!("2")).ok(), Some(2));
        assert_eq!(parse_version(&json!(1)).ok(), Some(1));
        assert_eq!(parse_version(&json!("")).ok(), Some(0));
        assert!(parse_version(&json!("two")).is_err());
        assert!(parse_version(&json!([2])).is_err());
        assert!(parse_version(&json!(1.5)).is_err());
    }
}
