//! The drivers this engine has, and one open [`Connection`] (the driver's
//! pool) per configured database: opened from its stored config on first
//! use, replaced when the config changes, closed when it goes.

use crate::config::{self, DbConfig};
use crate::driver::{Connection, ConnectionConfig, Driver};
use qm_plugin_sdk::{PluginError, PluginStorage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The drivers, and the open connections by config name.
pub(crate) struct Connections {
    drivers: Vec<Arc<dyn Driver>>,
    // A std mutex: held for a map lookup or insert, never across an await.
    by_name: Mutex<HashMap<String, Arc<dyn Connection>>>,
}

impl Connections {
    pub(crate) fn new(drivers: Vec<Arc<dyn Driver>>) -> Self {
        Self {
            drivers,
            by_name: Mutex::default(),
        }
    }

    /// The driver serving `plugin_name`, or a 400 that lists what this
    /// server has.
    pub(crate) fn find(&self, plugin_name: &str) -> Result<&dyn Driver, PluginError> {
        self.drivers
            .iter()
            .find(|d| d.plugin_names().contains(&plugin_name))
            .map(|d| d.as_ref())
            .ok_or_else(|| {
                PluginError::BadRequest(format!(
                    "plugin_name: {plugin_name:?} is not available; this server has {}",
                    self.names().join(", ")
                ))
            })
    }

    /// Every `plugin_name` served, quoted.
    pub(crate) fn names(&self) -> Vec<String> {
        self.drivers
            .iter()
            .flat_map(|d| d.plugin_names().iter())
            .map(|n| format!("{n:?}"))
            .collect()
    }

    /// Opens a connection for `config` with its driver. Errors carry no secret.
    pub(crate) fn open(&self, config: &DbConfig) -> Result<Arc<dyn Connection>, PluginError> {
        let driver = self.find(&config.plugin_name)?;
        let details = ConnectionConfig {
            plugin_name: &config.plugin_name,
            connection_url: &config.connection_url,
            username: &config.username,
            password: &config.password,
            max_open_connections: config.pool.open(),
            max_idle_connections: config.pool.idle(),
            max_connection_lifetime: config.pool.lifetime(),
        };
        driver
            .open(&details)
            .map_err(|e| PluginError::BadRequest(e.message().to_string()))
    }

    /// The connection for config `name`, opened from its stored config if needed.
    pub(crate) async fn get(
        &self,
        storage: &dyn PluginStorage,
        name: &str,
    ) -> Result<Arc<dyn Connection>, PluginError> {
        if let Some(open) = self.by_name.lock().ok().and_then(|m| m.get(name).cloned()) {
            return Ok(open);
        }
        let config = config::load(storage, name).await?;
        let opened = self.open(&config)?;
        let kept = match self.by_name.lock() {
            Ok(mut map) => map
                .entry(name.to_string())
                .or_insert_with(|| opened.clone())
                .clone(),
            Err(_) => opened.clone(),
        };
        if !Arc::ptr_eq(&kept, &opened) {
            // Another request opened one first.
            opened.close().await;
        }
        Ok(kept)
    }

    /// Uses `connection` for `name` from now on, closing the one before.
    pub(crate) async fn replace(&self, name: &str, connection: Arc<dyn Connection>) {
        let old = self
            .by_name
            .lock()
            .ok()
            .and_then(|mut map| map.insert(name.to_string(), connection));
        if let Some(old) = old {
            old.close().await;
        }
    }

    pub(crate) async fn remove(&self, name: &str) {
        let old = self
            .by_name
            .lock()
            .ok()
            .and_then(|mut map| map.remove(name));
        if let Some(old) = old {
            old.close().await;
        }
    }
}
