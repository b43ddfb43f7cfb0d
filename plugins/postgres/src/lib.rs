//! Leased PostgreSQL users behind Vault's database engine paths:
//! `config/NAME`, `roles/NAME`, `creds/NAME`, `rotate-root/NAME`,
//! `reset/NAME`, `static-roles/NAME`, `static-creds/NAME`,
//! `rotate-role/NAME` and our `reconcile/NAME`.
//!
//! A `creds` read plans a user (name and password generated here, recorded
//! under `users/DB/NAME` so reconciliation can tell ours from leaks); the core
//! records the lease, then [`activate`](qm_plugin_sdk::SecretsEngine::activate)
//! runs the creation statements in one transaction. Revocation runs the
//! role's revocation statements or the default (end sessions, reassign and
//! drop what the user owns, drop the role) in one transaction, and succeeds
//! when the user is already gone.

mod config;
mod names;
mod pools;
mod reconcile;
mod roles;
mod sql;
mod static_roles;

use qm_plugin_sdk::{
    LeaseInfo, Operation, PluginError, PluginStorage, Reply, Request, SecretsEngine,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The plugin name clients give in `database/config/NAME`.
pub const PLUGIN_NAME: &str = "postgresql-database-plugin";

/// What a lease of this plugin remembers: enough to create, renew and
/// revoke the user even if its role changes or goes, never the password.
/// Stored as JSON with the lease (field names are the on-disk format); a
/// record missing a field is an error, never an empty username.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct UserLease {
    db_name: String,
    username: String,
    creation_statements: Vec<String>,
    revocation_statements: Vec<String>,
    renew_statements: Vec<String>,
    rollback_statements: Vec<String>,
}

/// The plugin. Connection pools live here, one per configured database.
#[derive(Default)]
pub struct PostgresEngine {
    pools: pools::Pools,
    /// Whether the start-up reconciliation (report only) has run.
    reconciled: std::sync::atomic::AtomicBool,
}

impl PostgresEngine {
    pub fn new() -> Self {
        Self::default()
    }
}

fn no_handler(path: &str) -> PluginError {
    PluginError::NoHandler(format!(
        "no handler for route \"database/{path}\". route entry not found."
    ))
}

#[async_trait::async_trait]
impl SecretsEngine for PostgresEngine {
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
                config::write(&self.pools, storage, name, req.data).await
            }
            ("config", Delete, false) => config::delete(&self.pools, storage, name).await,
            ("reset", Create | Update, false) => config::reset(&self.pools, storage, name).await,
            ("rotate-root", Create | Update, false) => {
                config::rotate_root(&self.pools, storage, name).await
            }
            ("roles", List, true) => roles::list(storage).await,
            ("roles", Read, false) => roles::read(storage, name).await,
            ("roles", Create | Update, false) => roles::write(storage, name, req.data).await,
            ("roles", Delete, false) => roles::delete(storage, name).await,
            ("creds", Read, false) => roles::plan_credentials(storage, name, req).await,
            ("static-roles", List, true) => static_roles::list(storage).await,
            ("static-roles", Read, false) => static_roles::read(storage, name).await,
            ("static-roles", Create | Update, false) => {
                static_roles::write(&self.pools, storage, name, req.data, req.now).await
            }
            ("static-roles", Delete, false) => static_roles::delete(storage, name).await,
            ("static-creds", Read, false) => static_roles::creds(storage, name, req.now).await,
            ("rotate-role", Create | Update, false) => {
                static_roles::rotate(&self.pools, storage, name, req.now).await
            }
            ("reconcile", Read | Create | Update, false) => {
                reconcile::run(&self.pools, storage, name, req.data, req.now).await
            }
            (
                "config" | "reset" | "rotate-root" | "roles" | "creds" | "static-roles"
                | "static-creds" | "rotate-role" | "reconcile",
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
        roles::create_user(&self.pools, storage, lease, secret).await?;
        Ok(Map::new())
    }

    async fn renew(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<(), PluginError> {
        roles::renew_user(&self.pools, storage, lease).await
    }

    async fn revoke(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<Vec<String>, PluginError> {
        roles::drop_user(&self.pools, storage, lease, false).await?;
        Ok(Vec::new())
    }

    async fn rollback(
        &self,
        lease: &LeaseInfo,
        storage: &dyn PluginStorage,
    ) -> Result<(), PluginError> {
        roles::drop_user(&self.pools, storage, lease, true).await
    }

    /// Rotates due static roles. The first call after start (the core
    /// makes it right after rolling back pending leases) also reconciles
    /// every configured database, reporting users it created whose lease
    /// has ended (fixing is left to `reconcile/NAME fix=true`).
    async fn periodic(&self, storage: &dyn PluginStorage, now: i64) -> Result<(), PluginError> {
        let rotated = static_roles::rotate_due(&self.pools, storage, now).await;
        if !self
            .reconciled
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            reconcile::report_all(&self.pools, storage, now).await?;
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
        let user: UserLease = lease(stored).decode().unwrap();
        assert_eq!(user.username, "v-token-app-abc-1700000000");
        assert_eq!(user.db_name, "main");
        let error = lease(json!({"db_name": "main"}))
            .decode::<UserLease>()
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("lease record for database/creds/app/AbC is missing field `username`"),
            "{error}"
        );
    }
}
