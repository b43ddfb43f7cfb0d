//! `config/root` (how to reach AWS; the secret key is stored, never shown),
//! `config/rotate-root` (a new access key, through IAM) and `config/lease`
//! (default and max lease TTL for this mount).

use crate::clients::{aws_error, Clients};
use qm_plugin_sdk::params::{optional_duration, optional_str, optional_u64};
use qm_plugin_sdk::{PluginError, PluginStorage, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RootConfig {
    pub(crate) access_key: String,
    pub(crate) secret_key: String,
    pub(crate) region: String,
    pub(crate) sts_endpoint: String,
    pub(crate) iam_endpoint: String,
    pub(crate) max_retries: u32,
    /// Bumped on every change; clients are rebuilt when it moves.
    pub(crate) version: u64,
}

impl std::fmt::Debug for RootConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootConfig")
            .field("access_key", &self.access_key)
            .field("secret_key", &"<redacted>")
            .field("region", &self.region)
            .finish()
    }
}

#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct LeaseConfig {
    pub(crate) lease: i64,
    pub(crate) lease_max: i64,
}

/// The root config; without one, the credential chain and us-east-1.
/// The fields `aws/config/root` takes.
pub(crate) const ROOT_FIELDS: &[&str] = &[
    "access_key",
    "secret_key",
    "region",
    "sts_endpoint",
    "iam_endpoint",
    "max_retries",
];

/// The fields `aws/config/lease` takes.
pub(crate) const LEASE_FIELDS: &[&str] = &["lease", "lease_max"];

pub(crate) async fn load_root(storage: &dyn PluginStorage) -> Result<RootConfig, PluginError> {
    Ok(storage
        .get_json::<RootConfig>("config/root")
        .await?
        .unwrap_or(RootConfig {
            access_key: String::new(),
            secret_key: String::new(),
            region: "us-east-1".into(),
            sts_endpoint: String::new(),
            iam_endpoint: String::new(),
            max_retries: 3,
            version: 0,
        }))
}

pub(crate) async fn read_root(storage: &dyn PluginStorage) -> Result<Reply, PluginError> {
    let config = storage
        .get_json::<RootConfig>("config/root")
        .await?
        .ok_or(PluginError::NotFound)?;
    Ok(Reply::json(json!({
        "access_key": config.access_key,
        "region": config.region,
        "sts_endpoint": config.sts_endpoint,
        "iam_endpoint": config.iam_endpoint,
        "max_retries": config.max_retries,
    })))
}

pub(crate) async fn write_root(
    clients: &Clients,
    storage: &dyn PluginStorage,
    data: &Map<String, Value>,
) -> Result<Reply, PluginError> {
    let mut config = load_root(storage).await?;
    for (field, target) in [
        ("access_key", &mut config.access_key),
        ("secret_key", &mut config.secret_key),
        ("region", &mut config.region),
        ("sts_endpoint", &mut config.sts_endpoint),
        ("iam_endpoint", &mut config.iam_endpoint),
    ] {
        if let Some(value) = optional_str(data, field)? {
            *target = value.to_string();
        }
    }
    if config.access_key.is_empty() != config.secret_key.is_empty() {
        return Err(PluginError::BadRequest(
            "access_key and secret_key: give both, or neither to use the standard AWS credential chain".into(),
        ));
    }
    for (field, url) in [
        ("sts_endpoint", &config.sts_endpoint),
        ("iam_endpoint", &config.iam_endpoint),
    ] {
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(PluginError::BadRequest(format!(
                "{field}: must be an http(s) URL"
            )));
        }
    }
    if config.region.is_empty() {
        config.region = "us-east-1".into();
    }
    if let Some(retries) = optional_u64(data, "max_retries")? {
        config.max_retries = u32::try_from(retries.min(20)).unwrap_or(3);
    }
    config.version = config.version.saturating_add(1);
    storage.put_json("config/root", &config).await?;
    clients.get(&config).await?;
    Ok(Reply::Empty)
}

/// Replaces the root access key with a new one created through IAM, then
/// deletes the old key. The new secret is stored and never shown.
pub(crate) async fn rotate_root(
    clients: &Clients,
    storage: &dyn PluginStorage,
) -> Result<Reply, PluginError> {
    let mut config = load_root(storage).await?;
    if config.access_key.is_empty() {
        return Err(PluginError::BadRequest(
            "rotate-root needs access_key/secret_key in config/root (credentials from the chain are not ours to rotate)".into(),
        ));
    }
    let aws = clients.get(&config).await?;
    let user = aws
        .iam
        .get_user()
        .send()
        .await
        .map_err(|e| aws_error("iam:GetUser", e))?;
    let user_name = user
        .user()
        .map(|u| u.user_name().to_string())
        .unwrap_or_default();
    let created = aws
        .iam
        .create_access_key()
        .user_name(&user_name)
        .send()
        .await
        .map_err(|e| aws_error("iam:CreateAccessKey", e))?;
    let key = created
        .access_key()
        .ok_or_else(|| PluginError::Backend("iam:CreateAccessKey returned no key".into()))?;
    let old = config.access_key.clone();
    config.access_key = key.access_key_id().to_string();
    config.secret_key = key.secret_access_key().to_string();
    config.version = config.version.saturating_add(1);
    storage.put_json("config/root", &config).await?;
    let fresh = clients.get(&config).await?;
    fresh
        .iam
        .delete_access_key()
        .user_name(&user_name)
        .access_key_id(&old)
        .send()
        .await
        .map_err(|e| aws_error("iam:DeleteAccessKey (the new key is stored and in use)", e))?;
    Ok(Reply::json(json!({ "access_key": config.access_key })))
}

pub(crate) async fn load_lease(storage: &dyn PluginStorage) -> Result<LeaseConfig, PluginError> {
    Ok(storage
        .get_json::<LeaseConfig>("config/lease")
        .await?
        .unwrap_or_default())
}

pub(crate) async fn read_lease(storage: &dyn PluginStorage) -> Result<Reply, PluginError> {
    let config = storage
        .get_json::<LeaseConfig>("config/lease")
        .await?
        .ok_or(PluginError::NotFound)?;
    Ok(Reply::json(
        json!({ "lease": config.lease, "lease_max": config.lease_max }),
    ))
}

pub(crate) async fn write_lease(
    storage: &dyn PluginStorage,
    data: &Map<String, Value>,
) -> Result<Reply, PluginError> {
    let mut config = load_lease(storage).await?;
    if let Some(lease) = optional_duration(data, "lease")? {
        config.lease = lease;
    }
    if let Some(max) = optional_duration(data, "lease_max")? {
        config.lease_max = max;
    }
    if config.lease_max > 0 && config.lease > config.lease_max {
        return Err(PluginError::BadRequest(
            "lease: must not exceed lease_max".into(),
        ));
    }
    storage.put_json("config/lease", &config).await?;
    Ok(Reply::Empty)
}
