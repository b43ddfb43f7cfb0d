//! `database/config/NAME`: how to reach a database as the broker's own user.
//! The password is stored (encrypted by the core) and never returned;
//! `rotate-root` replaces it with one nobody knows.

use crate::connections::Connections;
use crate::names;
use qm_plugin_sdk::params::{optional_bool, optional_str, optional_strings, optional_u64};
use qm_plugin_sdk::{PluginError, PluginStorage, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct DbConfig {
    pub(crate) plugin_name: String,
    pub(crate) connection_url: String,
    pub(crate) username: String,
    pub(crate) password: String,
    pub(crate) allowed_roles: Vec<String>,
    pub(crate) max_open_connections: u32,
    pub(crate) verify_connection: bool,
    pub(crate) password_authentication: String,
    pub(crate) root_rotation_statements: Vec<String>,
}

/// Neither the password nor the connection URL (which may embed one) is shown.
impl std::fmt::Debug for DbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("plugin_name", &self.plugin_name)
            .field("connection_url", &"<redacted>")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("allowed_roles", &self.allowed_roles)
            .finish_non_exhaustive()
    }
}

impl DbConfig {
    pub(crate) fn allows(&self, role: &str) -> bool {
        self.allowed_roles.iter().any(|r| r == "*" || r == role)
    }
}

/// The fields `database/config/NAME` takes.
pub(crate) const FIELDS: &[&str] = &[
    "plugin_name",
    "connection_url",
    "username",
    "password",
    "allowed_roles",
    "max_open_connections",
    "verify_connection",
    "password_authentication",
    "root_rotation_statements",
];

fn key(name: &str) -> String {
    format!("config/{name}")
}

pub(crate) async fn load(storage: &dyn PluginStorage, name: &str) -> Result<DbConfig, PluginError> {
    storage
        .get_json::<DbConfig>(&key(name))
        .await?
        .ok_or_else(|| {
            PluginError::BadRequest(format!(
                "no database configuration named {name:?} (database/config/{name})"
            ))
        })
}

pub(crate) async fn list(storage: &dyn PluginStorage) -> Result<Reply, PluginError> {
    Reply::keys(storage.list("config/").await?)
}

pub(crate) async fn read(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    let config = storage
        .get_json::<DbConfig>(&key(name))
        .await?
        .ok_or(PluginError::NotFound)?;
    let data = json!({
        "plugin_name": config.plugin_name,
        "connection_details": {
            "connection_url": config.connection_url,
            "username": config.username,
            "max_open_connections": config.max_open_connections,
            "password_authentication": config.password_authentication,
        },
        "allowed_roles": config.allowed_roles,
        "verify_connection": config.verify_connection,
        "root_credentials_rotate_statements": config.root_rotation_statements,
        "password_policy": "",
        "plugin_version": "",
    });
    Ok(Reply::json(data))
}

pub(crate) async fn write(
    connections: &Connections,
    storage: &dyn PluginStorage,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply, PluginError> {
    let existing = storage.get_json::<DbConfig>(&key(name)).await?;
    let plugin_name = optional_str(data, "plugin_name")?
        .map(String::from)
        .or(existing.as_ref().map(|c| c.plugin_name.clone()))
        .ok_or_else(|| {
            PluginError::BadRequest(format!(
                "plugin_name: required ({})",
                connections.names().join(", ")
            ))
        })?;
    connections.find(&plugin_name)?;
    let mut config = existing.unwrap_or(DbConfig {
        plugin_name: plugin_name.clone(),
        connection_url: String::new(),
        username: String::new(),
        password: String::new(),
        allowed_roles: Vec::new(),
        max_open_connections: 4,
        verify_connection: true,
        password_authentication: "password".into(),
        root_rotation_statements: Vec::new(),
    });
    if let Some(url) = optional_str(data, "connection_url")? {
        config.connection_url = url.to_string();
    }
    if config.connection_url.is_empty() {
        return Err(PluginError::BadRequest("connection_url: required".into()));
    }
    if let Some(username) = optional_str(data, "username")? {
        config.username = username.to_string();
    }
    if let Some(password) = optional_str(data, "password")? {
        config.password = password.to_string();
    }
    if let Some(roles) = optional_strings(data, "allowed_roles")? {
        config.allowed_roles = roles;
    }
    if let Some(max) = optional_u64(data, "max_open_connections")? {
        config.max_open_connections = u32::try_from(max.clamp(1, 1000)).unwrap_or(4);
    }
    if let Some(verify) = optional_bool(data, "verify_connection")? {
        config.verify_connection = verify;
    }
    if let Some(auth) = optional_str(data, "password_authentication")? {
        if auth != "password" && auth != "scram-sha-256" {
            return Err(PluginError::BadRequest(
                "password_authentication: must be \"password\" or \"scram-sha-256\"".into(),
            ));
        }
        config.password_authentication = auth.to_string();
    }
    if let Some(Value::Array(_) | Value::String(_)) = data.get("root_rotation_statements") {
        config.root_rotation_statements =
            crate::roles::statements(data, "root_rotation_statements")?;
    }
    config.plugin_name = plugin_name;
    let connection = connections.open(&config)?;
    if config.verify_connection {
        if let Err(e) = connection.verify().await {
            connection.close().await;
            return Err(PluginError::BadRequest(format!(
                "error verifying connection: {}",
                e.message()
            )));
        }
    }
    storage.put_json(&key(name), &config).await?;
    connections.replace(name, connection).await;
    Ok(Reply::Empty)
}

pub(crate) async fn delete(
    connections: &Connections,
    storage: &dyn PluginStorage,
    name: &str,
) -> Result<Reply, PluginError> {
    storage.delete(&key(name)).await?;
    connections.remove(name).await;
    Ok(Reply::Empty)
}

/// Closes and rebuilds the connection pool.
pub(crate) async fn reset(
    connections: &Connections,
    storage: &dyn PluginStorage,
    name: &str,
) -> Result<Reply, PluginError> {
    let config = load(storage, name).await?;
    connections.replace(name, connections.open(&config)?).await;
    Ok(Reply::Empty)
}

/// Gives the broker's own database user a new password that is stored and
/// never shown.
pub(crate) async fn rotate_root(
    connections: &Connections,
    storage: &dyn PluginStorage,
    name: &str,
) -> Result<Reply, PluginError> {
    let mut config = load(storage, name).await?;
    if config.username.is_empty() {
        return Err(PluginError::BadRequest(
            "rotate-root needs the config's username (the broker's own database user)".into(),
        ));
    }
    let new_password = names::password();
    let connection = connections.get(storage, name).await?;
    connection
        .update_password(
            &config.username,
            &new_password,
            &config.root_rotation_statements,
        )
        .await
        .map_err(|e| e.into_plugin_error("root credential rotation"))?;
    config.password = new_password;
    storage.put_json(&key(name), &config).await?;
    connections.replace(name, connections.open(&config)?).await;
    Ok(Reply::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_no_password_even_inside_the_url() {
        let config = DbConfig {
            plugin_name: "postgresql-database-plugin".into(),
            connection_url: "postgresql://admin:hunter2-url@db/app".into(),
            username: "admin".into(),
            password: "hunter2-field".into(),
            allowed_roles: vec!["*".into()],
            max_open_connections: 4,
            verify_connection: true,
            password_authentication: "password".into(),
            root_rotation_statements: Vec::new(),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("admin"), "{shown}");
    }
}
