//! `sys/storage/verify` (ours, sudo; `qm operator verify-storage`): every
//! encrypted entry of the store that does not open, by key and reason.
//! Values are never returned. The keyring and the seal's configuration are
//! outside it: every unseal checks them.

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::Response;
use serde_json::json;

pub(super) async fn handle(ctx: &Ctx<'_>) -> Result<Response, ApiError> {
    let found = ctx.core.barrier.verify().await?;
    let unreadable: Vec<_> = found
        .unreadable
        .iter()
        .map(|(key, error)| json!({ "key": key, "error": error }))
        .collect();
    if !unreadable.is_empty() {
        tracing::error!(
            count = unreadable.len(),
            "storage verification found entries that do not open"
        );
    }
    Ok(Response::json(json!({
        "checked": found.checked,
        "unreadable": unreadable,
    })))
}
