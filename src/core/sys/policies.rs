//! `sys/policies/acl/NAME` (the current API), `sys/policy/NAME` (the legacy
//! one, which vaultrs uses) and the capabilities endpoints.

use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_str, optional_strings};
use crate::policy::{normalize_name, Acl};
use serde_json::{json, Map, Value};

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    let store = &ctx.active.policies;
    let segments: Vec<&str> = path.trim_end_matches('/').splitn(3, '/').collect();
    match (segments.as_slice(), op) {
        (["policies", "acl"], Operation::List | Operation::Read) => {
            Response::keys(store.names().await?)
        }
        (["policy"], Operation::List | Operation::Read) => {
            let names = store.names().await?;
            Ok(Response::json(json!({ "keys": names, "policies": names })))
        }
        (["policies", "acl", name] | ["policy", name], Operation::Read) => {
            let name = normalize_name(name)?;
            let policy = store.get(&name).await?.ok_or(ApiError::NotFound)?;
            // The legacy path names the text `rules`; the current one `policy`.
            Ok(Response::json(
                json!({ "name": name, "policy": policy.text, "rules": policy.text }),
            ))
        }
        (["policies", "acl", name] | ["policy", name], Operation::Create | Operation::Update) => {
            let name = normalize_name(name)?;
            let text = optional_str(&ctx.req.data, "policy")?
                .or(optional_str(&ctx.req.data, "rules")?)
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| {
                    ApiError::bad("policy: required (the policy text in HCL or JSON)")
                })?;
            store.put(&name, text).await?;
            tracing::info!(policy = %name, "policy written");
            Ok(Response::empty().warn(crate::params::unrecognized(
                &ctx.req.data,
                &["policy", "rules", "name"],
            )))
        }
        (["policies", "acl", name] | ["policy", name], Operation::Delete) => {
            let name = normalize_name(name)?;
            store.delete(&name).await?;
            Ok(Response::empty())
        }
        (["capabilities-self"], Operation::Create | Operation::Update) => {
            capabilities(ctx.acl, &ctx.req.data)
        }
        (["capabilities"], Operation::Create | Operation::Update) => {
            let token = optional_str(&ctx.req.data, "token")?
                .ok_or_else(|| ApiError::bad("token: required"))?;
            let entry = ctx
                .active
                .tokens
                .lookup(token)
                .await?
                .ok_or_else(|| ApiError::bad("invalid token"))?;
            let policies = store.resolve(&entry.policies).await?;
            let acl = Acl::from_policies(&policies);
            capabilities(&acl, &ctx.req.data)
        }
        (["capabilities-accessor"], Operation::Create | Operation::Update) => {
            let accessor = optional_str(&ctx.req.data, "accessor")?
                .ok_or_else(|| ApiError::bad("accessor: required"))?;
            let entry = ctx
                .active
                .tokens
                .lookup_accessor(accessor)
                .await?
                .ok_or_else(|| ApiError::bad("invalid accessor"))?;
            let policies = store.resolve(&entry.policies).await?;
            let acl = Acl::from_policies(&policies);
            capabilities(&acl, &ctx.req.data)
        }
        (
            ["policies" | "policy" | "capabilities" | "capabilities-self" | "capabilities-accessor", ..],
            _,
        ) => Err(ApiError::UnsupportedOperation),
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}

/// The capabilities on each requested path: `["root"]` for root,
/// `["deny"]` where nothing is granted.
fn capabilities(acl: &Acl, data: &Map<String, Value>) -> Result<Response, ApiError> {
    let mut paths = optional_strings(data, "paths")?.unwrap_or_default();
    if let Some(path) = optional_str(data, "path")? {
        paths.push(path.to_string());
    }
    if paths.is_empty() {
        return Err(ApiError::bad("path: required"));
    }
    let mut out = Map::new();
    let mut all = Vec::new();
    for path in &paths {
        let path = path.trim_start_matches('/');
        let names = if acl.is_root() {
            vec!["root".to_string()]
        } else {
            let names = acl.capabilities(path).names();
            if names.is_empty() {
                vec!["deny".to_string()]
            } else {
                names
            }
        };
        all.extend(names.iter().cloned());
        out.insert(path.to_string(), json!(names));
    }
    all.sort();
    all.dedup();
    out.insert("capabilities".into(), json!(all));
    Ok(Response::data(out))
}
