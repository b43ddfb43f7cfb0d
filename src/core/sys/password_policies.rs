//! `sys/policies/password/NAME` as Vault serves it: write (`policy`, HCL
//! or JSON text, or its base64), read, delete, list, and
//! `NAME/generate`, which answers a password made under the policy. These
//! are plain ACL paths (no `sudo`), as in Vault.

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::optional_str;
use crate::policy::password::PasswordPolicies;
use base64::Engine as _;
use serde_json::json;
use std::sync::Arc;

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    let policies = PasswordPolicies::new(Arc::clone(&ctx.core.barrier));
    let tail = path
        .strip_prefix("policies/password")
        .unwrap_or_default()
        .trim_matches('/');
    let segments: Vec<&str> = if tail.is_empty() {
        Vec::new()
    } else {
        tail.split('/').collect()
    };
    match (segments.as_slice(), op) {
        ([], Operation::List | Operation::Read) => Response::keys(policies.names().await?),
        ([name], Operation::Read) => {
            let text = policies.text(name).await?.ok_or(ApiError::NotFound)?;
            Ok(Response::json(json!({ "policy": text })))
        }
        ([name], Operation::Create | Operation::Update) => {
            let text = optional_str(&ctx.req.data, "policy")?
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::bad(
                        "policy: required (the password policy in HCL or JSON, or its base64)",
                    )
                })?;
            policies.put(name, &decoded(text)).await?;
            tracing::info!(password_policy = %name, "password policy written");
            Ok(Response::empty())
        }
        ([name], Operation::Delete) => {
            policies.delete(name).await?;
            Ok(Response::empty())
        }
        ([name, "generate"], Operation::Read) => {
            // Vault's answer: a 404 that says so.
            let policy = policies
                .get(name)
                .await?
                .ok_or_else(|| ApiError::NoHandler("policy does not exist".into()))?;
            Ok(Response::json(json!({ "password": policy.generate() })))
        }
        ([] | [_] | [_, "generate"], _) => Err(ApiError::UnsupportedOperation),
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}

/// The policy text: Vault accepts it base64-encoded (to spare clients the
/// escaping) and takes any text that decodes as such.
fn decoded(text: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| text.to_string())
}
