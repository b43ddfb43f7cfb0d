//! `sys/wrapping/*` for a caller holding an ordinary token: unwrap or
//! rewrap a wrapping token given as `token`, or wrap arbitrary data.
//! (Lookups, and a wrapping token unwrapping itself, need no other token and
//! are served before authentication, in the pipeline.)

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::optional_str;

fn token_param(ctx: &Ctx<'_>) -> Result<String, ApiError> {
    optional_str(&ctx.req.data, "token")?
        .filter(|t| !t.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad("token: required"))
}

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    use Operation::*;
    match (path.trim_end_matches('/'), op) {
        ("wrapping/unwrap", Create | Update) => {
            ctx.core.unwrap(ctx.active, &token_param(ctx)?).await
        }
        ("wrapping/rewrap", Create | Update) => {
            ctx.core.rewrap(ctx.active, &token_param(ctx)?).await
        }
        ("wrapping/wrap", Create | Update) => {
            if ctx.req.wrap_ttl.is_none() {
                return Err(ApiError::bad(
                    "no wrap TTL given: send the X-Vault-Wrap-TTL header",
                ));
            }
            if ctx.req.data.is_empty() {
                return Err(ApiError::bad("nothing to wrap: the request body is empty"));
            }
            Ok(Response::data(ctx.req.data.clone()))
        }
        ("wrapping/unwrap" | "wrapping/lookup" | "wrapping/rewrap" | "wrapping/wrap", _) => {
            Err(ApiError::UnsupportedOperation)
        }
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}
