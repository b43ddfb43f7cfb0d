//! `database/config/NAME`: how to reach a database as the broker's own user,
//! its pool (see [`crate::pool`]), and how the users it makes are named
//! (`username_template`, [`crate::names`]) and their passwords made
//! (`password_policy`, [`crate::passwords`]). The password is stored
//! (encrypted by the core) and never returned; `rotate-root` replaces it
//! with one nobody knows.

use crate::connections::Connections;
use crate::pool::PoolSettings;
use crate::{names, passwords};
use qm_plugin_sdk::params::{optional_bool, optional_str, optional_strings};
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
    #[serde(flatten)]
    pub(crate) pool: PoolSettings,
    pub(crate) verify_connection: bool,
    pub(crate) password_authentication: String,
    pub(crate) root_rotation_statements: Vec<String>,
    /// A core password policy's name; `""`: the default policy.
    #[serde(default)]
    pub(crate) password_policy: String,
    /// `""`: the default names.
    #[serde(default)]
    pub(crate) username_template: String,
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
            .field("password_policy", &self.password_policy)
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
    "max_idle_connections",
    "max_connection_lifetime",
    "verify_connection",
    "password_authentication",
    "root_rotation_statements",
    "password_policy",
    "username_template",
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
    // Vault shows the driver's own settings in `connection_details` and
    // the engine's at the top level.
    let mut details = config.pool.details();
    details.insert("connection_url".into(), json!(config.connection_url));
    details.insert("username".into(), json!(config.username));
    details.insert(
        "password_authentication".into(),
        json!(config.password_authentication),
    );
    if !config.username_template.is_empty() {
        details.insert("username_template".into(), json!(config.username_template));
    }
    let data = json!({
        "plugin_name": config.plugin_name,
        "connection_details": details,
        "allowed_roles": config.allowed_roles,
        "verify_connection": config.verify_connection,
        "root_credentials_rotate_statements": config.root_rotation_statements,
        "password_policy": config.password_policy,
        "plugin_version": "",
    });
    Ok(Reply::json(data))
}

pub(crate) async fn write(
    connections: &Connections,
    storage: &dyn PluginStorage,
    name: &str,
    data: &Map<String, Value>,
    now: i64,
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
    let driver = connections.find(&plugin_name)?;
    let mut config = existing.unwrap_or(DbConfig {
        plugin_name: plugin_name.clone(),
        connection_url: String::new(),
        username: String::new(),
        password: String::new(),
        allowed_roles: Vec::new(),
        pool: PoolSettings::default(),
        verify_connection: true,
        password_authentication: "password".into(),
        root_rotation_statements: Vec::new(),
        password_policy: String::new(),
        username_template: String::new(),
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
    config.pool.update(data)?;
    if let Some(policy) = optional_str(data, "password_policy")? {
        if !policy.is_empty() {
            passwords::check_policy(storage, policy, name).await?;
        }
        config.password_policy = policy.to_string();
    }
    if let Some(template) = optional_str(data, "username_template")? {
        config.username_template = template.to_string();
    }
    if !config.username_template.is_empty() {
        // Checked against this plugin's limit, also when only the plugin changed.
        names::check_template(
            &config.username_template,
            now,
            driver.max_username_len(&plugin_name),
        )?;
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
    let new_password = passwords::generate(storage, &config, name).await?;
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
            pool: PoolSettings::default(),
            verify_connection: true,
            password_authentication: "password".into(),
            root_rotation_statements: Vec::new(),
            password_policy: String::new(),
            username_template: String::new(),
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("admin"), "{shown}");
    }
}
