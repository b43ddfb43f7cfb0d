//! The passwords this engine sets (dynamic users, static-role rotations,
//! `rotate-root`): under the config's `password_policy` (a core policy,
//! `sys/policies/password/NAME`) when it names one, else under the SDK's
//! default policy. A policy deleted after the config named it makes the
//! next password a 400 that says so, never a weaker default.

use crate::config::DbConfig;
use qm_plugin_sdk::password::PasswordPolicy;
use qm_plugin_sdk::{PluginError, PluginStorage};

fn missing(name: &str, db_name: &str) -> PluginError {
    PluginError::BadRequest(format!(
        "password policy {name:?} of database config {db_name:?} does not exist \
         (write sys/policies/password/{name}, or change the config's password_policy)"
    ))
}

/// Refuses a `password_policy` that names no existing policy (at config
/// write).
pub(crate) async fn check_policy(
    storage: &dyn PluginStorage,
    name: &str,
    db_name: &str,
) -> Result<(), PluginError> {
    match storage.password_policy(name).await? {
        Some(_) => Ok(()),
        None => Err(missing(name, db_name)),
    }
}

/// A new password for a user of database config `db_name`.
pub(crate) async fn generate(
    storage: &dyn PluginStorage,
    config: &DbConfig,
    db_name: &str,
) -> Result<String, PluginError> {
    if config.password_policy.is_empty() {
        return Ok(PasswordPolicy::default().generate());
    }
    let policy = storage
        .password_policy(&config.password_policy)
        .await?
        .ok_or_else(|| missing(&config.password_policy, db_name))?;
    Ok(policy.generate())
}
