//! `creds/NAME` and `sts/NAME`: plan a session within STS's limits (the
//! lease's record says how to create it; [`crate::session`] creates it when
//! the core has recorded the lease), and what revoking one means.

use crate::config::{load_lease, load_root, LeaseConfig, RootConfig};
use crate::names::valid_session_name;
use crate::roles::{
    self, AwsRole, CredentialType, MAX_ASSUMED_ROLE_TTL, MAX_TOKEN_TTL, MAX_TTL_FROM_SESSION,
    MIN_TTL,
};
use qm_plugin_sdk::params::{optional_duration, optional_str};
use qm_plugin_sdk::{Internal, LeaseInfo, PluginError, PluginStorage, Reply, Request, SecretPlan};
use serde::{Deserialize, Serialize};
use serde_json::Map;

/// What the lease keeps: how to create the session (no secret). Stored as
/// JSON with the lease; the field names are the on-disk format.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SessionPlan {
    pub(crate) role: String,
    pub(crate) credential_type: CredentialType,
    /// Set for assumed_role sessions.
    pub(crate) role_arn: Option<String>,
    pub(crate) ttl: i64,
    pub(crate) role_session_name: Option<String>,
    pub(crate) display_name: String,
}

fn bad<T>(message: String) -> Result<T, PluginError> {
    Err(PluginError::BadRequest(message))
}

/// Plans a session of role `name` for a `creds` or `sts` (`section`) request.
pub(crate) async fn plan(
    storage: &dyn PluginStorage,
    section: &str,
    name: &str,
    req: &Request<'_>,
) -> Result<Reply, PluginError> {
    let role = roles::load(storage, name).await?;
    let root = load_root(storage).await?;
    let lease = load_lease(storage).await?;
    let role_arn = choose_role_arn(&role, optional_str(req.data, "role_arn")?)?;
    let ttl = requested_ttl(&role, &root, &lease, req)?;
    let role_session_name = requested_session_name(&role, section, req)?;
    let internal = SessionPlan {
        role: name.to_string(),
        credential_type: role.credential_type,
        role_arn,
        ttl,
        role_session_name,
        display_name: req.display_name.to_string(),
    };
    Ok(Reply::Secret(SecretPlan {
        role: name.to_string(),
        data: Map::new(),
        internal: Internal::encode(&internal)?,
        ttl,
        max_ttl: ttl,
        renewable: false,
        warnings: Vec::new(),
        max_active_leases: None,
    }))
}

/// The IAM role to assume: the one asked for if the role allows it, else
/// the role's only one. Other credential types take none.
fn choose_role_arn(role: &AwsRole, requested: Option<&str>) -> Result<Option<String>, PluginError> {
    let requested = requested.filter(|a| !a.is_empty());
    match (role.credential_type, requested) {
        (CredentialType::AssumedRole, Some(arn)) if role.role_arns.iter().any(|a| a == arn) => {
            Ok(Some(arn.to_string()))
        }
        (CredentialType::AssumedRole, Some(arn)) => bad(format!(
            "role_arn: {arn:?} is not one of the role's role_arns {:?}",
            role.role_arns
        )),
        (CredentialType::AssumedRole, None) if role.role_arns.len() == 1 => {
            Ok(role.role_arns.first().cloned())
        }
        (CredentialType::AssumedRole, None) => bad(format!(
            "role_arn: required: the role allows {:?}",
            role.role_arns
        )),
        (_, Some(_)) => bad("role_arn: only assumed_role roles take a role ARN".into()),
        (_, None) => Ok(None),
    }
}

/// STS's own ceiling for the role's credential type. Temporary AWS access
/// keys start with ASIA: then the root is itself a session.
fn sts_ceiling(role: &AwsRole, root: &RootConfig) -> i64 {
    match role.credential_type {
        CredentialType::AssumedRole => MAX_ASSUMED_ROLE_TTL,
        CredentialType::SessionToken if root.access_key.starts_with("ASIA") => MAX_TTL_FROM_SESSION,
        _ => MAX_TOKEN_TTL,
    }
}

/// The session's TTL: the request's `ttl`, else the role's or mount's
/// default, checked against STS's bounds, the role's, the mount's and
/// `config/lease`'s max.
fn requested_ttl(
    role: &AwsRole,
    root: &RootConfig,
    lease: &LeaseConfig,
    req: &Request<'_>,
) -> Result<i64, PluginError> {
    let ceiling = sts_ceiling(role, root);
    let mut max = if role.max_sts_ttl > 0 {
        role.max_sts_ttl.min(ceiling)
    } else {
        ceiling
    };
    max = max.min(req.mount_max_ttl);
    if lease.lease_max > 0 {
        max = max.min(lease.lease_max);
    }
    let default = [role.default_sts_ttl, lease.lease, 3600]
        .into_iter()
        .find(|t| *t > 0)
        .unwrap_or(3600)
        .min(max);
    let ttl = optional_duration(req.data, "ttl")?
        .filter(|t| *t > 0)
        .unwrap_or(default);
    if ttl < MIN_TTL {
        return bad(format!(
            "ttl: STS sessions last at least {MIN_TTL} seconds; {ttl} was asked"
        ));
    }
    if ttl > max {
        return bad(too_long(role.credential_type, ttl, max, ceiling));
    }
    Ok(ttl)
}

/// Why a TTL is refused, naming the limit that applies.
fn too_long(kind: CredentialType, ttl: i64, max: i64, ceiling: i64) -> String {
    let kind = match kind {
        CredentialType::AssumedRole => "assumed_role",
        CredentialType::FederationToken => "federation_token",
        CredentialType::SessionToken => "session_token",
    };
    let from_session = if ceiling == MAX_TTL_FROM_SESSION {
        " when the root credentials are themselves a session"
    } else {
        ""
    };
    format!(
        "ttl: {ttl} seconds exceeds the maximum of {max} for this role (STS allows up to {ceiling} for {kind} credentials{from_session})"
    )
}

/// The caller's `role_session_name`, if given and valid for the request.
fn requested_session_name(
    role: &AwsRole,
    section: &str,
    req: &Request<'_>,
) -> Result<Option<String>, PluginError> {
    let Some(given) = optional_str(req.data, "role_session_name")?.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    if !valid_session_name(given) {
        return bad("role_session_name: 2 to 64 characters of letters, digits and _+=,.@-".into());
    }
    if section == "sts" && role.credential_type == CredentialType::SessionToken {
        return bad("role_session_name: session_token credentials have no session name".into());
    }
    Ok(Some(given.to_string()))
}

/// What revoking an STS lease means, said plainly.
pub(crate) fn revoke_warning(lease: &LeaseInfo) -> String {
    let role = lease.role.as_str();
    let secs = u64::try_from(lease.expire_at).unwrap_or(0);
    let until = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(secs))
            .unwrap_or(std::time::UNIX_EPOCH),
    );
    format!(
        "AWS STS sessions cannot be ended one by one: the lease {} is revoked, but its credentials stay valid at AWS until {until}. To end every session of this role now, use aws/roles/{role}/revoke-sessions.",
        lease.lease_id
    )
}
