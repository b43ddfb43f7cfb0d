//! The core's own calls on a backend, outside any client request: a LIST
//! or a read on a role collection, for the identity inventory. They run as
//! a stand-in caller with no token and no policies.

use super::mounts::{Backend, Mounted};
use super::Core;
use crate::auth::token::store::TokenEntry;
use crate::auth::{AuthReply, AuthRequest};
use crate::error::ApiError;
use crate::logical::Operation;
use qm_plugin_sdk::Reply;

impl Core {
    /// A LIST on a backend on the core's own behalf (the inventory).
    pub(crate) async fn backend_list(
        &self,
        mounted: &Mounted,
        path: &str,
    ) -> Result<Vec<String>, ApiError> {
        let listed = self.backend_call(mounted, Operation::List, path).await;
        let keys = match listed {
            Ok(Some(data)) => data.get("keys").cloned(),
            Ok(None) | Err(ApiError::NotFound) => None,
            Err(e) => return Err(e),
        };
        Ok(keys
            .and_then(|k| serde_json::from_value(k).ok())
            .unwrap_or_default())
    }

    /// A read on a backend on the core's own behalf; `None` if absent.
    pub(crate) async fn backend_read(
        &self,
        mounted: &Mounted,
        path: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
        match self.backend_call(mounted, Operation::Read, path).await {
            Err(ApiError::NotFound) => Ok(None),
            other => other,
        }
    }

    /// A write on a backend on the core's own behalf (discovery's adopt,
    /// after the caller's own capability on the path was checked).
    pub(crate) async fn backend_write(
        &self,
        mounted: &Mounted,
        path: &str,
        data: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
        self.own_call(mounted)
            .run(Operation::Update, path, data)
            .await
    }

    async fn backend_call(
        &self,
        mounted: &Mounted,
        operation: Operation,
        path: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
        self.own_call(mounted)
            .run(operation, path, serde_json::Map::new())
            .await
    }

    /// A call on `mounted` on the core's own behalf, owning all it needs
    /// (so a background job can make it).
    pub(crate) fn own_call(&self, mounted: &Mounted) -> OwnCall {
        OwnCall {
            mounted: mounted.clone(),
            barrier: std::sync::Arc::clone(&self.barrier),
            clock: std::sync::Arc::clone(&self.clock),
            ttls: crate::lease::mount_ttls(&mounted.entry.config, self.limits()),
        }
    }
}

/// One of the core's own calls on a backend, ready to run.
pub(crate) struct OwnCall {
    mounted: Mounted,
    barrier: std::sync::Arc<crate::barrier::Barrier>,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    /// The mount's default and max lease TTL.
    ttls: (i64, i64),
}

impl OwnCall {
    pub(crate) async fn run(
        &self,
        operation: Operation,
        path: &str,
        data: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
        let now = self.clock.now_unix();
        let response = match &self.mounted.backend {
            Backend::Plugin(plugin) => {
                let caller = inventory_caller();
                let plugin_req = qm_plugin_sdk::Request {
                    operation,
                    path,
                    data: &data,
                    display_name: &caller.display_name,
                    mount_default_ttl: self.ttls.0,
                    mount_max_ttl: self.ttls.1,
                    now,
                };
                match plugin
                    .handle(&plugin_req, &self.mounted.plugin_storage(&self.barrier))
                    .await?
                {
                    Reply::Data(data) | Reply::DataWithWarnings(data, _) => Some(data),
                    _ => None,
                }
            }
            Backend::Auth(method) => {
                let auth_req = AuthRequest {
                    operation,
                    path,
                    data: &data,
                    remote_addr: None,
                    now,
                    mount: &self.mounted.entry,
                };
                match method.handle(&auth_req).await? {
                    AuthReply::Response(response) => response.data,
                    AuthReply::Login(_) => None,
                }
            }
            _ => None,
        };
        Ok(response)
    }
}

/// The stand-in caller of the core's own backend calls.
fn inventory_caller() -> TokenEntry {
    TokenEntry {
        id_hash: String::new(),
        accessor: String::new(),
        parent_hash: None,
        policies: Vec::new(),
        meta: Default::default(),
        display_name: "inventory".into(),
        num_uses: 0,
        creation_time: 0,
        creation_ttl: 0,
        explicit_max_ttl: 0,
        period: 0,
        expire_time: None,
        renewable: false,
        path: String::new(),
        role: None,
        bound_cidrs: Vec::new(),
    }
}
