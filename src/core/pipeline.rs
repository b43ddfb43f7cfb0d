//! The request pipeline: unauthenticated sys paths first, then seal check,
//! token authentication, routing by longest mount prefix, the ACL check
//! (create vs update decided by the engine's existence check; `sudo` where
//! the path needs it), and dispatch.

use super::audit_trail::Trail;
use super::mounts::{Backend, Mounted};
use super::{sys, token_api};
use super::{Active, Core};
use crate::auth::token::store::{TokenEntry, Uses};
use crate::auth::{cidr, AuthMethod, AuthReply, AuthRequest};
use crate::engines::EngineRequest;
use crate::error::ApiError;
use crate::logical::MountEntry;
use crate::logical::{Operation, Request, Response};
use crate::nhi::{paths, OwnershipFields};
use crate::policy::{Acl, Capabilities};
use qm_plugin_sdk::{Reply, Request as PluginRequest};

/// Everything a built-in handler (sys, token) may need about a request.
pub struct Ctx<'a> {
    pub core: &'a Core,
    pub active: &'a Active,
    pub caller: &'a TokenEntry,
    pub acl: &'a Acl,
    pub req: &'a Request,
    /// The path relative to the mount.
    pub path: &'a str,
    pub mount: &'a MountEntry,
}

/// Paths that need `sudo` on top of the operation's capability: Vault's
/// list (its system backend's and token store's root paths). Matched on the
/// canonical path, so `auth/token/revoke-orphan/` is `auth/token/revoke-orphan`.
const SUDO_PATHS: &[&str] = &[
    "sys/auth/*",
    "sys/remount",
    "sys/audit",
    "sys/audit/*",
    "sys/audit-chain/*",
    "sys/raw",
    "sys/raw/*",
    "sys/rotate",
    "sys/rotate/*",
    "sys/seal",
    "sys/config/*",
    "sys/plugins/catalog/*",
    "sys/leases",
    "sys/leases/",
    "sys/leases/lookup/*",
    "sys/leases/revoke-prefix/*",
    "sys/leases/revoke-force/*",
    "sys/revoke-prefix/*",
    "sys/revoke-force/*",
    "sys/internal/inspect/*",
    "auth/token/revoke-orphan",
    "auth/token/revoke-orphan/*",
    "auth/token/accessors*",
];

fn needs_sudo(path: &str) -> bool {
    SUDO_PATHS
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => path.starts_with(prefix),
            None => path == *pattern,
        })
}

fn capability_for(operation: Operation) -> Capabilities {
    match operation {
        Operation::Read => Capabilities::READ,
        Operation::List => Capabilities::LIST,
        Operation::Create => Capabilities::CREATE,
        Operation::Update => Capabilities::UPDATE,
        Operation::Delete => Capabilities::DELETE,
        Operation::Patch => Capabilities::PATCH,
    }
}

impl Core {
    /// Handles one request end to end; with `X-Vault-Wrap-TTL`, the answer
    /// is wrapped.
    pub async fn handle(&self, mut req: Request) -> Result<Response, ApiError> {
        let started = std::time::Instant::now();
        let mut trail = Trail::default();
        let outcome = match self.answer(&mut req, &mut trail).await {
            Ok(response)
                if req.wrap_ttl.is_some()
                    && (response.data.is_some() || response.auth.is_some()) =>
            {
                let ttl = req.wrap_ttl.unwrap_or_default();
                match self.active() {
                    Ok(active) => self.wrap(&active, response, ttl, &req.path).await,
                    Err(e) => Err(e),
                }
            }
            other => other,
        };
        let status = match &outcome {
            Ok(response) => response.status.unwrap_or(200),
            Err(error) => error.status(),
        };
        self.metrics
            .observe_request(&trail.mount_path, status, started.elapsed());
        trail.response(&req, &outcome)?;
        outcome
    }

