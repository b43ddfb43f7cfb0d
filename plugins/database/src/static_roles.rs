//! Static roles: an existing database user whose password the broker owns
//! and rotates every `rotation_period` (and on `rotate-role`).

use crate::config::load as load_config;
use crate::connections::Connections;
use crate::passwords;
use qm_plugin_sdk::params::{optional_duration, optional_str};
use qm_plugin_sdk::{PluginError, PluginStorage, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Vault's floor for rotation periods.
const MIN_ROTATION_PERIOD: i64 = 5;

#[derive(Clone, Serialize, Deserialize)]
struct StaticRole {
    db_name: String,
    username: String,
    rotation_period: i64,
    rotation_statements: Vec<String>,
    password: String,
    last_rotation: i64,
}

/// The fields `database/static-roles/NAME` takes.
pub(crate) const FIELDS: &[&str] = &[
    "db_name",
    "username",
    "rotation_period",
    "rotation_statements",
];

fn key(name: &str) -> String {
    format!("static-roles/{name}")
}

fn rfc3339(unix: i64) -> String {
    let secs = u64::try_from(unix).unwrap_or(0);
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH
            .checked_add(std::time::Duration::from_secs(secs))
            .unwrap_or(std::time::UNIX_EPOCH),
    )
    .to_string()
}

async fn load(storage: &dyn PluginStorage, name: &str) -> Result<StaticRole, PluginError> {
    storage
        .get_json::<StaticRole>(&key(name))
        .await?
        .ok_or_else(|| PluginError::BadRequest(format!("unknown static role: {name}")))
}

pub(crate) async fn list(storage: &dyn PluginStorage) -> Result<Reply, PluginError> {
    Reply::keys(storage.list("static-roles/").await?)
}

pub(crate) async fn read(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    let role = storage
        .get_json::<StaticRole>(&key(name))
        .await?
        .ok_or(PluginError::NotFound)?;
    let data = json!({
        "db_name": role.db_name,
        "username": role.username,
        "rotation_period": role.rotation_period,
        "rotation_statements": role.rotation_statements,
        "last_vault_rotation": rfc3339(role.last_rotation),
    });
    Ok(Reply::json(data))
}

/// Creates or updates a static role; a new one is rotated at once, so the
/// broker knows the password from the start.
pub(crate) async fn write(
    connections: &Connections,
    storage: &dyn PluginStorage,
    name: &str,
    data: &Map<String, Value>,
    now: i64,
) -> Result<Reply, PluginError> {
    let existing = storage.get_json::<StaticRole>(&key(name)).await?;
    let is_new = existing.is_none();
    let mut role = existing.unwrap_or(StaticRole {
        db_name: String::new(),
        username: String::new(),
        rotation_period: 0,
        rotation_statements: Vec::new(),
        password: String::new(),
        last_rotation: 0,
    });
    if let Some(db) = optional_str(data, "db_name")? {
        role.db_name = db.to_string();
    }
    if let Some(username) = optional_str(data, "username")? {
        if !is_new && username != role.username {
            return Err(PluginError::BadRequest(
                "username: cannot be changed on an existing static role".into(),
            ));
        }
        role.username = username.to_string();
    }
    if let Some(period) = optional_duration(data, "rotation_period")? {
        role.rotation_period = period;
    }
    if data.contains_key("rotation_statements") {
        role.rotation_statements = crate::roles::statements(data, "rotation_statements")?;
    }
    if role.db_name.is_empty() || role.username.is_empty() {
        return Err(PluginError::BadRequest(
            "db_name and username: required".into(),
        ));
    }
    if role.rotation_period < MIN_ROTATION_PERIOD {
        return Err(PluginError::BadRequest(format!(
            "rotation_period: must be at least {MIN_ROTATION_PERIOD} seconds"
        )));
    }
    let config = load_config(storage, &role.db_name).await?;
    if !config.allows(name) {
        return Err(PluginError::BadRequest(format!(
            "{name:?} is not an allowed role of database {:?} (allowed_roles)",
            role.db_name
        )));
    }
    if is_new {
        rotate_password(connections, storage, &mut role, now).await?;
    }
    storage.put_json(&key(name), &role).await?;
    Ok(Reply::Empty)
}

pub(crate) async fn delete(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    storage.delete(&key(name)).await?;
    Ok(Reply::Empty)
}

pub(crate) async fn creds(
    storage: &dyn PluginStorage,
    name: &str,
    now: i64,
) -> Result<Reply, PluginError> {
    let role = load(storage, name).await?;
    let next = role.last_rotation.saturating_add(role.rotation_period);
    let data = json!({
        "username": role.username,
        "password": role.password,
        "last_vault_rotation": rfc3339(role.last_rotation),
        "rotation_period": role.rotation_period,
        "ttl": next.saturating_sub(now).max(0),
    });
    Ok(Reply::json(data))
}

pub(crate) async fn rotate(
    connections: &Connections,
    storage: &dyn PluginStorage,
    name: &str,
    now: i64,
) -> Result<Reply, PluginError> {
    let mut role = load(storage, name).await?;
    rotate_password(connections, storage, &mut role, now).await?;
    storage.put_json(&key(name), &role).await?;
    Ok(Reply::Empty)
}

/// Rotates every static role whose period has passed.
pub(crate) async fn rotate_due(
    connections: &Connections,
    storage: &dyn PluginStorage,
    now: i64,
) -> Result<(), PluginError> {
    let mut first_error = None;
    for name in storage.list("static-roles/").await? {
        let Some(mut role) = storage.get_json::<StaticRole>(&key(&name)).await? else {
            continue;
        };
        if role.last_rotation.saturating_add(role.rotation_period) > now {
            continue;
        }
        match rotate_password(connections, storage, &mut role, now).await {
            Ok(()) => storage.put_json(&key(&name), &role).await?,
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn rotate_password(
    connections: &Connections,
    storage: &dyn PluginStorage,
    role: &mut StaticRole,
    now: i64,
) -> Result<(), PluginError> {
    let config = load_config(storage, &role.db_name).await?;
    let password = passwords::generate(storage, &config, &role.db_name).await?;
    let connection = connections.get(storage, &role.db_name).await?;
    connection
        .update_password(&role.username, &password, &role.rotation_statements)
        .await
        .map_err(|e| e.into_plugin_error(&format!("rotating the password of {}", role.username)))?;
    role.password = password;
    role.last_rotation = now;
    Ok(())
}
