//! `roles/NAME`: what a caller may get from STS, and
//! `roles/NAME/revoke-sessions`: end every session issued so far.

use crate::clients::{aws_error, Clients};
use crate::config::load_root;
use qm_plugin_sdk::params::{
    optional_duration, optional_str, optional_string_map, optional_strings,
};
use qm_plugin_sdk::{PluginError, PluginStorage, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// STS's own bounds, in seconds.
pub(crate) const MIN_TTL: i64 = 900;
pub(crate) const MAX_ASSUMED_ROLE_TTL: i64 = 12 * 3600;
pub(crate) const MAX_TOKEN_TTL: i64 = 36 * 3600;
pub(crate) const MAX_TTL_FROM_SESSION: i64 = 3600;

/// The inline policy `revoke-sessions` attaches (the name AWS's console uses).
pub(crate) const REVOKE_POLICY_NAME: &str = "AWSRevokeOlderSessions";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum CredentialType {
    AssumedRole,
    FederationToken,
    SessionToken,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AwsRole {
    pub(crate) credential_type: CredentialType,
    pub(crate) role_arns: Vec<String>,
    pub(crate) policy_document: String,
    pub(crate) policy_arns: Vec<String>,
    pub(crate) default_sts_ttl: i64,
    pub(crate) max_sts_ttl: i64,
    pub(crate) session_tags: BTreeMap<String, String>,
    pub(crate) external_id: String,
}

fn key(name: &str) -> String {
    format!("roles/{name}")
}

/// The fields `aws/roles/NAME` takes.
pub(crate) const FIELDS: &[&str] = &[
    "credential_type",
    "role_arns",
    "policy_arns",
    "policy_document",
    "default_sts_ttl",
    "max_sts_ttl",
    "session_tags",
    "external_id",
];

pub(crate) async fn load(storage: &dyn PluginStorage, name: &str) -> Result<AwsRole, PluginError> {
    storage
        .get_json::<AwsRole>(&key(name))
        .await?
        .ok_or_else(|| PluginError::BadRequest(format!("unknown role: {name}")))
}

pub(crate) async fn list(storage: &dyn PluginStorage) -> Result<Reply, PluginError> {
    Reply::keys(storage.list("roles/").await?)
}

pub(crate) async fn read(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    let role = storage
        .get_json::<AwsRole>(&key(name))
        .await?
        .ok_or(PluginError::NotFound)?;
    let data = json!({
        "credential_type": role.credential_type,
        "role_arns": role.role_arns,
        "policy_document": role.policy_document,
        "policy_arns": role.policy_arns,
        "default_sts_ttl": role.default_sts_ttl,
        "max_sts_ttl": role.max_sts_ttl,
        "session_tags": role.session_tags,
        "external_id": role.external_id,
    });
    Ok(Reply::json(data))
}

pub(crate) async fn write(
    storage: &dyn PluginStorage,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply, PluginError> {
    if name.contains('/') {
        return Err(PluginError::BadRequest(format!(
            "invalid role name {name:?}"
        )));
    }
    let existing = storage.get_json::<AwsRole>(&key(name)).await?;
    let credential_type = match optional_str(data, "credential_type")? {
        Some("assumed_role") => CredentialType::AssumedRole,
        Some("federation_token") => CredentialType::FederationToken,
        Some("session_token") => CredentialType::SessionToken,
        Some("iam_user") => {
            return Err(PluginError::BadRequest(
                "credential_type: iam_user is not supported (long-lived IAM users are what this broker replaces); use assumed_role, federation_token or session_token".into(),
            ))
        }
        Some(other) => {
            return Err(PluginError::BadRequest(format!(
                "credential_type: {other:?} is not one of assumed_role, federation_token, session_token"
            )))
        }
        None => existing
            .as_ref()
            .map(|r| r.credential_type)
            .ok_or_else(|| PluginError::BadRequest("credential_type: required".into()))?,
    };
    let mut role = existing.unwrap_or(AwsRole {
        credential_type,
        role_arns: Vec::new(),
        policy_document: String::new(),
        policy_arns: Vec::new(),
        default_sts_ttl: 0,
        max_sts_ttl: 0,
        session_tags: BTreeMap::new(),
        external_id: String::new(),
    });
    role.credential_type = credential_type;
    if let Some(arns) = optional_strings(data, "role_arns")? {
        role.role_arns = arns;
    }
    if let Some(arns) = optional_strings(data, "policy_arns")? {
        role.policy_arns = arns;
    }
    if let Some(document) = optional_str(data, "policy_document")? {
        if !document.trim().is_empty() && serde_json::from_str::<Value>(document).is_err() {
            return Err(PluginError::BadRequest(
                "policy_document: not valid JSON".into(),
            ));
        }
        role.policy_document = document.to_string();
    }
    if let Some(ttl) = optional_duration(data, "default_sts_ttl")? {
        role.default_sts_ttl = ttl;
    }
    if let Some(ttl) = optional_duration(data, "max_sts_ttl")? {
        role.max_sts_ttl = ttl;
    }
    if let Some(tags) = optional_string_map(data, "session_tags")? {
        role.session_tags = tags;
    }
    if let Some(id) = optional_str(data, "external_id")? {
        role.external_id = id.to_string();
    }
    validate(&role)?;
    storage.put_json(&key(name), &role).await?;
    Ok(Reply::Empty)
}

fn validate(role: &AwsRole) -> Result<(), PluginError> {
    let bad = |m: String| Err(PluginError::BadRequest(m));
    match role.credential_type {
        CredentialType::AssumedRole if role.role_arns.is_empty() => {
            return bad("role_arns: an assumed_role role needs at least one IAM role ARN".into())
        }
        CredentialType::AssumedRole => {
            if let Some(arn) = role.role_arns.iter().find(|a| !a.starts_with("arn:") || !a.contains(":role/")) {
                return bad(format!("role_arns: {arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"));
            }
        }
        _ if !role.role_arns.is_empty() => {
            return bad("role_arns: only assumed_role roles take role ARNs".into())
        }
        CredentialType::SessionToken if !role.policy_document.is_empty() || !role.policy_arns.is_empty() => {
            return bad("policy_document, policy_arns: session_token credentials cannot be scoped by policy".into())
        }
        _ => {}
    }
    let ceiling = match role.credential_type {
        CredentialType::AssumedRole => MAX_ASSUMED_ROLE_TTL,
        _ => MAX_TOKEN_TTL,
    };
    for (field, ttl) in [
        ("default_sts_ttl", role.default_sts_ttl),
        ("max_sts_ttl", role.max_sts_ttl),
    ] {
        if ttl != 0 && !(MIN_TTL..=ceiling).contains(&ttl) {
            return bad(format!("{field}: STS allows {MIN_TTL} to {ceiling} seconds for this credential type, not {ttl}"));
        }
    }
    if role.max_sts_ttl > 0 && role.default_sts_ttl > role.max_sts_ttl {
        return bad("default_sts_ttl: must not exceed max_sts_ttl".into());
    }
    Ok(())
}

pub(crate) async fn delete(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    storage.delete(&key(name)).await?;
    Ok(Reply::Empty)
}

/// The IAM role name in a role ARN (`arn:aws:iam::1:role/path/NAME` → NAME).
pub(crate) fn role_name(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// A deny-all policy for sessions issued before `issued_before` (RFC 3339).
pub(crate) fn revoke_policy(issued_before: &str) -> String {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Deny",
            "Action": ["*"],
            "Resource": ["*"],
            "Condition": { "DateLessThan": { "aws:TokenIssueTime": issued_before } }
        }]
    })
    .to_string()
}