    async fn answer(&self, req: &mut Request, trail: &mut Trail) -> Result<Response, ApiError> {
        // The one spelling the ACL, the audit log and the handler all see.
        req.path = crate::policy::path::canonical(req.operation, &req.path)
            .map_err(ApiError::BadRequest)?;
        if let Some(answer) = sys::unauthenticated(self, req).await {
            return answer;
        }
        let active = match self.active() {
            Ok(active) => active,
            Err(_) if self.seal_config().await?.is_none() => return Err(ApiError::NotInitialized),
            Err(sealed) => return Err(sealed),
        };
        trail.start(&active);
        if let Some(answer) = self.tokenless(&active, req, trail).await {
            return answer;
        }
        let caller = self.authenticate(&active, req).await?;
        trail.caller(&caller);
        let policies = active.policies.resolve(&caller.policies).await?;
        let acl = Acl::from_policies(&policies);

        let Some((mounted, relative)) = active.mounts.route(&req.path) else {
            return Err(if acl.is_root() {
                ApiError::NoHandler(format!(
                    "no handler for route \"{}\". route entry not found.",
                    req.path
                ))
            } else {
                ApiError::PermissionDenied
            });
        };

        if req.operation == Operation::Update {
            let exists = match &mounted.backend {
                Backend::Engine(engine) => {
                    let probe = EngineRequest {
                        operation: req.operation,
                        path: &relative,
                        data: &req.data,
                        mount: &mounted.entry,
                    };
                    engine.exists(&probe).await?
                }
                Backend::Plugin(plugin) => {
                    let probe = self.plugin_request(req, &relative, &mounted, &caller);
                    plugin
                        .exists(&probe, &mounted.plugin_storage(&self.barrier))
                        .await?
                }
                Backend::System | Backend::Token | Backend::Auth(_) => true,
            };
            if !exists {
                req.operation = Operation::Create;
            }
        }
        let mut needed = capability_for(req.operation);
        if needs_sudo(&req.path) {
            needed = needed.union(Capabilities::SUDO);
        }
        // Mount discovery answers any valid token about the mounts it can use
        // part of (the handler checks that); everything else must be granted.
        let self_checked = req.path.starts_with("sys/internal/ui/mounts");
        if !self_checked && !acl.allows(&req.path, needed) {
            return Err(ApiError::PermissionDenied);
        }
        trail.mount(&mounted.entry);
        trail.request(req)?;
        let uses = active.tokens.use_once(&caller).await?;
        if uses == Uses::Exhausted {
            return Err(ApiError::PermissionDenied);
        }
        let now = self.clock.now_unix();
        active
            .nhi
            .touch(&format!("auth/token/accessors/{}", caller.accessor), now);
        let identity = paths::identity_at(&mounted.entry, &relative);
        let ownership = match (&identity, req.operation) {
            (Some(_), Operation::Create | Operation::Update) => {
                Some(OwnershipFields::take(&mut req.data)?)
            }
            _ => None,
        };
        // A role is new to the inventory when it has no ownership record yet.
        let new_identity = match &identity {
            Some((id, _)) if ownership.is_some() => active.nhi.meta(id).await?.is_none(),
            _ => false,
        };
        self.require_owner(req, &mounted.entry, ownership.as_ref(), new_identity)?;
        if !caller.is_root() {
            self.watch_drift(&active, &caller, req, &mounted.entry.path, now)?;
        }
        if let Some(role) = paths::role_used(&mounted.entry, &relative) {
            if let Some(why) = active.nhi.disabled(&role).await? {
                return Err(ApiError::Forbidden(format!("{role} is disabled: {why}")));
            }
            active.nhi.touch(&role, now);
        }
        let answer = self
            .dispatch(&active, &caller, &acl, req, &mounted, &relative)
            .await;
        let answer = match (answer, identity) {
            (Ok(response), Some((id, _))) => {
                self.track_identity(&active, &id, req.operation, ownership, response, now)
                    .await
            }
            (answer, _) => answer,
        };
        if uses == Uses::Last {
            self.revoke_token(&active, &caller.id_hash).await?;
        }
        answer
    }

    /// With `require_owner` (server `[nhi]` or the mount's option), a new
    /// role must name its `owner` and a new token its `meta.owner`.
    fn require_owner(
        &self,
        req: &Request,
        mount: &MountEntry,
        ownership: Option<&OwnershipFields>,
        new_identity: bool,
    ) -> Result<(), ApiError> {
        let required = self.settings.nhi.require_owner
            || mount
                .options
                .get("require_owner")
                .is_some_and(|v| v == "true");
        if !required || !matches!(req.operation, Operation::Create | Operation::Update) {
            return Ok(());
        }
        if let Some(fields) = ownership {
            if new_identity && !fields.has_owner() {
                return Err(ApiError::bad(
                    "owner: required: every identity on this server must name its owner",
                ));
            }
        } else if req.path.starts_with("auth/token/create") {
            let owner = req
                .data
                .get("meta")
                .and_then(|m| m.get("owner"))
                .and_then(serde_json::Value::as_str);
            if owner.is_none_or(str::is_empty) {
                return Err(ApiError::bad(
                    "meta.owner: required: every token on this server must name its owner",
                ));
            }
        }
        Ok(())
    }

