//! Logging in from the command line, for `qm exec`: with the token in the
//! environment, with AppRole (a role ID and a secret ID, or a wrapped secret
//! ID that is unwrapped first), or with a JWT from a file or a variable.
//! Secrets are read from files or variables, never from the command line.

use super::client::Client;
use clap::Args;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// Flags of `qm exec`, and the `[auth]` table of `qm agent`'s config.
#[derive(Args, Clone, Default, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LoginArgs {
    /// How to log in: token (QM_TOKEN/VAULT_TOKEN), approle or jwt.
    /// Default: approle when a role ID is given, jwt when a JWT is, else token.
    #[arg(long)]
    method: Option<String>,
    /// The auth method's mount path (default: approle or jwt).
    #[arg(long)]
    auth_mount: Option<String>,
    /// AppRole role ID (an identifier, not a secret).
    #[arg(long)]
    role_id: Option<String>,
    /// A file holding the AppRole secret ID.
    #[arg(long)]
    secret_id_file: Option<std::path::PathBuf>,
    /// A file holding a wrapping token that unwraps to the secret ID.
    #[arg(long)]
    wrapped_secret_id_file: Option<std::path::PathBuf>,
    /// A file holding the JWT (e.g. a Kubernetes service-account token).
    #[arg(long)]
    jwt_file: Option<std::path::PathBuf>,
    /// An environment variable holding the JWT (e.g. a CI job's ID token).
    #[arg(long)]
    jwt_env: Option<String>,
    /// The JWT role to log in with.
    #[arg(long)]
    jwt_role: Option<String>,
}

impl LoginArgs {
    /// The variable the JWT is read from, if `--jwt-env` names one.
    pub(crate) fn jwt_env(&self) -> Option<&str> {
        self.jwt_env.as_deref()
    }
}

/// The token in use. One this process obtained by logging in (`login` is
/// set) it revokes when done, and replaces by logging in again when it can
/// no longer be renewed.
pub(crate) struct Session {
    pub(crate) ttl: i64,
    pub(crate) renewable: bool,
    /// How to log in again; `None` for a token given from outside.
    pub(crate) login: Option<LoginArgs>,
}

fn read_secret(path: &std::path::Path, what: &str) -> Result<Zeroizing<String>, String> {
    std::fs::read_to_string(path)
        .map(|s| Zeroizing::new(s.trim().to_string()))
        .map_err(|e| format!("cannot read the {what} from {}: {e}", path.display()))
}

async fn unwrap_secret_id(client: &Client, wrapping: &str) -> Result<Zeroizing<String>, String> {
    let answer = client
        .call(
            "PUT",
            "sys/wrapping/unwrap",
            Some(json!({ "token": wrapping })),
        )
        .await
        .map_err(|e| format!("unwrapping the secret ID failed: {e}"))?;
    answer
        .as_ref()
        .and_then(|a| a["data"]["secret_id"].as_str())
        .map(|s| Zeroizing::new(s.to_string()))
        .ok_or_else(|| "the wrapped response holds no secret_id".to_string())
}

/// Logs in as `args` says and points `client` at the new token.
pub(crate) async fn login(client: &mut Client, args: &LoginArgs) -> Result<Session, String> {
    let method = match args.method.as_deref() {
        Some(method) => method.to_string(),
        None if args.role_id.is_some() => "approle".into(),
        None if args.jwt_file.is_some() || args.jwt_env.is_some() => "jwt".into(),
        None => "token".into(),
    };
    let mount = args.auth_mount.clone().unwrap_or_else(|| method.clone());
    let body = match method.as_str() {
        "token" => {
            if !client.has_token() {
                return Err(
                    "no token: set QM_TOKEN, or log in with --role-id or --jwt-file".into(),
                );
            }
            let me = client
                .call("GET", "auth/token/lookup-self", None)
                .await
                .map_err(|e| format!("the token is not valid: {e}"))?
                .unwrap_or_default();
            return Ok(Session {
                ttl: me["data"]["ttl"].as_i64().unwrap_or(0),
                renewable: me["data"]["renewable"].as_bool().unwrap_or(false),
                login: None,
            });
        }
        "approle" => {
            let role_id = args
                .role_id
                .clone()
                .ok_or("--role-id is required for approle")?;
            let secret_id = match (&args.secret_id_file, &args.wrapped_secret_id_file) {
                (Some(file), _) => read_secret(file, "secret ID")?,
                (None, Some(file)) => {
                    let wrapping = read_secret(file, "wrapping token")?;
                    unwrap_secret_id(client, &wrapping).await?
                }
                (None, None) => Zeroizing::new(String::new()),
            };
            json!({ "role_id": role_id, "secret_id": secret_id.as_str() })
        }
        "jwt" => {
            let jwt = match (&args.jwt_file, &args.jwt_env) {
                (Some(file), _) => read_secret(file, "JWT")?,
                (None, Some(var)) => {
                    Zeroizing::new(std::env::var(var).map_err(|_| format!("${var} is not set"))?)
                }
                (None, None) => return Err("--jwt-file or --jwt-env is required for jwt".into()),
            };
            let mut body = json!({ "jwt": jwt.as_str() });
            if let Some(role) = &args.jwt_role {
                body["role"] = json!(role);
            }
            body
        }
        other => {
            return Err(format!(
                "unknown login method {other:?}: use token, approle or jwt"
            ))
        }
    };
    let answer: Value = client
        .call("PUT", &format!("auth/{mount}/login"), Some(body))
        .await
        .map_err(|e| format!("login failed: {e}"))?
        .unwrap_or_default();
    let auth = &answer["auth"];
    let token = auth["client_token"]
        .as_str()
        .ok_or("the login answered without a token")?;
    client.set_token(Zeroizing::new(token.to_string()));
    Ok(Session {
        ttl: auth["lease_duration"].as_i64().unwrap_or(0),
        renewable: auth["renewable"].as_bool().unwrap_or(false),
        login: Some(args.clone()),
    })
}