/// Ends every session issued so far for the role's IAM roles: attaches a
/// deny policy conditioned on the token issue time (new sessions keep
/// working), then asks the core to revoke the matching leases.
pub(crate) async fn revoke_sessions(
    clients: &Clients,
    storage: &dyn PluginStorage,
    name: &str,
    now: i64,
) -> Result<Reply, PluginError> {
    let role = load(storage, name).await?;
    if role.credential_type != CredentialType::AssumedRole {
        return Err(PluginError::BadRequest(
            "revoke-sessions works for assumed_role roles: it attaches a deny policy to their IAM roles".into(),
        ));
    }
    let config = load_root(storage).await?;
    let aws = clients.get(&config).await?;
    let secs = u64::try_from(now).unwrap_or(0);
    let issued_before = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(secs))
            .unwrap_or(std::time::UNIX_EPOCH),
    )
    .to_string();
    let policy = revoke_policy(&issued_before);
    for arn in &role.role_arns {
        aws.iam
            .put_role_policy()
            .role_name(role_name(arn))
            .policy_name(REVOKE_POLICY_NAME)
            .policy_document(&policy)
            .send()
            .await
            .map_err(|e| aws_error(&format!("iam:PutRolePolicy on {arn}"), e))?;
    }
    let mut data = Map::new();
    data.insert("role_arns".into(), json!(role.role_arns));
    data.insert("policy_name".into(), json!(REVOKE_POLICY_NAME));
    data.insert(
        "revoked_sessions_issued_before".into(),
        json!(issued_before),
    );
    Ok(Reply::RevokeLeases {
        prefixes: vec![format!("creds/{name}/"), format!("sts/{name}/")],
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_and_revoke_policy() {
        assert_eq!(
            role_name("arn:aws:iam::123456789012:role/ci/deploy"),
            "deploy"
        );
        let policy: Value = serde_json::from_str(&revoke_policy("2026-01-01T00:00:00Z")).unwrap();
        assert_eq!(policy["Statement"][0]["Effect"], "Deny");
        assert_eq!(
            policy["Statement"][0]["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
            "2026-01-01T00:00:00Z"
        );
    }

    #[test]
    fn sts_limits_are_checked_at_write() {
        let mut role = AwsRole {
            credential_type: CredentialType::AssumedRole,
            role_arns: vec!["arn:aws:iam::1:role/deploy".into()],
            policy_document: String::new(),
            policy_arns: Vec::new(),
            default_sts_ttl: 0,
            max_sts_ttl: 13 * 3600,
            session_tags: BTreeMap::new(),
            external_id: String::new(),
        };
        assert!(validate(&role).is_err(), "12 h is the assumed-role ceiling");
        role.max_sts_ttl = 3600;
        assert!(validate(&role).is_ok());
        role.role_arns = vec!["deploy".into()];
        assert!(validate(&role).is_err());
        role.credential_type = CredentialType::FederationToken;
        role.role_arns.clear();
        role.max_sts_ttl = 30 * 3600;
        assert!(validate(&role).is_ok(), "36 h for federation tokens");
    }
}
