//! `sys/audit` (list, enable, disable audit devices),
//! `sys/audit-hash/NAME` (the HMAC a value has in a device's log, to search
//! for it) and `sys/audit-chain/NAME` (ours, sudo: the device's chain key
//! and head, which `qm audit verify` checks a log with).

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_str, optional_string_map};
use serde_json::json;

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    use Operation::*;
    let audit = &ctx.active.audit;
    let (head, name) = path.split_once('/').unwrap_or((path, ""));
    let name = name.trim_end_matches('/');
    match (head, name.is_empty(), op) {
        ("audit", true, Read) => Ok(Response::data(audit.list())),
        ("audit", false, Create | Update) => {
            let data = &ctx.req.data;
            let kind = optional_str(data, "type")?
                .filter(|t| !t.is_empty())
                .ok_or_else(|| ApiError::bad("type: required (\"file\")"))?;
            let description = optional_str(data, "description")?
                .unwrap_or_default()
                .to_string();
            let options = optional_string_map(data, "options")?.unwrap_or_default();
            audit.enable(name, kind, description, options).await?;
            tracing::info!(device = %name, "audit device enabled");
            Ok(Response::empty().warn(crate::params::unrecognized(
                data,
                &["type", "description", "options", "local"],
            )))
        }
        ("audit", false, Delete) => {
            audit.disable(name).await?;
            tracing::info!(device = %name, "audit device disabled");
            Ok(Response::empty())
        }
        ("audit-hash", false, Create | Update) => {
            let input = optional_str(&ctx.req.data, "input")?
                .ok_or_else(|| ApiError::bad("input: required"))?;
            let hash = audit
                .hash(name, input)
                .ok_or_else(|| ApiError::bad(format!("unknown audit backend {name:?}")))?;
            Ok(Response::json(json!({ "hash": hash })))
        }
        ("audit-chain", false, Read) => {
            let chain = audit
                .chain(name)
                .ok_or_else(|| ApiError::bad(format!("unknown audit backend {name:?}")))?;
            Ok(Response::json(json!({
                "chain_key": chain.key_hex.as_str(),
                "seq": chain.head.seq,
                "hash": chain.head.hash,
                "file_path": chain.file_path,
            })))
        }
        ("audit" | "audit-hash" | "audit-chain", _, _) => Err(ApiError::UnsupportedOperation),
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}
