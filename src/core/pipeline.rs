//! The request pipeline: unauthenticated sys paths first, then seal check,
//! token authentication, routing by longest mount prefix, the ACL check
//! (create vs update decided by the engine's existence check; `sudo` where
//! the path needs it), and dispatch.

use super::audit_trail::Trail;
use super::ctx::Ctx;
use super::mounts::{Backend, Mounted};
use super::{sys, token_api};
use super::{Active, Core};
use crate::auth::token::store::{TokenEntry, Uses};
use crate::auth::{cidr, AuthMethod, AuthReply, AuthRequest};
use crate::engines::EngineRequest;
use crate::error::ApiError;
use crate::logical::{Operation, Request, Response};
use crate::policy::{Acl, Capabilities};
use qm_plugin_sdk::{Reply, Request as PluginRequest};
use std::sync::Arc;

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
    // Mints a root token: stricter than OpenBao, which asks only for the
    // path's capability.
    "sys/generate-root-token/*",
    "sys/rekey/backup",
    "sys/rekey/recovery-key-backup",
    "sys/storage/snapshot",
    "sys/storage/verify",
    "sys/storage/raft/snapshot",
    "sys/storage/raft/snapshot-force",
    "sys/seal",
    "sys/step-down",
    "sys/config/*",
    "sys/plugins/catalog/*",
    "sys/leases",
    "sys/leases/",
    // Vault leaves the count to the path's capability; a count of
    // irrevocable leases per mount is sudo here, as the list is.
    "sys/leases/count",
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

/// Checks the capability the operation needs (and `sudo` on root paths) on
/// exactly the canonical path.
fn authorize(acl: &Acl, req: &Request) -> Result<(), ApiError> {
    let mut needed = capability_for(req.operation);
    if needs_sudo(&req.path) {
        needed = needed.union(Capabilities::SUDO);
    }
    // Mount discovery answers any valid token about the mounts it can use
    // part of (the handler checks that); everything else must be granted.
    // The OpenAPI document, likewise, lists only the mounts the token can
    // reach part of.
    let self_checked = req.path.starts_with("sys/internal/ui/mounts")
        || (req.path == "sys/internal/specs/openapi" && req.operation == Operation::Read);
    if !self_checked && !acl.allows(&req.path, needed) {
        return Err(ApiError::PermissionDenied);
    }
    Ok(())
}

/// The `sys/` paths whose `data` Vault also sends at the top level (its
/// `injectDataIntoTopRoutes`), because clients read them either way: a
/// pattern ending in `/` covers the paths below it, others one path.
const DATA_AT_TOP_LEVEL: &[&str] = &[
    "sys/audit",
    "sys/audit/",
    "sys/audit-hash/",
    "sys/auth",
    "sys/auth/",
    "sys/capabilities",
    "sys/capabilities-accessor",
    "sys/capabilities-self",
    "sys/ha-status",
    "sys/key-status",
    "sys/mounts",
    "sys/mounts/",
    "sys/policy",
    "sys/policy/",
    "sys/rekey/backup",
    "sys/rekey/recovery-key-backup",
    "sys/remount",
    "sys/rotate",
    "sys/rotate/keyring",
    "sys/wrapping/wrap",
];

