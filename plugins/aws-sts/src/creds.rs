//! `creds/NAME` and `sts/NAME`: plan a session within STS's limits, then
//! create it when the core has recorded the lease.

use crate::clients::{aws_error, Clients};
use crate::config::{load_lease, load_root};
use crate::roles::{
    self, CredentialType, MAX_ASSUMED_ROLE_TTL, MAX_TOKEN_TTL, MAX_TTL_FROM_SESSION, MIN_TTL,
};
use qm_plugin_sdk::params::{optional_duration, optional_str};
use qm_plugin_sdk::{LeaseInfo, PluginError, PluginStorage, Reply, Request, SecretPlan};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the lease keeps: how to create the session (no secret).
#[derive(Debug, Serialize, Deserialize)]
struct SessionPlan {
    role: String,
    credential_type: CredentialType,
    role_arn: Option<String>,
    ttl: i64,
    role_session_name: Option<String>,
    display_name: String,
}

const MAX_SESSION_NAME: usize = 64;
const MAX_FEDERATION_NAME: usize = 32;

/// Characters STS accepts in session names: `[\w+=,.@-]`.
fn session_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

fn cut(text: String, max: usize) -> String {
    text.chars().take(max).collect()
}

/// The default session name: the caller's display name and the lease's own
/// id, so CloudTrail leads back to the identity and the lease.
fn default_session_name(display_name: &str, lease_id: &str) -> String {
    let lease = lease_id.rsplit('/').next().unwrap_or(lease_id);
    let display = cut(session_safe(display_name), 32);
    cut(format!("qm-{display}-{lease}"), MAX_SESSION_NAME)
}

pub(crate) async fn plan(
    storage: &dyn PluginStorage,
    section: &str,
    name: &str,
    req: &Request<'_>,
) -> Result<Reply, PluginError> {
    let role = roles::load(storage, name).await?;
    let root = load_root(storage).await?;
    let lease = load_lease(storage).await?;
    let bad = |m: String| Err(PluginError::BadRequest(m));

    let requested_arn = optional_str(req.data, "role_arn")?.filter(|a| !a.is_empty());
    let role_arn = match (role.credential_type, requested_arn) {
        (CredentialType::AssumedRole, Some(arn)) if role.role_arns.iter().any(|a| a == arn) => {
            Some(arn.to_string())
        }
        (CredentialType::AssumedRole, Some(arn)) => {
            return bad(format!(
                "role_arn: {arn:?} is not one of the role's role_arns {:?}",
                role.role_arns
            ))
        }
        (CredentialType::AssumedRole, None) if role.role_arns.len() == 1 => {
            role.role_arns.first().cloned()
        }
        (CredentialType::AssumedRole, None) => {
            return bad(format!(
                "role_arn: required: the role allows {:?}",
                role.role_arns
            ))
        }
        (_, Some(_)) => return bad("role_arn: only assumed_role roles take a role ARN".into()),
        (_, None) => None,
    };

    // Temporary AWS access keys start with ASIA: the root is itself a session.
    let sts_ceiling = match role.credential_type {
        CredentialType::AssumedRole => MAX_ASSUMED_ROLE_TTL,
        CredentialType::SessionToken if root.access_key.starts_with("ASIA") => MAX_TTL_FROM_SESSION,
        _ => MAX_TOKEN_TTL,
    };
    let mut max = if role.max_sts_ttl > 0 {
        role.max_sts_ttl.min(sts_ceiling)
    } else {
        sts_ceiling
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
        return bad(format!(
            "ttl: {ttl} seconds exceeds the maximum of {max} for this role (STS allows up to {sts_ceiling} for {} credentials{})",
            match role.credential_type {
                CredentialType::AssumedRole => "assumed_role",
                CredentialType::FederationToken => "federation_token",
                CredentialType::SessionToken => "session_token",
            },
            if sts_ceiling == MAX_TTL_FROM_SESSION { " when the root credentials are themselves a session" } else { "" }
        ));
    }
    let role_session_name =
        match optional_str(req.data, "role_session_name")?.filter(|n| !n.is_empty()) {
            Some(given)
                if given.len() < 2
                    || given.len() > MAX_SESSION_NAME
                    || session_safe(given) != given =>
            {
                return bad(
                    "role_session_name: 2 to 64 characters of letters, digits and _+=,.@-".into(),
                )
            }
            Some(given) => Some(given.to_string()),
            None => None,
        };
    if section == "sts"
        && role.credential_type == CredentialType::SessionToken
        && role_session_name.is_some()
    {
        return bad("role_session_name: session_token credentials have no session name".into());
    }
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
        internal: serde_json::to_value(&internal)
            .map_err(|e| PluginError::Storage(e.to_string()))?,
        ttl,
        max_ttl: ttl,
        renewable: false,
        warnings: Vec::new(),
        max_active_leases: None,
    }))
}

