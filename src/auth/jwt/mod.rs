//! The JWT auth method (Vault's `auth/jwt` paths, role type `jwt`): a
//! workload logs in with a token its platform signed (Jenkins' OIDC
//! provider, GitHub Actions, GitLab CI, Kubernetes service accounts), so no
//! secret is stored for it anywhere. Keys come from the mount's config;
//! fetched key sets are cached for a few minutes.

mod config;
mod help;
mod keys;
mod role;
pub mod validate;

#[cfg(test)]
mod test_keys;

use super::{AuthMethod, AuthReply, AuthRequest};
use crate::barrier::StorageView;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::optional_str;
use config::JwtConfig;
use role::JwtRole;

pub struct Jwt {
    view: StorageView,
    keys: keys::KeyCache,
}

fn reply(response: Response) -> Result<AuthReply, ApiError> {
    Ok(AuthReply::Response(Box::new(response)))
}

/// A role name, checked in its one stored spelling (lower case): refused
/// otherwise, never folded after the ACL saw it in the path.
fn role_name(name: &str) -> Result<String, ApiError> {
    crate::policy::path::stored_name("role", name, |c| {
        !c.is_control() && !c.is_whitespace() && c != '/'
    })
    .map_err(ApiError::BadRequest)
}

impl Jwt {
    pub fn new(view: StorageView) -> Self {
        Self {
            view,
            keys: keys::KeyCache::default(),
        }
    }

    async fn config(&self) -> Result<Option<JwtConfig>, ApiError> {
        Ok(self.view.get_json("config").await?)
    }

    async fn role(&self, name: &str) -> Result<Option<JwtRole>, ApiError> {
        Ok(self.view.get_json(&format!("role/{name}")).await?)
    }

    async fn write_config(&self, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        let config = JwtConfig::parse(req.data)?;
        // Proves the keys are usable before anyone depends on them.
        self.keys.load(&config, true).await?;
        self.view.put_json("config", &config).await?;
        tracing::info!(mount = %req.mount.path, "jwt config written");
        reply(Response::empty().warn(crate::params::unrecognized(req.data, JwtConfig::FIELDS)))
    }

    async fn write_role(&self, name: String, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        let mut role = self
            .role(&name)
            .await?
            .unwrap_or_else(|| JwtRole::new(name));
        role.update(req.data)?;
        self.view
            .put_json(&format!("role/{}", role.name), &role)
            .await?;
        tracing::info!(role = %role.name, "jwt role written");
        reply(Response::empty().warn(JwtRole::unrecognized(req.data)))
    }

    async fn login(&self, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        let config = self
            .config()
            .await?
            .ok_or_else(|| ApiError::bad("could not load configuration"))?;
        let name = match optional_str(req.data, "role")?.filter(|r| !r.is_empty()) {
            // The login body is not a path the ACL checked: Vault's habit of
            // any case still works there.
            Some(name) => role_name(&name.to_lowercase())?,
            None => config.default_role.clone().ok_or_else(|| {
                ApiError::bad("missing role: no role given and no default_role configured")
            })?,
        };
        let role = self
            .role(&name)
            .await?
            .ok_or_else(|| ApiError::bad(format!("role {name:?} could not be found")))?;
        let jwt = optional_str(req.data, "jwt")?
            .filter(|j| !j.is_empty())
            .ok_or_else(|| ApiError::bad("missing token (jwt)"))?;
        let bounds = role.bounds(config.bound_issuer.clone());
        let keys = self.keys.load(&config, false).await?;
        let verified = match validate::verify(&keys, &bounds, jwt, req.now) {
            Ok(verified) => verified,
            // The signer may have rotated its keys since they were fetched.
            Err(first) => match self.keys.refresh_if_stale(&config).await? {
                Some(fresh) => validate::verify(&fresh, &bounds, jwt, req.now)
                    .map_err(|e| ApiError::bad(e.to_string()))?,
                None => return Err(ApiError::bad(first.to_string())),
            },
        };
        let mut login = role.token.login(verified.user.clone());
        login.metadata = verified.metadata;
        login.metadata.insert("role".into(), role.name.clone());
        tracing::info!(role = %role.name, user = %verified.user, "jwt login");
        Ok(AuthReply::Login(login))
    }
}

#[async_trait::async_trait]
impl AuthMethod for Jwt {
    fn help(&self) -> &'static qm_plugin_sdk::help::Help {
        &help::HELP
    }

    fn is_login_path(&self, path: &str) -> bool {
        path == "login"
    }

    async fn handle(&self, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        use Operation::*;
        let path = req.path.trim_end_matches('/');
        let (head, name) = path.split_once('/').unwrap_or((path, ""));
        match (head, name, req.operation) {
            ("login", "", Create | Update) => self.login(req).await,
            ("config", "", Read) => {
                let config = self.config().await?.ok_or(ApiError::NotFound)?;
                reply(Response::json(config.to_json()))
            }
            ("config", "", Create | Update) => self.write_config(req).await,
            ("role", "", List) => reply(Response::keys(self.view.list("role/").await?)?),
            ("role", name, Read) if !name.is_empty() => {
                let role = self.role(&role_name(name)?).await?;
                reply(Response::json(role.ok_or(ApiError::NotFound)?.to_json()))
            }
            ("role", name, Create | Update) if !name.is_empty() => {
                self.write_role(role_name(name)?, req).await
            }
            ("role", name, Delete) if !name.is_empty() => {
                self.view
                    .delete(&format!("role/{}", role_name(name)?))
                    .await?;
                reply(Response::empty())
            }
            ("login" | "config" | "role", _, _) => Err(ApiError::UnsupportedOperation),
            _ => Err(ApiError::NoHandler(format!("unsupported path: {path:?}"))),
        }
    }
}
