//! Token roles (`auth/token/roles/NAME`): named presets for token creation
//! that let a non-root caller mint tokens with the role's policies. Names
//! are case-sensitive and kept as given; policy names in the lists are
//! lower-cased, as Vault does.

use crate::auth::token_params::normalize_policies;
use crate::barrier::StorageView;
use crate::core::ctx::Ctx;
use crate::error::ApiError;
use crate::logical::Response;
use crate::params::{optional_bool, optional_duration, optional_strings};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct TokenRole {
    pub(super) name: String,
    pub(super) allowed_policies: Vec<String>,
    #[serde(default)]
    pub(super) disallowed_policies: Vec<String>,
    #[serde(default)]
    pub(super) allowed_policies_glob: Vec<String>,
    #[serde(default)]
    pub(super) disallowed_policies_glob: Vec<String>,
    pub(super) orphan: bool,
    pub(super) renewable: bool,
    pub(super) token_period: i64,
    pub(super) token_explicit_max_ttl: i64,
    /// Addresses the role's tokens may be used from (CIDR blocks or IPs).
    #[serde(default)]
    pub(super) token_bound_cidrs: Vec<String>,
}

impl TokenRole {
    pub(super) fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            allowed_policies: Vec::new(),
            disallowed_policies: Vec::new(),
            allowed_policies_glob: Vec::new(),
            disallowed_policies_glob: Vec::new(),
            orphan: false,
            renewable: true,
            token_period: 0,
            token_explicit_max_ttl: 0,
            token_bound_cidrs: Vec::new(),
        }
    }

    /// Whether the role lists policies (allowed or disallowed, plain or glob);
    /// a role that lists none bounds tokens by the caller's policies.
    pub(super) fn restricts_policies(&self) -> bool {
        !(self.allowed_policies.is_empty()
            && self.disallowed_policies.is_empty()
            && self.allowed_policies_glob.is_empty()
            && self.disallowed_policies_glob.is_empty())
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "allowed_policies": self.allowed_policies,
            "disallowed_policies": self.disallowed_policies,
            "allowed_policies_glob": self.allowed_policies_glob,
            "disallowed_policies_glob": self.disallowed_policies_glob,
            "orphan": self.orphan,
            "renewable": self.renewable,
            "token_period": self.token_period,
            "period": self.token_period,
            "token_explicit_max_ttl": self.token_explicit_max_ttl,
            "explicit_max_ttl": self.token_explicit_max_ttl,
            "token_bound_cidrs": self.token_bound_cidrs,
            "token_type": "service",
        })
    }
}

fn view(ctx: &Ctx<'_>) -> StorageView {
    StorageView::new(Arc::clone(&ctx.core.barrier), "sys/token-roles/")
}

fn check_name(name: &str) -> Result<&str, ApiError> {
    if name.is_empty() || name.contains('/') {
        return Err(ApiError::bad(format!("invalid role name {name:?}")));
    }
    Ok(name)
}

pub(super) async fn get(ctx: &Ctx<'_>, name: &str) -> Result<Option<TokenRole>, ApiError> {
    Ok(view(ctx).get_json(check_name(name)?).await?)
}

pub(super) async fn list(ctx: &Ctx<'_>) -> Result<Vec<String>, ApiError> {
    Ok(view(ctx).list("").await?)
}

pub(super) async fn write(ctx: &Ctx<'_>, name: &str) -> Result<Response, ApiError> {
    let name = check_name(name)?;
    let data = &ctx.req.data;
    let mut role = get(ctx, name)
        .await?
        .unwrap_or_else(|| TokenRole::new(name));
    for (field, list) in [
        ("allowed_policies", &mut role.allowed_policies),
        ("disallowed_policies", &mut role.disallowed_policies),
        ("allowed_policies_glob", &mut role.allowed_policies_glob),
        (
            "disallowed_policies_glob",
            &mut role.disallowed_policies_glob,
        ),
    ] {
        if let Some(policies) = optional_strings(data, field)? {
            *list = normalize_policies(&policies);
        }
    }
    if let Some(orphan) = optional_bool(data, "orphan")? {
        role.orphan = orphan;
    }
    if let Some(renewable) = optional_bool(data, "renewable")? {
        role.renewable = renewable;
    }
    if let Some(period) =
        optional_duration(data, "token_period")?.or(optional_duration(data, "period")?)
    {
        role.token_period = period;
    }
    if let Some(max) = optional_duration(data, "token_explicit_max_ttl")?
        .or(optional_duration(data, "explicit_max_ttl")?)
    {
        role.token_explicit_max_ttl = max;
    }
    if let Some(cidrs) =
        optional_strings(data, "token_bound_cidrs")?.or(optional_strings(data, "bound_cidrs")?)
    {
        role.token_bound_cidrs = crate::auth::cidr::parse_list("token_bound_cidrs", &cidrs)?;
    }
    view(ctx).put_json(name, &role).await?;
    Ok(Response::empty().warn(crate::params::unrecognized(data, FIELDS)))
}

/// The body fields a role write reads.
const FIELDS: &[&str] = &[
    "allowed_policies",
    "disallowed_policies",
    "allowed_policies_glob",
    "disallowed_policies_glob",
    "orphan",
    "renewable",
    "token_period",
    "period",
    "token_explicit_max_ttl",
    "explicit_max_ttl",
    "token_bound_cidrs",
    "bound_cidrs",
];

pub(super) async fn delete(ctx: &Ctx<'_>, name: &str) -> Result<Response, ApiError> {
    view(ctx).delete(check_name(name)?).await?;
    Ok(Response::empty())
}
