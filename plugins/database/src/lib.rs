//! Vault's database engine over database drivers: the paths
//! `config/NAME`, `roles/NAME`, `creds/NAME`, `rotate-root/NAME`,
//! `reset/NAME`, `static-roles/NAME`, `static-creds/NAME`,
//! `rotate-role/NAME` and our `reconcile/NAME` and `discover/NAME`, for any database a
//! [`Driver`] knows (`plugin_name` in `config/NAME` picks it).
//!
//! A `creds` read plans a user (name and password generated here, recorded
//! under `users/DB/NAME` so reconciliation can tell ours from leaks); the core
//! records the lease, then [`activate`](qm_plugin_sdk::SecretsEngine::activate)
//! has the driver run the creation statements. Revocation runs the role's
//! revocation statements or the driver's default, and succeeds when the user
//! is already gone. Statement templates and their secrets are in
//! [`statements`]; the driver contract in [`driver`].

mod config;
mod connections;
mod discover;
pub mod driver;
mod help;
mod names;
mod passwords;
mod pool;
mod reconcile;
mod roles;
pub mod statements;
mod static_roles;
mod users;

pub use driver::{Connection, ConnectionConfig, Driver, DriverError, LoginRole, NewUser};

use connections::Connections;
use qm_plugin_sdk::params::unrecognized;
use qm_plugin_sdk::{
    LeaseInfo, Operation, PluginError, PluginStorage, Reply, Request, SecretsEngine,
};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The engine: its drivers, and one open connection (pool) per configured
/// database.
pub struct DatabaseEngine {
    connections: Connections,
    /// Whether the start-up reconciliation (report only) has run.
    reconciled: std::sync::atomic::AtomicBool,
}

