//! The `cubbyhole/` mount, served by the core: read, write, list and delete
//! like KV v1, in the calling token's own space (see
//! `auth::token::cubbyhole`). The mount is built in: created with the mount
//! table (and added to tables stored before it existed), never unmounted,
//! never mounted a second time.

use super::Active;
use crate::auth::token::store::TokenEntry;
use crate::error::ApiError;
use crate::logical::{Operation, Request, Response};

/// The mount's path, type and description.
pub(crate) const PATH: &str = "cubbyhole/";
pub(crate) const KIND: &str = "cubbyhole";
pub(crate) const DESCRIPTION: &str = "per-token private secret storage";

/// Whether a write's target exists (create vs update for the ACL).
pub(super) async fn exists(
    active: &Active,
    caller: &TokenEntry,
    relative: &str,
) -> Result<bool, ApiError> {
    if relative.is_empty() {
        return Ok(true);
    }
    Ok(active
        .tokens
        .cubbyhole_get(&caller.id_hash, relative)
        .await?
        .is_some())
}

pub(super) async fn handle(
    active: &Active,
    caller: &TokenEntry,
    req: &Request,
    relative: &str,
) -> Result<Response, ApiError> {
    let tokens = &active.tokens;
    let owner = caller.id_hash.as_str();
    if req.operation == Operation::List {
        // The canonical LIST path ends in exactly one `/` (or is empty).
        return Response::keys(tokens.cubbyhole_list(owner, relative).await?);
    }
    if relative.is_empty() {
        return Err(ApiError::bad("missing path"));
    }
    match req.operation {
        Operation::Read => {
            let data = tokens.cubbyhole_get(owner, relative).await?;
            Ok(Response::data(data.ok_or(ApiError::NotFound)?))
        }
        Operation::Create | Operation::Update => {
            if req.data.is_empty() {
                return Err(ApiError::bad("missing data fields"));
            }
            tokens.cubbyhole_put(owner, relative, &req.data).await?;
            Ok(Response::empty())
        }
        Operation::Delete => {
            tokens.cubbyhole_delete(owner, relative).await?;
            Ok(Response::empty())
        }
        Operation::List | Operation::Patch => Err(ApiError::UnsupportedOperation),
    }
}