    /// Checks a request against its workload's baseline; reports each
    /// departure, and refuses it on a mount where drift is denied.
    fn watch_drift(
        &self,
        active: &Active,
        caller: &TokenEntry,
        req: &Request,
        mount: &str,
        now: i64,
    ) -> Result<(), ApiError> {
        let workload = match caller.path.strip_suffix("login") {
            Some(auth_mount) => ["role_name", "role"]
                .iter()
                .find_map(|key| caller.meta.get(*key))
                .map(|role| format!("{auth_mount}role/{role}")),
            None => None,
        }
        .unwrap_or_else(|| format!("auth/token/accessors/{}", caller.accessor));
        let config = active.nhi.drift_config();
        let seen = crate::nhi::drift::Seen {
            identity: &workload,
            path: &req.path,
            mount,
            addr: req.remote_addr,
            now,
            write: !matches!(req.operation, Operation::Read | Operation::List),
        };
        let alerts = active.nhi.drift.observe(&config, &seen);
        let mut refused = None;
        for alert in alerts {
            self.metrics.drift_alert(alert.reason);
            tracing::warn!(identity = %alert.identity, reason = alert.reason, detail = %alert.detail, path = %alert.path, "drift");
            if let Some(url) = &config.webhook_url {
                let (url, body) = (url.clone(), serde_json::json!(alert));
                tokio::spawn(async move {
                    let client = reqwest::Client::builder()
                        .timeout(std::time::Duration::from_secs(2))
                        .build()
                        .unwrap_or_default();
                    if let Err(e) = client.post(&url).json(&body).send().await {
                        tracing::warn!(error = %e, "drift webhook failed");
                    }
                });
            }
            if alert.denied && refused.is_none() {
                refused = Some(format!(
                    "refused: this request departs from the workload's baseline ({}: {})",
                    alert.reason, alert.detail
                ));
            }
            active.nhi.drift.record(alert);
        }
        match refused {
            Some(why) => Err(ApiError::Forbidden(why)),
            None => Ok(()),
        }
    }

    /// Keeps a role's ownership record in step with the role: written with
    /// it, shown with it, deleted with it.
    async fn track_identity(
        &self,
        active: &Active,
        id: &str,
        operation: Operation,
        ownership: Option<OwnershipFields>,
        mut response: Response,
        now: i64,
    ) -> Result<Response, ApiError> {
        match (operation, ownership) {
            (Operation::Create | Operation::Update, Some(fields)) => {
                active.nhi.record_write(id, fields, now).await?;
            }
            (Operation::Delete, _) => active.nhi.forget(id).await?,
            (Operation::Read, _) => {
                if let (Some(data), Some(meta)) = (&mut response.data, active.nhi.meta(id).await?) {
                    data.insert("owner".into(), meta.owner.into());
                    data.insert("purpose".into(), meta.purpose.into());
                    data.insert("environment".into(), meta.environment.into());
                    data.insert("labels".into(), serde_json::json!(meta.labels));
                    if let Some(why) = meta.disabled {
                        data.insert("disabled".into(), why.into());
                    }
                }
            }
            _ => {}
        }
        Ok(response)
    }

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

