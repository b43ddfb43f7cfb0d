//! Creating a planned session at STS (AssumeRole, GetFederationToken or
//! GetSessionToken), once the core has recorded its lease, and the
//! credentials the caller gets back.

use crate::clients::{aws_error, AwsClients, Clients};
use crate::config::load_root;
use crate::creds::SessionPlan;
use crate::names::{default_session_name, federation_name};
use crate::roles::{self, AwsRole, CredentialType};
use aws_sdk_sts::types::{Credentials, PolicyDescriptorType, Tag};
use qm_plugin_sdk::{LeaseInfo, PluginError, PluginStorage};
use serde_json::{Map, Value};

/// How a role narrows its sessions: an inline policy, managed policy ARNs
/// and session tags (each `None` when the role sets none).
struct Scope {
    policy: Option<String>,
    policy_arns: Option<Vec<PolicyDescriptorType>>,
    tags: Option<Vec<Tag>>,
}

impl Scope {
    fn of(role: &AwsRole) -> Result<Self, PluginError> {
        let policy = (!role.policy_document.is_empty()).then(|| role.policy_document.clone());
        let policy_arns = (!role.policy_arns.is_empty()).then(|| {
            role.policy_arns
                .iter()
                .map(|arn| PolicyDescriptorType::builder().arn(arn).build())
                .collect()
        });
        let tags = if role.session_tags.is_empty() {
            None
        } else {
            Some(
                role.session_tags
                    .iter()
                    .map(|(k, v)| Tag::builder().key(k).value(v).build())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| PluginError::BadRequest(format!("session_tags: {e}")))?,
            )
        };
        Ok(Self {
            policy,
            policy_arns,
            tags,
        })
    }
}

/// A session STS created: its credentials and the caller's ARN.
struct Session {
    credentials: Option<Credentials>,
    arn: String,
}

/// Calls STS for a planned session; returns the credentials for the caller.
pub(crate) async fn issue(
    clients: &Clients,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
) -> Result<Map<String, Value>, PluginError> {
    let plan: SessionPlan = lease.decode()?;
    let role = roles::load(storage, &plan.role).await?;
    let aws = clients.get(&load_root(storage).await?).await?;
    let scope = Scope::of(&role)?;
    let duration = i32::try_from(plan.ttl).unwrap_or(i32::MAX);
    let session_name = plan
        .role_session_name
        .clone()
        .unwrap_or_else(|| default_session_name(&plan.display_name, &lease.lease_id));
    let session = match plan.credential_type {
        CredentialType::AssumedRole => {
            let arn = plan.role_arn.as_deref().ok_or_else(|| {
                PluginError::Storage(format!(
                    "lease record for {} is missing field `role_arn` (an assumed_role session)",
                    lease.lease_id
                ))
            })?;
            assume_role(&aws, &role, arn, &session_name, duration, scope).await?
        }
        CredentialType::FederationToken => {
            federation_token(&aws, &plan.display_name, duration, scope).await?
        }
        CredentialType::SessionToken => session_token(&aws, duration).await?,
    };
    let credentials = session
        .credentials
        .ok_or_else(|| PluginError::Backend("STS returned no credentials".into()))?;
    Ok(caller_data(&credentials, session.arn, session_name))
}

async fn assume_role(
    aws: &AwsClients,
    role: &AwsRole,
    arn: &str,
    session_name: &str,
    duration: i32,
    scope: Scope,
) -> Result<Session, PluginError> {
    let out = aws
        .sts
        .assume_role()
        .role_arn(arn)
        .role_session_name(session_name)
        .duration_seconds(duration)
        .set_policy(scope.policy)
        .set_policy_arns(scope.policy_arns)
        .set_tags(scope.tags)
        .set_external_id((!role.external_id.is_empty()).then(|| role.external_id.clone()))
        .send()
        .await
        .map_err(|e| aws_error(&format!("sts:AssumeRole on {arn}"), e))?;
    let arn = out
        .assumed_role_user()
        .map(|u| u.arn().to_string())
        .unwrap_or_default();
    Ok(Session {
        credentials: out.credentials,
        arn,
    })
}

async fn federation_token(
    aws: &AwsClients,
    display_name: &str,
    duration: i32,
    scope: Scope,
) -> Result<Session, PluginError> {
    let out = aws
        .sts
        .get_federation_token()
        .name(federation_name(display_name))
        .duration_seconds(duration)
        .set_policy(scope.policy)
        .set_policy_arns(scope.policy_arns)
        .set_tags(scope.tags)
        .send()
        .await
        .map_err(|e| aws_error("sts:GetFederationToken", e))?;
    let arn = out
        .federated_user()
        .map(|u| u.arn().to_string())
        .unwrap_or_default();
    Ok(Session {
        credentials: out.credentials,
        arn,
    })
}

async fn session_token(aws: &AwsClients, duration: i32) -> Result<Session, PluginError> {
    let out = aws
        .sts
        .get_session_token()
        .duration_seconds(duration)
        .send()
        .await
        .map_err(|e| aws_error("sts:GetSessionToken", e))?;
    Ok(Session {
        credentials: out.credentials,
        arn: String::new(),
    })
}

/// The caller's data, as Vault's AWS engine answers it.
fn caller_data(credentials: &Credentials, arn: String, session_name: String) -> Map<String, Value> {
    let text = |s: &str| Value::String(s.to_string());
    let mut data = Map::new();
    data.insert("access_key".into(), text(credentials.access_key_id()));
    data.insert("secret_key".into(), text(credentials.secret_access_key()));
    data.insert("security_token".into(), text(credentials.session_token()));
    data.insert("session_token".into(), text(credentials.session_token()));
    data.insert("arn".into(), Value::String(arn));
    data.insert("session_name".into(), Value::String(session_name));
    data
}