impl DatabaseEngine {
    /// An engine serving configs whose `plugin_name` one of `drivers` serves.
    pub fn new(drivers: Vec<Arc<dyn Driver>>) -> Self {
        Self {
            connections: Connections::new(drivers),
            reconciled: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

fn no_handler(path: &str) -> PluginError {
    PluginError::NoHandler(format!(
        "no handler for route \"database/{path}\". route entry not found."
    ))
}

#[async_trait::async_trait]
impl SecretsEngine for DatabaseEngine {
    fn help(&self) -> &'static qm_plugin_sdk::help::Help {
        &help::HELP
    }

    async fn handle(
        &self,
        req: &Request<'_>,
        storage: &dyn PluginStorage,
    ) -> Result<Reply, PluginError> {
        use Operation::*;
        let (section, name) = req.path.split_once('/').unwrap_or((req.path, ""));
        let name = name.trim_end_matches('/');
        match (section, req.operation, name.is_empty()) {
            ("config", List, true) => config::list(storage).await,
            ("config", Read, false) => config::read(storage, name).await,
            ("config", Create | Update, false) => {
                config::write(&self.connections, storage, name, req.data, req.now)
                    .await
                    .map(|r| r.warn(unrecognized(req.data, config::FIELDS)))
            }
            ("config", Delete, false) => config::delete(&self.connections, storage, name).await,
            ("reset", Create | Update, false) => {
                config::reset(&self.connections, storage, name).await
            }
            ("rotate-root", Create | Update, false) => {
                config::rotate_root(&self.connections, storage, name).await
            }
            ("roles", List, true) => roles::list(storage).await,
            ("roles", Read, false) => roles::read(storage, name).await,
            ("roles", Create | Update, false) => roles::write(storage, name, req.data)
                .await
                .map(|r| r.warn(unrecognized(req.data, roles::FIELDS))),
            ("roles", Delete, false) => roles::delete(storage, name).await,
            ("creds", Read, false) => {
                users::plan_credentials(&self.connections, storage, name, req).await
            }
            ("static-roles", List, true) => static_roles::list(storage).await,
            ("static-roles", Read, false) => static_roles::read(storage, name).await,
            ("static-roles", Create | Update, false) => {
                static_roles::write(&self.connections, storage, name, req.data, req.now)
                    .await
                    .map(|r| r.warn(unrecognized(req.data, static_roles::FIELDS)))
            }
            ("static-roles", Delete, false) => static_roles::delete(storage, name).await,
            ("static-creds", Read, false) => static_roles::creds(storage, name, req.now).await,
            ("rotate-role", Create | Update, false) => {
                static_roles::rotate(&self.connections, storage, name, req.now).await
            }
            ("discover", Read, false) => {
                discover::scan(&self.connections, storage, name, req.now).await
            }
            ("discover", Create | Update, false) => {
                discover::retire(&self.connections, storage, name, req.data, req.now)
                    .await
                    .map(|r| r.warn(unrecognized(req.data, discover::FIELDS)))
            }
            ("reconcile", Read | Create | Update, false) => {
                reconcile::run(&self.connections, storage, name, req.data, req.now).await
            }
            (
                "config" | "reset" | "rotate-root" | "roles" | "creds" | "static-roles"
                | "static-creds" | "rotate-role" | "reconcile" | "discover",
                _,
                _,
            ) => Err(PluginError::UnsupportedOperation),
            _ => Err(no_handler(req.path)),
        }
    }

    async fn exists(
        &self,
        req: &Request<'_>,
        storage: &dyn PluginStorage,
    ) -> Result<bool, PluginError> {
        let (section, name) = req.path.split_once('/').unwrap_or((req.path, ""));
        let key = match section {
            "config" => format!("config/{name}"),
            "roles" => format!("roles/{name}"),
            "static-roles" => format!("static-roles/{name}"),
            _ => return Ok(true),
        };
        Ok(storage.get(&key).await?.is_some())
    }

    async fn activate(
        &self,
        lease: &LeaseInfo,
        secret: &Map<String, Value>,
        storage: &dyn PluginStorage,
    ) -> Result<Map<String, Value>, PluginError> {
        users::create_user(&self.connections, storage, lease, secret).await?;
        Ok(Map::new())
    }

    async fn renew(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<(), PluginError> {
        users::renew_user(&self.connections, storage, lease).await
    }

    async fn revoke(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<Vec<String>, PluginError> {
        users::drop_user(&self.connections, storage, lease, false).await?;
        Ok(Vec::new())
    }

    async fn rollback(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<(), PluginError> {
        users::drop_user(&self.connections, storage, lease, true).await
    }

    async fn credential_exists(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<Option<bool>, PluginError> {
        users::user_exists(&self.connections, storage, lease)
            .await
            .map(Some)
    }

    /// A `SELECT 1` (the driver's `verify`) through the lease's config.
    async fn probe(&self, lease: &LeaseInfo, storage: &dyn PluginStorage) -> Option<bool> {
        users::reachable(&self.connections, storage, lease).await
    }

    /// Rotates due static roles. The first call after start (the core
    /// makes it right after rolling back pending leases) also reconciles
    /// every configured database, reporting users it created whose lease
    /// has ended (fixing is left to `reconcile/NAME fix=true`).
    async fn periodic(&self, storage: &dyn PluginStorage, now: i64) -> Result<(), PluginError> {
        let rotated = static_roles::rotate_due(&self.connections, storage, now).await;
        if !self
            .reconciled
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            reconcile::report_all(&self.connections, storage, now).await?;
        }
        rotated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qm_plugin_sdk::Internal;
    use serde_json::json;

    fn lease(internal: Value) -> LeaseInfo {
        LeaseInfo {
            lease_id: "database/creds/app/AbC".into(),
            role: "app".into(),
            internal: Internal::from_stored(internal),
            issued_at: 0,
            expire_at: 0,
        }
    }

    #[test]
    fn lease_records_already_on_disk_still_decode_and_broken_ones_fail() {
        // The record as every earlier version wrote it.
        let stored = json!({
            "db_name": "main",
            "username": "v-token-app-abc-1700000000",
            "creation_statements": ["CREATE ROLE \"{{name}}\""],
            "revocation_statements": [],
            "renew_statements": [],
            "rollback_statements": [],
        });
        let user: users::UserLease = lease(stored).decode().unwrap();
        assert_eq!(user.username, "v-token-app-abc-1700000000");
        assert_eq!(user.db_name, "main");
        let error = lease(json!({"db_name": "main"}))
            .decode::<users::UserLease>()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("lease record for database/creds/app/AbC is missing field `username`"),
            "{error}"
        );
    }
}
