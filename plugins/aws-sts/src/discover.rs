//! `aws/discover` (ours): the IAM identities of the account the root config
//! reaches, for discovery, and the retirement of access keys.
//!
//! A read lists every IAM user with its access keys (age, status, last use
//! through `GetAccessKeyLastUsed`), its attached and inline policies (each
//! `*` action or resource named), and every role whose trust policy lets
//! someone outside the account assume it or whose policies have `*`. The
//! config's own access key and the roles this mount's roles assume are
//! marked managed. IAM calls run 16 at a time.
//!
//! A write deactivates (reversible), activates or deletes one access key:
//! a dry run unless `dry_run=false`, refused for a key used within
//! `active_days` (default 30) unless `force=true`, never the config's own.

use crate::clients::{aws_error, AwsClients, Clients};
use crate::config::{load_root, RootConfig};
use crate::policy_doc;
use futures::stream::{self, StreamExt, TryStreamExt};
use qm_plugin_sdk::params::{optional_bool, optional_str};
use qm_plugin_sdk::{PluginError, PluginStorage, Reply};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::Mutex;

const CONCURRENCY: usize = 16;
const DAY: i64 = 86_400;
const DEFAULT_ACTIVE_DAYS: i64 = 30;

/// The fields a retirement takes.
pub(crate) const FIELDS: &[&str] = &["access_key_id", "action", "dry_run", "force", "active_days"];

/// Policy documents by ARN, read once per scan.
type PolicyCache = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// The role ARNs this mount's roles assume, with the role's name.
async fn managed_role_arns(
    storage: &dyn PluginStorage,
) -> Result<BTreeMap<String, String>, PluginError> {
    let mut arns = BTreeMap::new();
    for name in storage.list("roles/").await? {
        let Some(role) = storage
            .get_json::<Map<String, Value>>(&format!("roles/{name}"))
            .await?
        else {
            continue;
        };
        for arn in role
            .get("role_arns")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            arns.insert(arn.to_string(), format!("roles/{name}"));
        }
    }
    Ok(arns)
}

/// Why a managed policy is broad, read through the cache.
async fn managed_policy_wildcards(
    aws: &AwsClients,
    cache: &PolicyCache,
    arn: &str,
    name: &str,
) -> Result<Vec<String>, PluginError> {
    if let Some(found) = cache.lock().await.get(arn) {
        return Ok(found.clone());
    }
    let policy = aws
        .iam
        .get_policy()
        .policy_arn(arn)
        .send()
        .await
        .map_err(|e| aws_error("iam:GetPolicy", e))?;
    let version = policy
        .policy()
        .and_then(|p| p.default_version_id())
        .unwrap_or("v1")
        .to_string();
    let document = aws
        .iam
        .get_policy_version()
        .policy_arn(arn)
        .version_id(version)
        .send()
        .await
        .map_err(|e| aws_error("iam:GetPolicyVersion", e))?;
    let found = document
        .policy_version()
        .and_then(|v| v.document())
        .and_then(policy_doc::parse)
        .map(|doc| policy_doc::wildcards(name, &doc))
        .unwrap_or_default();
    cache.lock().await.insert(arn.to_string(), found.clone());
    Ok(found)
}

