//! The users issued for dynamic roles (`database/creds/NAME`): plan,
//! create, renew and drop them through the config's driver, and the
//! `users/DB/NAME` records reconciliation reads.

use crate::config::load as load_config;
use crate::connections::Connections;
use crate::driver::{DriverError, NewUser};
use crate::roles::load as load_role;
use crate::{names, passwords};
use qm_plugin_sdk::ttl::{lease_ttls, LeaseTtls};
use qm_plugin_sdk::{
    Internal, LeaseInfo, PluginError, PluginStorage, Reply, Request, SecretPlan, Write,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a lease of this engine remembers: enough to create, renew and
/// revoke the user even if its role changes or goes, never the password.
/// Stored as JSON with the lease (field names are the on-disk format); a
/// record missing a field is an error, never an empty username.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UserLease {
    pub(crate) db_name: String,
    pub(crate) username: String,
    pub(crate) creation_statements: Vec<String>,
    pub(crate) revocation_statements: Vec<String>,
    pub(crate) renew_statements: Vec<String>,
    pub(crate) rollback_statements: Vec<String>,
}

/// What `users/DB/NAME` holds for a user this mount created: its role and
/// when its lease ends (kept current on renewal), so reconciliation can tell
/// a user whose lease is over from a live one.
#[derive(Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) expire_at: Option<i64>,
}

impl UserRecord {
    /// Reads a record; records written before lease ends were kept are the
    /// role name alone (a JSON string), with no known end.
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Self {
            role: serde_json::from_slice(bytes).unwrap_or_default(),
            expire_at: None,
        })
    }
}

fn user_key(db_name: &str, username: &str) -> String {
    format!("users/{db_name}/{username}")
}

/// Plans a new user for `role_name`. Records the username under
/// `users/DB/NAME` first: reconciliation only ever considers recorded names.
pub(crate) async fn plan_credentials(
    connections: &Connections,
    storage: &dyn PluginStorage,
    role_name: &str,
    req: &Request<'_>,
) -> Result<Reply, PluginError> {
    let role = load_role(storage, role_name).await?;
    let config = load_config(storage, &role.db_name).await?;
    if !config.allows(role_name) {
        return Err(PluginError::BadRequest(format!(
            "{role_name:?} is not an allowed role of database {:?} (allowed_roles)",
            role.db_name
        )));
    }
    let LeaseTtls { ttl, max_ttl } = lease_ttls(
        role.default_ttl,
        role.max_ttl,
        req.mount_default_ttl,
        req.mount_max_ttl,
    );
    let max_len = connections
        .find(&config.plugin_name)?
        .max_username_len(&config.plugin_name);
    let username = names::username(
        &config.username_template,
        req.display_name,
        role_name,
        req.now,
        max_len,
    )?;
    let password = passwords::generate(storage, &config, &role.db_name).await?;
    // Durable with the pending lease the core writes next, before the user exists.
    let record = UserRecord {
        role: role_name.to_string(),
        expire_at: Some(req.now.saturating_add(ttl)),
    };
    storage
        .write_relaxed(vec![Write::Put(
            user_key(&role.db_name, &username),
            serde_json::to_vec(&record).map_err(|e| PluginError::Storage(e.to_string()))?,
        )])
        .await?;
    let internal = UserLease {
        db_name: role.db_name.clone(),
        username: username.clone(),
        creation_statements: role.creation_statements.clone(),
        revocation_statements: role.revocation_statements.clone(),
        renew_statements: role.renew_statements.clone(),
        rollback_statements: role.rollback_statements.clone(),
    };
    let mut data = Map::new();
    data.insert("username".into(), Value::String(username));
    data.insert("password".into(), Value::String(password));
    Ok(Reply::Secret(SecretPlan {
        role: role_name.to_string(),
        data,
        internal: Internal::encode(&internal)?,
        ttl,
        max_ttl,
        renewable: true,
        warnings: Vec::new(),
        max_active_leases: (role.max_active_leases > 0).then_some(role.max_active_leases),
    }))
}

/// Runs the creation statements through the config's driver.
pub(crate) async fn create_user(
    connections: &Connections,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
    secret: &Map<String, Value>,
) -> Result<(), PluginError> {
    let user: UserLease = lease.decode()?;
    let password = secret
        .get("password")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            PluginError::Storage(format!(
                "the plan of lease {} carries no password",
                lease.lease_id
            ))
        })?;
    let connection = connections.get(storage, &user.db_name).await?;
    let new_user = NewUser {
        username: &user.username,
        password,
        statements: &user.creation_statements,
        expire_at: lease.expire_at,
    };
    connection
        .new_user(&new_user)
        .await
        .map_err(|e| e.into_plugin_error("creation statements"))
}

/// Moves the user's expiry to the lease's new end.
pub(crate) async fn renew_user(
    connections: &Connections,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
) -> Result<(), PluginError> {
    let user: UserLease = lease.decode()?;
    let connection = connections.get(storage, &user.db_name).await?;
    connection
        .update_expiration(&user.username, &user.renew_statements, lease.expire_at)
        .await
        .map_err(|e| e.into_plugin_error("renew statements"))?;
    // The lease's new end, durable with the lease record the core writes next.
    let key = user_key(&user.db_name, &user.username);
    let mut record = match storage.get(&key).await? {
        Some(bytes) => UserRecord::parse(&bytes),
        None => return Ok(()),
    };
    record.expire_at = Some(lease.expire_at);
    storage
        .write_relaxed(vec![Write::Put(
            key,
            serde_json::to_vec(&record).map_err(|e| PluginError::Storage(e.to_string()))?,
        )])
        .await
}

/// Whether the lease's user exists in its database.
pub(crate) async fn user_exists(
    connections: &Connections,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
) -> Result<bool, PluginError> {
    let user: UserLease = lease.decode()?;
    let connection = connections.get(storage, &user.db_name).await?;
    let existing = connection
        .existing_users(std::slice::from_ref(&user.username))
        .await
        .map_err(|e| e.into_plugin_error("listing database users"))?;
    Ok(existing.contains(&user.username))
}

/// Whether the lease's database answers a trivial query now; `None` when
/// its config is gone or unreadable (no probe can tell).
pub(crate) async fn reachable(
    connections: &Connections,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
) -> Option<bool> {
    let user: UserLease = lease.decode().ok()?;
    let connection = connections.get(storage, &user.db_name).await.ok()?;
    Some(connection.verify().await.is_ok())
}

/// Drops the user (revocation, or rollback of a pending lease) and forgets it.
pub(crate) async fn drop_user(
    connections: &Connections,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
    rollback: bool,
) -> Result<(), PluginError> {
    let user: UserLease = lease.decode()?;
    let connection = connections.get(storage, &user.db_name).await?;
    let statements = if rollback && !user.rollback_statements.is_empty() {
        &user.rollback_statements
    } else {
        &user.revocation_statements
    };
    connection
        .delete_user(&user.username, statements)
        .await
        .map_err(|e| {
            let message = format!("revoking user {}: {}", user.username, e.message());
            match e {
                DriverError::Connection(_) => PluginError::Unreachable(message),
                DriverError::Statement(_) => PluginError::Backend(message),
            }
        })?;
    // Durable with the lease deletion the core writes next.
    storage
        .write_relaxed(vec![Write::Delete(user_key(&user.db_name, &user.username))])
        .await
}
