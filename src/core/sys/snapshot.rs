//! `sys/storage/snapshot` (ours) and `sys/storage/raft/snapshot` /
//! `snapshot-force` (what `bao operator raft snapshot save|restore` calls,
//! on any storage here): GET saves, POST restores. Both need `sudo`.
//! `snapshot-force` runs the same checks: a snapshot restores only into
//! the store whose keyring made it (stricter than Vault; see
//! docs/security.md).

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use serde_json::json;

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    let vault_path = match path {
        "storage/snapshot" => false,
        "storage/raft/snapshot" | "storage/raft/snapshot-force" => true,
        _ => {
            return Err(ApiError::NoHandler(format!(
                "no handler for route \"sys/{path}\". route entry not found."
            )))
        }
    };
    match op {
        Operation::Read if path != "storage/raft/snapshot-force" => {
            let file = ctx.core.snapshot_save().await?;
            Ok(Response {
                bytes: Some(("application/gzip", file)),
                ..Response::default()
            })
        }
        Operation::Update | Operation::Create => {
            let file = ctx
                .req
                .upload
                .as_deref()
                .filter(|f| !f.is_empty())
                .ok_or_else(|| ApiError::bad("the request body must be a snapshot file"))?;
            let restored = ctx.core.snapshot_restore(file).await?;
            if vault_path {
                return Ok(Response::empty());
            }
            Ok(Response::json(json!({
                "entries": restored.entries,
                "leases_carried_over": restored.carried_over,
                "leases_checked": restored.returned,
            })))
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}