/// One user with its keys and what its policies allow.
async fn user_entry(
    aws: &AwsClients,
    cache: &PolicyCache,
    user: aws_sdk_iam::types::User,
    own_key: &str,
) -> Result<(Value, Vec<Value>), PluginError> {
    let name = user.user_name().to_string();
    let keys = aws
        .iam
        .list_access_keys()
        .user_name(&name)
        .send()
        .await
        .map_err(|e| aws_error("iam:ListAccessKeys", e))?;
    let mut key_entries = Vec::new();
    let mut owns_config_key = false;
    for key in keys.access_key_metadata() {
        let Some(id) = key.access_key_id() else {
            continue;
        };
        let used = aws
            .iam
            .get_access_key_last_used()
            .access_key_id(id)
            .send()
            .await
            .map_err(|e| aws_error("iam:GetAccessKeyLastUsed", e))?;
        let last_used = used.access_key_last_used();
        let is_config = !own_key.is_empty() && id == own_key;
        owns_config_key |= is_config;
        key_entries.push(json!({
            "id": id,
            "user": name,
            "status": key.status().map(|s| s.as_str()),
            "created": key.create_date().map(|d| d.secs()),
            "last_used": last_used.and_then(|l| l.last_used_date()).map(|d| d.secs()),
            "last_used_service": last_used.map(|l| l.service_name()).filter(|s| *s != "N/A"),
            "managed_by": is_config.then_some("config"),
        }));
    }
    let attached = aws
        .iam
        .list_attached_user_policies()
        .user_name(&name)
        .send()
        .await
        .map_err(|e| aws_error("iam:ListAttachedUserPolicies", e))?;
    let mut policies = Vec::new();
    let mut wildcards = Vec::new();
    for policy in attached.attached_policies() {
        let (Some(arn), Some(policy_name)) = (policy.policy_arn(), policy.policy_name()) else {
            continue;
        };
        policies.push(policy_name.to_string());
        wildcards.extend(managed_policy_wildcards(aws, cache, arn, policy_name).await?);
    }
    let inline = aws
        .iam
        .list_user_policies()
        .user_name(&name)
        .send()
        .await
        .map_err(|e| aws_error("iam:ListUserPolicies", e))?;
    for policy_name in inline.policy_names() {
        let document = aws
            .iam
            .get_user_policy()
            .user_name(&name)
            .policy_name(policy_name)
            .send()
            .await
            .map_err(|e| aws_error("iam:GetUserPolicy", e))?;
        policies.push(format!("{policy_name} (inline)"));
        if let Some(doc) = policy_doc::parse(document.policy_document()) {
            wildcards.extend(policy_doc::wildcards(
                &format!("{policy_name} (inline)"),
                &doc,
            ));
        }
    }
    let entry = json!({
        "name": name,
        "arn": user.arn(),
        "created": user.create_date().secs(),
        "password_last_used": user.password_last_used().map(|d| d.secs()),
        "policies": policies,
        "wildcards": wildcards,
        "managed_by": owns_config_key.then_some("config"),
    });
    Ok((entry, key_entries))
}

/// The roles that trust someone outside `account` or allow `*`.
async fn risky_roles(
    aws: &AwsClients,
    cache: &PolicyCache,
    account: &str,
    managed: &BTreeMap<String, String>,
) -> Result<Vec<Value>, PluginError> {
    let mut roles = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .iam
            .list_roles()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| aws_error("iam:ListRoles", e))?;
        roles.extend(page.roles().iter().cloned());
        match (page.is_truncated(), page.marker()) {
            (true, Some(next)) => marker = Some(next.to_string()),
            _ => break,
        }
    }
    let entries: Vec<Option<Value>> = stream::iter(roles)
        .map(|role| async move {
            let trust = role
                .assume_role_policy_document()
                .and_then(policy_doc::parse)
                .map(|doc| policy_doc::outside_trust(&doc, account))
                .unwrap_or_default();
            let attached = aws
                .iam
                .list_attached_role_policies()
                .role_name(role.role_name())
                .send()
                .await
                .map_err(|e| aws_error("iam:ListAttachedRolePolicies", e))?;
            let mut policies = Vec::new();
            let mut wildcards = Vec::new();
            for policy in attached.attached_policies() {
                let (Some(arn), Some(name)) = (policy.policy_arn(), policy.policy_name()) else {
                    continue;
                };
                policies.push(name.to_string());
                wildcards.extend(managed_policy_wildcards(aws, cache, arn, name).await?);
            }
            if trust.is_empty() && wildcards.is_empty() {
                return Ok::<_, PluginError>(None);
            }
            Ok(Some(json!({
                "name": role.role_name(),
                "arn": role.arn(),
                "created": role.create_date().secs(),
                "trusted_from_outside": trust,
                "policies": policies,
                "wildcards": wildcards,
                "managed_by": managed.get(role.arn()),
            })))
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let mut entries: Vec<Value> = entries.into_iter().flatten().collect();
    entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Ok(entries)
}

/// The root config; discovery (unlike issuing) needs one written, so an
/// unconfigured mount never reaches for the machine's own credentials.
async fn configured_root(storage: &dyn PluginStorage) -> Result<RootConfig, PluginError> {
    if storage.get("config/root").await?.is_none() {
        return Err(PluginError::BadRequest(
            "aws/config/root is not written; discovery needs it (region alone uses the credential chain)".into(),
        ));
    }
    load_root(storage).await
}

/// `aws/discover` read: the account's IAM users, keys and risky roles.
pub(crate) async fn scan(
    clients: &Clients,
    storage: &dyn PluginStorage,
) -> Result<Reply, PluginError> {
    let config = configured_root(storage).await?;
    let aws = clients.get(&config).await?;
    let identity = aws
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("sts:GetCallerIdentity", e))?;
    let account = identity.account().unwrap_or_default().to_string();
    let mut users = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = aws
            .iam
            .list_users()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| aws_error("iam:ListUsers", e))?;
        users.extend(page.users().iter().cloned());
        match (page.is_truncated(), page.marker()) {
            (true, Some(next)) => marker = Some(next.to_string()),
            _ => break,
        }
    }
    let cache = PolicyCache::default();
    let own_key = config.access_key.clone();
    let found: Vec<(Value, Vec<Value>)> = stream::iter(users)
        .map(|user| user_entry(&aws, &cache, user, &own_key))
        .buffer_unordered(CONCURRENCY)
        .try_collect()
        .await?;
    let (mut user_entries, mut key_entries) = (Vec::new(), Vec::new());
    for (user, keys) in found {
        user_entries.push(user);
        key_entries.extend(keys);
    }
    user_entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    key_entries.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    let managed = managed_role_arns(storage).await?;
    let roles = risky_roles(&aws, &cache, &account, &managed).await?;
    Ok(Reply::json(json!({
        "account": account,
        "users": user_entries,
        "access_keys": key_entries,
        "roles": roles,
    })))
}