fn data_at_top_level(path: &str) -> bool {
    let path = path.trim_end_matches('/');
    DATA_AT_TOP_LEVEL
        .iter()
        .any(|pattern| match pattern.strip_suffix('/') {
            Some(folder) => path
                .strip_prefix(folder)
                .is_some_and(|rest| rest.starts_with('/')),
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
    /// Checks, before a large body is read (a snapshot upload), that the
    /// token may send it: the authentication and ACL check of
    /// [`Core::handle`], which runs again on the whole request.
    pub async fn preauthorize(
        &self,
        operation: Operation,
        path: &str,
        token: Option<zeroize::Zeroizing<String>>,
    ) -> Result<(), ApiError> {
        let active = self.active()?;
        let mut probe = Request::new(
            operation,
            crate::policy::path::canonical(operation, path).map_err(ApiError::BadRequest)?,
        );
        probe.token = token;
        let caller = self.authenticate(&active, &probe).await?;
        let policies = active.policies.resolve(&caller.policies).await?;
        authorize(&Acl::from_policies(&policies), &probe)
    }

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
            Ok(mut response) => {
                response.data_at_top_level |= data_at_top_level(&req.path);
                Ok(response)
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
        // Help is for token holders only, on every path (as Vault).
        if !req.help {
            if let Some(answer) = sys::unauthenticated(self, req).await {
                return answer;
            }
        }
        let active = match self.active() {
            Ok(active) => active,
            Err(_) if self.seal_config().await?.is_none() => return Err(ApiError::NotInitialized),
            Err(sealed) => return Err(sealed),
        };
        trail.start(&active);
        // Routed once: the login check and the handler use the same answer.
        let routed = active.mounts.route(&req.path);
        if !req.help {
            if let Some(answer) = self.tokenless(&active, req, routed.as_ref(), trail).await {
                return answer;
            }
        }
        let caller = self.authenticate(&active, req).await?;
        trail.caller(&caller);
        let policies = active.policies.resolve(&caller.policies).await?;
        let acl = Acl::from_policies(&policies);

        let Some((mounted, relative)) = routed else {
            return Err(if acl.is_root() {
                ApiError::NoHandler(format!(
                    "no handler for route \"{}\". route entry not found.",
                    req.path
                ))
            } else {
                ApiError::PermissionDenied
            });
        };

        if req.help {
            // Stricter than Vault, which gives any token help on any path:
            // only where the token is granted something, so help does not
            // reveal which mounts exist.
            if !acl.has_access_under(&req.path) {
                return Err(ApiError::PermissionDenied);
            }
            trail.mount(&mounted.entry);
            trail.request(req)?;
            return super::help::answer(&mounted, &relative, &req.path);
        }
        if req.operation == Operation::Update
            && !self
                .target_exists(&active, req, &mounted, &relative, &caller)
                .await?
        {
            req.operation = Operation::Create;
        }
        authorize(&acl, req)?;
        trail.mount(&mounted.entry);
        trail.request(req)?;
        let uses = active.tokens.use_once(&caller).await?;
        if uses == Uses::Exhausted {
            return Err(ApiError::PermissionDenied);
        }
        let now = self.clock.now_unix();
        let seen = crate::nhi::hooks::Seen {
            caller: &caller,
            mount: &mounted.entry,
            relative: &relative,
            now,
        };
        let noted = active
            .nhi
            .before_request(&seen, req, &self.settings.nhi, &self.metrics)
            .await?;
        let answer = self
            .dispatch(&active, &caller, &acl, req, &mounted, &relative)
            .await;
        let answer = active.nhi.after_response(noted, answer, now).await;
        if uses == Uses::Last {
            active.leases.revoke_token(&caller.id_hash).await?;
        }
        answer
    }

    /// Whether a write's target exists already: the ACL checks `update`
    /// then, `create` otherwise (the engine or plugin decides).
    async fn target_exists(
        &self,
        active: &Active,
        req: &Request,
        mounted: &Mounted,
        relative: &str,
        caller: &TokenEntry,
    ) -> Result<bool, ApiError> {
        Ok(match &mounted.backend {
            Backend::Engine(engine) => {
                let probe = EngineRequest {
                    operation: req.operation,
                    path: relative,
                    data: &req.data,
                    mount: &mounted.entry,
                    default_lease_ttl: self.mount_default_ttl(&mounted.entry),
                };
                engine.exists(&probe).await?
            }
            Backend::Plugin(plugin) => {
                let probe = self.plugin_request(req, relative, mounted, caller);
                plugin
                    .exists(&probe, &mounted.plugin_storage(&self.barrier))
                    .await?
            }
            Backend::Cubbyhole => super::cubbyhole::exists(active, caller, relative).await?,
            Backend::System | Backend::Token | Backend::Auth(_) => true,
        })
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
                    default_lease_ttl: self.mount_default_ttl(&mounted.entry),
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
                                active.leases.revoke_prefix(&full, false, None).await?;
                            if failed > 0 {
                                return Err(ApiError::BadGateway(format!(
                                    "{failed} leases under {full} could not be revoked; they stay scheduled for retry"
                                )));
                            }
                        }
                        Ok(Response::data(data))
                    }
                    Reply::Secret(plan) => {
                        let asked = crate::lease::Asked {
                            token_hash: &caller.id_hash,
                            mount: &mounted.entry,
                            path: &req.path,
                        };
                        let issuer = crate::lease::Issuer {
                            engine: Arc::clone(plugin),
                            storage: Box::new(storage),
                        };
                        Ok(active.leases.issue(&asked, &issuer, plan).await?)
                    }
                }
            }
            Backend::Auth(method) => {
                self.auth_request(active, req, mounted, relative, method.as_ref())
                    .await
            }
            Backend::Cubbyhole => super::cubbyhole::handle(active, caller, req, relative).await,
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

    /// A mount's effective default lease TTL, in seconds.
    fn mount_default_ttl(&self, entry: &crate::logical::MountEntry) -> i64 {
        crate::lease::mount_ttls(&entry.config, self.limits()).0
    }

    pub(super) fn plugin_request<'a>(
        &self,
        req: &'a Request,
        relative: &'a str,
        mounted: &Mounted,
        caller: &'a TokenEntry,
    ) -> PluginRequest<'a> {
        let (default_ttl, max_ttl) = crate::lease::mount_ttls(&mounted.entry.config, self.limits());
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
        routed: Option<&(Mounted, String)>,
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
        let (mounted, relative) = routed?;
        let Backend::Auth(method) = &mounted.backend else {
            return None;
        };
        if !method.is_login_path(relative) {
            return None;
        }
        trail.mount(&mounted.entry);
        if let Err(unrecorded) = trail.request(req) {
            return Some(Err(unrecorded));
        }
        Some(
            self.auth_request(active, req, mounted, relative, method.as_ref())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_goes_to_the_top_level_on_vaults_paths_only() {
        for path in [
            "sys/mounts",
            "sys/mounts/secret/tune",
            "sys/policy/p1",
            "sys/policy",
            "sys/key-status",
            "sys/auth/approle/tune",
        ] {
            assert!(data_at_top_level(path), "{path}");
        }
        for path in [
            "sys/policies/acl/p1",
            "sys/mountsx",
            "secret/data/x",
            "sys/key-status/x",
            "sys/leases/lookup",
        ] {
            assert!(!data_at_top_level(path), "{path}");
        }
    }

    #[test]
    fn sudo_paths() {
        assert!(needs_sudo("sys/rotate"));
        assert!(needs_sudo("sys/auth/approle"));
        assert!(!needs_sudo("sys/auth"));
        assert!(!needs_sudo("secret/data/x"));
        assert!(needs_sudo("auth/token/accessors/"));
        assert!(needs_sudo("sys/leases/lookup/"));
        assert!(needs_sudo("sys/leases/count"));
        assert!(needs_sudo("sys/leases/lookup/database/"));
        assert!(
            !needs_sudo("sys/leases/lookup"),
            "lookup by body stays open"
        );
        assert!(needs_sudo("auth/token/revoke-orphan"));
    }
}
