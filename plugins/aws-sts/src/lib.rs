//! Leased AWS STS sessions behind Vault's AWS engine paths: `config/root`,
//! `config/rotate-root`, `config/lease`, `roles/NAME`, `creds/NAME`,
//! `sts/NAME`, our emergency stop `roles/NAME/revoke-sessions`, and our
//! `discover` (the account's IAM users, keys and risky roles, for
//! discovery; retiring an access key).
//!
//! A `creds` read validates the request against STS's own limits and plans a
//! lease; the core records it, then [`activate`](SecretsEngine::activate)
//! calls STS (AssumeRole, GetFederationToken or GetSessionToken) with a
//! session name traceable to the caller and the lease. STS sessions cannot be
//! ended one by one, so these leases are not renewable and revoking one ends
//! the lease and says so; `revoke-sessions` ends them all at once by
//! attaching a deny policy conditioned on `aws:TokenIssueTime` to the roles.

mod clients;
mod config;
mod creds;
mod discover;
mod help;
mod names;
mod policy_doc;
mod roles;
mod session;

use qm_plugin_sdk::params::unrecognized;
use qm_plugin_sdk::{
    LeaseInfo, Operation, PluginError, PluginStorage, Reply, Request, SecretsEngine,
};
use serde_json::{Map, Value};

/// The plugin. AWS clients are cached here and rebuilt when the config changes.
#[derive(Default)]
pub struct AwsStsEngine {
    clients: clients::Clients,
}

impl AwsStsEngine {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait::async_trait]
impl SecretsEngine for AwsStsEngine {
    fn help(&self) -> &'static qm_plugin_sdk::help::Help {
        &help::HELP
    }

    async fn handle(
        &self,
        req: &Request<'_>,
        storage: &dyn PluginStorage,
    ) -> Result<Reply, PluginError> {
        use Operation::*;
        let path = req.path.trim_end_matches('/');
        let (section, rest) = path.split_once('/').unwrap_or((path, ""));
        match (section, rest, req.operation) {
            ("config", "root", Read) => config::read_root(storage).await,
            ("config", "root", Create | Update) => {
                config::write_root(&self.clients, storage, req.data)
                    .await
                    .map(|r| r.warn(unrecognized(req.data, config::ROOT_FIELDS)))
            }
            ("config", "rotate-root", Create | Update) => {
                config::rotate_root(&self.clients, storage).await
            }
            ("config", "lease", Read) => config::read_lease(storage).await,
            ("config", "lease", Create | Update) => config::write_lease(storage, req.data)
                .await
                .map(|r| r.warn(unrecognized(req.data, config::LEASE_FIELDS))),
            ("discover", "", Read) => discover::scan(&self.clients, storage).await,
            ("discover", "", Create | Update) => {
                discover::retire(&self.clients, storage, req.data, req.now)
                    .await
                    .map(|r| r.warn(unrecognized(req.data, discover::FIELDS)))
            }
            ("roles", "", List) => roles::list(storage).await,
            ("roles", name, _) if name.ends_with("/revoke-sessions") => match req.operation {
                Create | Update => {
                    let name = name.trim_end_matches("/revoke-sessions");
                    roles::revoke_sessions(&self.clients, storage, name, req.now).await
                }
                _ => Err(PluginError::UnsupportedOperation),
            },
            ("roles", name, Read) if !name.is_empty() => roles::read(storage, name).await,
            ("roles", name, Create | Update) if !name.is_empty() => {
                roles::write(storage, name, req.data)
                    .await
                    .map(|r| r.warn(unrecognized(req.data, roles::FIELDS)))
            }
            ("roles", name, Delete) if !name.is_empty() => roles::delete(storage, name).await,
            ("creds" | "sts", name, Read | Create | Update) if !name.is_empty() => {
                creds::plan(storage, section, name, req).await
            }
            ("config" | "roles" | "creds" | "sts" | "discover", _, _) => {
                Err(PluginError::UnsupportedOperation)
            }
            _ => Err(PluginError::NoHandler(format!(
                "no handler for route \"aws/{path}\". route entry not found."
            ))),
        }
    }

    async fn exists(
        &self,
        req: &Request<'_>,
        storage: &dyn PluginStorage,
    ) -> Result<bool, PluginError> {
        match req.path.split_once('/') {
            Some(("roles", name)) if !name.contains('/') => {
                Ok(storage.get(&format!("roles/{name}")).await?.is_some())
            }
            _ => Ok(true),
        }
    }

    async fn activate(
        &self,
        lease: &LeaseInfo,
        _secret: &Map<String, Value>,
        storage: &dyn PluginStorage,
    ) -> Result<Map<String, Value>, PluginError> {
        session::issue(&self.clients, storage, lease).await
    }

    async fn revoke(
        &self,
        lease: &LeaseInfo,
        _storage: &dyn PluginStorage,
    ) -> Result<Vec<String>, PluginError> {
        Ok(vec![creds::revoke_warning(lease)])
    }

    async fn rollback(
        &self,
        _lease: &LeaseInfo,
        _storage: &dyn PluginStorage,
    ) -> Result<(), PluginError> {
        // An STS session that may exist cannot be ended alone; it expires.
        Ok(())
    }
}