/// Calls STS for a planned session; returns the credentials for the caller.
pub(crate) async fn issue(
    clients: &Clients,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
) -> Result<Map<String, Value>, PluginError> {
    let plan: SessionPlan = serde_json::from_value(lease.internal.clone())
        .map_err(|e| PluginError::Storage(format!("lease {}: {e}", lease.lease_id)))?;
    let role = roles::load(storage, &plan.role).await?;
    let aws = clients.get(&load_root(storage).await?).await?;
    let duration = i32::try_from(plan.ttl).unwrap_or(i32::MAX);
    let policy = (!role.policy_document.is_empty()).then(|| role.policy_document.clone());
    let policy_arns = (!role.policy_arns.is_empty()).then(|| {
        role.policy_arns
            .iter()
            .map(|arn| {
                aws_sdk_sts::types::PolicyDescriptorType::builder()
                    .arn(arn)
                    .build()
            })
            .collect::<Vec<_>>()
    });
    let tags = if role.session_tags.is_empty() {
        None
    } else {
        Some(
            role.session_tags
                .iter()
                .map(|(k, v)| aws_sdk_sts::types::Tag::builder().key(k).value(v).build())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PluginError::BadRequest(format!("session_tags: {e}")))?,
        )
    };
    let session_name = plan
        .role_session_name
        .clone()
        .unwrap_or_else(|| default_session_name(&plan.display_name, &lease.lease_id));
    let (credentials, arn) = match plan.credential_type {
        CredentialType::AssumedRole => {
            let arn = plan.role_arn.clone().unwrap_or_default();
            let out = aws
                .sts
                .assume_role()
                .role_arn(&arn)
                .role_session_name(&session_name)
                .duration_seconds(duration)
                .set_policy(policy)
                .set_policy_arns(policy_arns)
                .set_tags(tags)
                .set_external_id((!role.external_id.is_empty()).then(|| role.external_id.clone()))
                .send()
                .await
                .map_err(|e| aws_error(&format!("sts:AssumeRole on {arn}"), e))?;
            let user_arn = out
                .assumed_role_user()
                .map(|u| u.arn().to_string())
                .unwrap_or_default();
            (out.credentials, user_arn)
        }
        CredentialType::FederationToken => {
            let name = cut(
                session_safe(&format!("qm-{}", plan.display_name)),
                MAX_FEDERATION_NAME,
            );
            let out = aws
                .sts
                .get_federation_token()
                .name(name)
                .duration_seconds(duration)
                .set_policy(policy)
                .set_policy_arns(policy_arns)
                .set_tags(tags)
                .send()
                .await
                .map_err(|e| aws_error("sts:GetFederationToken", e))?;
            let user_arn = out
                .federated_user()
                .map(|u| u.arn().to_string())
                .unwrap_or_default();
            (out.credentials, user_arn)
        }
        CredentialType::SessionToken => {
            let out = aws
                .sts
                .get_session_token()
                .duration_seconds(duration)
                .send()
                .await
                .map_err(|e| aws_error("sts:GetSessionToken", e))?;
            (out.credentials, String::new())
        }
    };
    let credentials =
        credentials.ok_or_else(|| PluginError::Backend("STS returned no credentials".into()))?;
    let mut data = Map::new();
    data.insert(
        "access_key".into(),
        Value::String(credentials.access_key_id().to_string()),
    );
    data.insert(
        "secret_key".into(),
        Value::String(credentials.secret_access_key().to_string()),
    );
    data.insert(
        "security_token".into(),
        Value::String(credentials.session_token().to_string()),
    );
    data.insert(
        "session_token".into(),
        Value::String(credentials.session_token().to_string()),
    );
    data.insert("arn".into(), Value::String(arn));
    data.insert("session_name".into(), Value::String(session_name));
    Ok(data)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_traceable_and_fit_sts() {
        let name =
            default_session_name("token-jenkins deploy/prod", "aws/creds/deploy/AbCdEf123456");
        assert_eq!(name, "qm-token-jenkins-deploy-prod-AbCdEf123456");
        let long =
            default_session_name(&"x".repeat(100), &format!("aws/creds/r/{}", "y".repeat(40)));
        assert_eq!(long.chars().count(), 64);
        assert_eq!(session_safe("a b/c"), "a-b-c");
    }
}