/// `aws/discover` write: deactivates, activates or deletes one access key.
pub(crate) async fn retire(
    clients: &Clients,
    storage: &dyn PluginStorage,
    data: &Map<String, Value>,
    now: i64,
) -> Result<Reply, PluginError> {
    let key_id = optional_str(data, "access_key_id")?
        .filter(|k| !k.is_empty())
        .ok_or_else(|| PluginError::BadRequest("access_key_id: required".into()))?;
    let action = optional_str(data, "action")?.unwrap_or("deactivate");
    if !matches!(action, "deactivate" | "activate" | "delete") {
        return Err(PluginError::BadRequest(format!(
            "action: {action:?} is not one of deactivate, activate, delete"
        )));
    }
    let dry_run = optional_bool(data, "dry_run")?.unwrap_or(true);
    let force = optional_bool(data, "force")?.unwrap_or(false);
    let active_days = match data.get("active_days") {
        None => DEFAULT_ACTIVE_DAYS,
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|d| (0..=36_500).contains(d))
            .ok_or_else(|| {
                PluginError::BadRequest("active_days: a number of days, 0 to 36500".into())
            })?,
    };
    let config = configured_root(storage).await?;
    if key_id == config.access_key {
        return Err(PluginError::BadRequest(
            "this is the mount's own access key; rotate it with config/rotate-root".into(),
        ));
    }
    let aws = clients.get(&config).await?;
    let used = aws
        .iam
        .get_access_key_last_used()
        .access_key_id(key_id)
        .send()
        .await
        .map_err(|e| aws_error("iam:GetAccessKeyLastUsed", e))?;
    let user = used.user_name().unwrap_or_default().to_string();
    let last_used = used
        .access_key_last_used()
        .and_then(|l| l.last_used_date())
        .map(|d| d.secs());
    let recently =
        last_used.is_some_and(|at| now.saturating_sub(at) < active_days.saturating_mul(DAY));
    let refused = (recently && !force && action != "activate").then(|| {
        format!("{key_id} was used within the last {active_days} days; retire it with force=true")
    });
    let answer = json!({
        "access_key_id": key_id,
        "user": user,
        "action": action,
        "dry_run": dry_run,
        "last_used": last_used,
        "refused": refused,
    });
    if dry_run {
        return Ok(Reply::json(answer));
    }
    if let Some(why) = refused {
        return Err(PluginError::BadRequest(why));
    }
    use aws_sdk_iam::types::StatusType;
    match action {
        "delete" => aws
            .iam
            .delete_access_key()
            .user_name(&user)
            .access_key_id(key_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("iam:DeleteAccessKey", e))?,
        other => aws
            .iam
            .update_access_key()
            .user_name(&user)
            .access_key_id(key_id)
            .status(match other {
                "activate" => StatusType::Active,
                _ => StatusType::Inactive,
            })
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("iam:UpdateAccessKey", e))?,
    }
    Ok(Reply::json(answer))
}