    async fn backend_call(
        &self,
        mounted: &Mounted,
        operation: Operation,
        path: &str,
    ) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ApiError> {
        let mut req = Request::new(operation, format!("{}{path}", mounted.entry.path));
        req.id = "nhi-inventory".into();
        let response = match &mounted.backend {
            Backend::Plugin(plugin) => {
                let caller = inventory_caller();
                let plugin_req = self.plugin_request(&req, path, mounted, &caller);
                match plugin
                    .handle(&plugin_req, &mounted.plugin_storage(&self.barrier))
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
                    data: &req.data,
                    remote_addr: None,
                    now: self.clock.now_unix(),
                    mount: &mounted.entry,
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

    async fn dispatch(
        &self,
        active: &Active,
        caller: &TokenEntry,
        acl: &Acl,
        req: &Request,
        mounted: &Mounted,
        relative: &str,
    ) -> Result<Response, ApiError> {
        match &mounted.backend {
            Backend::Engine(engine) => {
                let engine_req = EngineRequest {
                    operation: req.operation,
                    path: relative,
                    data: &req.data,
                    mount: &mounted.entry,
                };
                engine.handle(&engine_req).await
            }
            Backend::Plugin(plugin) => {
                let plugin_req = self.plugin_request(req, relative, mounted, caller);
                let storage = mounted.plugin_storage(&self.barrier);
                match plugin.handle(&plugin_req, &storage).await? {
                    Reply::Empty => Ok(Response::empty()),
                    Reply::Data(data) => Ok(Response::data(data)),
                    Reply::DataWithWarnings(data, warnings) => Ok(Response {
                        data: Some(data),
                        warnings,
                        ..Response::default()
                    }),
                    Reply::RevokeLeases { prefixes, data } => {
                        for prefix in prefixes {
                            let full = format!("{}{prefix}", mounted.entry.path);
                            let (_, failed) =
                                self.revoke_prefix(active, &full, false, None).await?;
                            if failed > 0 {
                                return Err(ApiError::BadGateway(format!(
                                    "{failed} leases under {full} could not be revoked; they stay scheduled for retry"
                                )));
                            }
                        }
                        Ok(Response::data(data))
                    }
                    Reply::Secret(plan) => {
                        self.issue_secret(active, caller, mounted, &req.path, plan)
                            .await
                    }
                }
            }
            Backend::Auth(method) => {
                self.auth_request(active, req, mounted, relative, method.as_ref())
                    .await
            }
            Backend::System | Backend::Token => {
                let ctx = Ctx {
                    core: self,
                    active,
                    caller,
                    acl,
                    req,
                    path: relative,
                    mount: &mounted.entry,
                };
                if matches!(mounted.backend, Backend::System) {
                    sys::handle(&ctx).await
                } else {
                    token_api::handle(&ctx).await
                }
            }
        }
    }

    fn plugin_request<'a>(
        &self,
        req: &'a Request,
        relative: &'a str,
        mounted: &Mounted,
        caller: &'a TokenEntry,
    ) -> PluginRequest<'a> {
        let (default_ttl, max_ttl) = self.mount_ttls(mounted);
        PluginRequest {
            operation: req.operation,
            path: relative,
            data: &req.data,
            display_name: &caller.display_name,
            mount_default_ttl: default_ttl,
            mount_max_ttl: max_ttl,
            now: self.clock.now_unix(),
        }
    }

    async fn authenticate(&self, active: &Active, req: &Request) -> Result<TokenEntry, ApiError> {
        let token = req
            .token
            .as_ref()
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::PermissionDenied)?;
        active
            .tokens
            .lookup(token)
            .await?
            .filter(|entry| {
                entry.num_uses >= 0 && cidr::allows(&entry.bound_cidrs, req.remote_addr)
            })
            .ok_or(ApiError::PermissionDenied)
    }

    /// Requests served without an ordinary token: logins, and a wrapping
    /// token presented to unwrap or look up itself.
    async fn tokenless(
        &self,
        active: &Active,
        req: &Request,
        trail: &mut Trail,
    ) -> Option<Result<Response, ApiError>> {
        match req.path.as_str() {
            // Looking a wrapping token up needs nothing but the token.
            "sys/wrapping/lookup" => {
                let param = req.data.get("token").and_then(|t| t.as_str());
                let token = param.or(req.token.as_ref().map(|t| t.as_str()))?;
                if let Err(unrecorded) = trail.request(req) {
                    return Some(Err(unrecorded));
                }
                return Some(self.wrapping_lookup(active, token).await);
            }
            "sys/wrapping/unwrap" if req.data.get("token").is_none() => {
                let token = req.token.as_ref().filter(|t| !t.is_empty())?;
                if let Err(unrecorded) = trail.request(req) {
                    return Some(Err(unrecorded));
                }
                return Some(self.unwrap(active, token).await);
            }
            _ => {}
        }
        let (mounted, relative) = active.mounts.route(&req.path)?;
        let Backend::Auth(method) = &mounted.backend else {
            return None;
        };
        if !method.is_login_path(&relative) {
            return None;
        }
        trail.mount(&mounted.entry);
        if let Err(unrecorded) = trail.request(req) {
            return Some(Err(unrecorded));
        }
        Some(
            self.auth_request(active, req, &mounted, &relative, method.as_ref())
                .await,
        )
    }

    async fn auth_request(
        &self,
        active: &Active,
        req: &Request,
        mounted: &Mounted,
        relative: &str,
        method: &dyn AuthMethod,
    ) -> Result<Response, ApiError> {
        let auth_req = AuthRequest {
            operation: req.operation,
            path: relative,
            data: &req.data,
            remote_addr: req.remote_addr,
            now: self.clock.now_unix(),
            mount: &mounted.entry,
        };
        match method.handle(&auth_req).await? {
            AuthReply::Response(response) => Ok(*response),
            AuthReply::Login(login) => self.issue_login(active, mounted, login, &req.path).await,
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sudo_paths() {
        assert!(needs_sudo("sys/rotate"));
        assert!(needs_sudo("sys/auth/approle"));
        assert!(!needs_sudo("sys/auth"));
        assert!(!needs_sudo("secret/data/x"));
        assert!(needs_sudo("auth/token/accessors/"));
        assert!(needs_sudo("sys/leases/lookup/"));
        assert!(needs_sudo("sys/leases/lookup/database/"));
        assert!(
            !needs_sudo("sys/leases/lookup"),
            "lookup by body stays open"
        );
        assert!(needs_sudo("auth/token/revoke-orphan"));
    }
}
