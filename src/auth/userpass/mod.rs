//! The userpass auth method (Vault's `auth/userpass` paths), for people: a
//! user logs in at `login/<name>` with a password and gets a token with the
//! user's `token_*` parameters. Passwords are stored only as argon2id hashes
//! (`hash`); a failed login says "invalid username or password" whether the
//! user exists or not, at the same cost; repeated failures for one name are
//! throttled (`throttle`).
//!
//! Paths: `users` (LIST), `users/<name>` (create, update, read, delete),
//! `users/<name>/password`, `users/<name>/policies`, `login/<name>`.

mod hash;
mod help;
mod throttle;
mod user;

use super::{cidr, AuthMethod, AuthReply, AuthRequest};
use crate::auth::token_params::{normalize_policies, refuse_root, TokenParams};
use crate::barrier::StorageView;
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_str, optional_strings};
use hash::Password;
use serde_json::{Map, Value};
use user::{username, User};

pub struct UserPass {
    view: StorageView,
    throttle: throttle::Throttle,
    /// Serializes user writes, so a password change and a policy change
    /// never overwrite each other.
    writing: tokio::sync::Mutex<()>,
}

fn reply(response: Response) -> Result<AuthReply, ApiError> {
    Ok(AuthReply::Response(Box::new(response)))
}

/// The one answer to a failed login: unknown user and wrong password alike.
fn invalid() -> ApiError {
    ApiError::bad("invalid username or password")
}

/// The password in a request body.
fn password(data: &Map<String, Value>) -> Result<Password, ApiError> {
    Password::new(optional_str(data, "password")?.unwrap_or_default())
}

impl UserPass {
    pub fn new(view: StorageView) -> Self {
        Self {
            view,
            throttle: throttle::Throttle::default(),
            writing: tokio::sync::Mutex::new(()),
        }
    }

    async fn user(&self, name: &str) -> Result<Option<User>, ApiError> {
        Ok(self.view.get_json(&format!("user/{name}")).await?)
    }

    async fn put(&self, user: &User) -> Result<(), ApiError> {
        Ok(self
            .view
            .put_json(&format!("user/{}", user.name), user)
            .await?)
    }

    async fn existing(&self, name: &str) -> Result<User, ApiError> {
        self.user(name)
            .await?
            .ok_or_else(|| ApiError::bad(format!("username {name:?} does not exist")))
    }

    /// Creates or updates a user; a new user needs a password.
    async fn write_user(
        &self,
        name: String,
        data: &Map<String, Value>,
    ) -> Result<AuthReply, ApiError> {
        let given = match optional_str(data, "password")? {
            Some(text) if !text.is_empty() => Some(Password::new(text)?),
            _ => None,
        };
        let _writing = self.writing.lock().await;
        let existing = self.user(&name).await?;
        let mut token = existing
            .as_ref()
            .map(|u| u.token.clone())
            .unwrap_or_default();
        token.update(data)?;
        let password_hash = match (given, existing) {
            (Some(password), _) => hash::hash(password).await?,
            (None, Some(user)) => user.password_hash,
            (None, None) => return Err(ApiError::bad("missing password")),
        };
        self.put(&User {
            name,
            password_hash,
            token,
        })
        .await?;
        let known: Vec<&str> = std::iter::once("password")
            .chain(TokenParams::FIELDS.iter().copied())
            .collect();
        reply(Response::empty().warn(crate::params::unrecognized(data, &known)))
    }

    async fn change_password(
        &self,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<AuthReply, ApiError> {
        let password = password(data)?;
        let _writing = self.writing.lock().await;
        let mut user = self.existing(name).await?;
        user.password_hash = hash::hash(password).await?;
        self.put(&user).await?;
        tracing::info!(user = %name, "userpass password changed");
        reply(Response::empty())
    }

    async fn set_policies(
        &self,
        name: &str,
        data: &Map<String, Value>,
    ) -> Result<AuthReply, ApiError> {
        let policies = optional_strings(data, "token_policies")?
            .or(optional_strings(data, "policies")?)
            .ok_or_else(|| ApiError::bad("missing token_policies"))?;
        let policies = normalize_policies(&policies);
        refuse_root(&policies)?;
        let _writing = self.writing.lock().await;
        let mut user = self.existing(name).await?;
        user.token.token_policies = policies;
        self.put(&user).await?;
        reply(Response::empty())
    }

    async fn login(&self, name: &str, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        let password = password(req.data)?;
        if !self.throttle.attempt(name, req.now) {
            tracing::warn!(user = %name, "userpass login refused: too many failures");
            return Err(ApiError::TooManyRequests(
                "too many failed logins for this username; try again later".into(),
            ));
        }
        let user = self.user(name).await?;
        let stored = user.as_ref().map(|u| u.password_hash.clone());
        if !hash::verify(password, stored).await? {
            tracing::info!(user = %name, "userpass login failed");
            return Err(invalid());
        }
        let user = user.ok_or_else(invalid)?;
        if !cidr::allows(&user.token.token_bound_cidrs, req.remote_addr) {
            return Err(invalid());
        }
        // Users stored before root was refused at write time are caught at
        // issue too (`issue_login`); refuse here before clearing failures.
        refuse_root(&normalize_policies(&user.token.token_policies))?;
        self.throttle.succeeded(name);
        let mut login = user.token.login(name.to_string());
        login.metadata.insert("username".into(), name.to_string());
        tracing::info!(user = %name, "userpass login");
        Ok(AuthReply::Login(login))
    }
}

#[async_trait::async_trait]
impl AuthMethod for UserPass {
    fn help(&self) -> &'static qm_plugin_sdk::help::Help {
        &help::HELP
    }

    fn is_login_path(&self, path: &str) -> bool {
        path.starts_with("login/")
    }

    async fn handle(&self, req: &AuthRequest<'_>) -> Result<AuthReply, ApiError> {
        use Operation::*;
        let path = req.path.trim_end_matches('/');
        let parts: Vec<&str> = path.split('/').collect();
        match (parts.as_slice(), req.operation) {
            (["login", name], Create | Update) => self.login(&username(name)?, req).await,
            (["users"], List) => reply(Response::keys(self.view.list("user/").await?)?),
            (["users", name], Read) => {
                let user = self.user(&username(name)?).await?;
                reply(Response::json(user.ok_or(ApiError::NotFound)?.to_json()))
            }
            (["users", name], Create | Update) => self.write_user(username(name)?, req.data).await,
            (["users", name], Delete) => {
                let name = username(name)?;
                self.view.delete(&format!("user/{name}")).await?;
                tracing::info!(user = %name, "userpass user deleted");
                reply(Response::empty())
            }
            (["users", name, "password"], Create | Update) => {
                self.change_password(&username(name)?, req.data).await
            }
            (["users", name, "policies"], Create | Update) => {
                self.set_policies(&username(name)?, req.data).await
            }
            (
                ["login", _] | ["users"] | ["users", _] | ["users", _, "password" | "policies"],
                _,
            ) => Err(ApiError::UnsupportedOperation),
            // A name that spans segments (`users/a/b`, `login/a/b`).
            (["users" | "login", _, ..], _) => Err(ApiError::bad(
                "invalid username: a username is one path segment",
            )),
            _ => Err(ApiError::NoHandler(format!("unsupported path: {path:?}"))),
        }
    }
}
