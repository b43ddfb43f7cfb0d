//! Authentication. Every identity ends up holding a token from the token
//! store; auth methods (AppRole, JWT, userpass) only decide who a caller is
//! and which token it should get. A method answers its own configuration
//! paths like an engine, and answers a login with a [`Login`] that the core
//! turns into a token.

pub mod approle;
pub mod cidr;
pub mod jwt;
pub mod token;
pub mod token_params;
pub mod userpass;

use crate::barrier::StorageView;
use crate::error::ApiError;
use crate::logical::MountEntry;
use crate::logical::{Operation, Response};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

/// A request as an auth method sees it.
pub struct AuthRequest<'a> {
    pub operation: Operation,
    /// Relative to the mount, without a leading slash.
    pub path: &'a str,
    pub data: &'a Map<String, Value>,
    /// The peer address, for CIDR bounds.
    pub remote_addr: Option<IpAddr>,
    /// Unix seconds.
    pub now: i64,
    pub mount: &'a MountEntry,
}

/// What a successful login asks the core to issue.
#[derive(Debug, Clone, Default)]
pub struct Login {
    pub policies: Vec<String>,
    pub no_default_policy: bool,
    /// Identifies the workload: the role, and claims or metadata.
    pub metadata: BTreeMap<String, String>,
    /// Appended to the mount name (`approle`, `jwt-<user>`).
    pub display_name: String,
    /// Seconds; 0 takes the mount's default.
    pub ttl: i64,
    /// Seconds from creation; 0 takes the mount's maximum.
    pub max_ttl: i64,
    /// The role's explicit max TTL alone (also part of `max_ttl`): the one
    /// bound a periodic token keeps; 0 is none.
    pub explicit_max_ttl: i64,
    /// Seconds; a periodic token is renewed by this much, at most the mount's max.
    pub period: i64,
    pub num_uses: i64,
    /// The token may be used only from these networks.
    pub bound_cidrs: Vec<String>,
}

/// What an auth method answers.
pub enum AuthReply {
    Response(Box<Response>),
    Login(Login),
}

#[async_trait::async_trait]
pub trait AuthMethod: Send + Sync {
    /// What `?help=1` answers below the mount.
    fn help(&self) -> &'static qm_plugin_sdk::help::Help;

    /// Paths served without a token (the login path).
    fn is_login_path(&self, path: &str) -> bool;

    async fn handle(&self, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError>;
}

/// Builds the auth method for a mount of type `entry.kind`, or `None` when
/// no auth method has that type.
pub fn build(entry: &MountEntry, view: StorageView) -> Option<Arc<dyn AuthMethod>> {
    match entry.kind.as_str() {
        "approle" => Some(Arc::new(approle::AppRole::new(view))),
        "jwt" | "oidc" => Some(Arc::new(jwt::Jwt::new(view))),
        "userpass" => Some(Arc::new(userpass::UserPass::new(view))),
        _ => None,
    }
}
