//! `qm login`, as the Vault CLI's: with a token, or through an auth method
//! with `key=value` fields (`-method=userpass username=ops`, `-method=approle
//! role_id=... secret_id=...`, `-method=jwt role=... jwt=...`); the token is
//! stored in `~/.vault-token` (mode 0600), where every later command finds
//! it. A userpass password is asked for without echo when not given.

use super::client::Client;
use super::generic::{fail, parse_pairs};
use super::{output, ClientArgs, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::Args;
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

#[derive(Args)]
pub(crate) struct LoginCommand {
    /// token (default), userpass, approle or jwt.
    #[arg(long, default_value = "token")]
    method: String,
    /// The auth method's mount path (default: the method's name).
    #[arg(long)]
    path: Option<String>,
    /// Do not write the token to ~/.vault-token.
    #[arg(long)]
    no_store: bool,
    /// Print only the token.
    #[arg(long)]
    token_only: bool,
    /// The token (method token; read from standard input when omitted), or
    /// the method's key=value fields.
    args: Vec<String>,
}

/// The login request for `method`: its path and body.
fn request(
    method: &str,
    mount: &str,
    mut fields: Map<String, Value>,
) -> Result<(String, Map<String, Value>), String> {
    match method {
        "userpass" => {
            let username = fields
                .remove("username")
                .and_then(|u| u.as_str().map(String::from))
                .ok_or("userpass: give username=NAME")?;
            if !fields.contains_key("password") {
                let password = rpassword::prompt_password("Password (will be hidden): ")
                    .map_err(|e| format!("reading the password: {e}"))?;
                fields.insert("password".into(), json!(password));
            }
            Ok((format!("auth/{mount}/login/{username}"), fields))
        }
        "approle" | "jwt" | "oidc" => Ok((format!("auth/{mount}/login"), fields)),
        other => Err(format!(
            "-method={other}: one of token, userpass, approle, jwt"
        )),
    }
}

fn store(token: &str) -> Result<std::path::PathBuf, String> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let home = std::env::var("HOME").map_err(|_| "HOME is not set".to_string())?;
    let path = std::path::Path::new(&home).join(".vault-token");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    file.write_all(token.as_bytes())
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(path)
}

pub(crate) async fn run(command: LoginCommand, args: &ClientArgs) -> i32 {
    let mut client = Client::new(args);
    let mount = command
        .path
        .clone()
        .unwrap_or_else(|| command.method.clone());
    let mount = mount.trim_matches('/');
    let auth = if command.method == "token" {
        let token = match command
            .args
            .first()
            .cloned()
            .or_else(|| rpassword::prompt_password("Token (will be hidden): ").ok())
        {
            Some(token) if !token.trim().is_empty() => Zeroizing::new(token.trim().to_string()),
            _ => {
                eprintln!("Error: no token given");
                return EXIT_LOCAL_ERROR;
            }
        };
        client.set_token(token.clone());
        match client.call("GET", "auth/token/lookup-self", None).await {
            Ok(Some(me)) => json!({
                "client_token": token.as_str(),
                "accessor": me["data"]["accessor"],
                "lease_duration": me["data"]["ttl"],
                "renewable": me["data"]["renewable"],
                "token_policies": me["data"]["policies"],
                "policies": me["data"]["policies"],
            }),
            Ok(None) => {
                eprintln!("Error: the token was not found");
                return super::EXIT_API_ERROR;
            }
            Err(e) => return fail(e),
        }
    } else {
        let fields = match parse_pairs(&command.args)
            .and_then(|fields| request(&command.method, mount, fields))
        {
            Ok(request) => request,
            Err(e) => {
                eprintln!("Error: {e}");
                return EXIT_LOCAL_ERROR;
            }
        };
        let (path, body) = fields;
        match client.call("PUT", &path, Some(Value::Object(body))).await {
            Ok(Some(answer)) if answer["auth"].is_object() => answer["auth"].clone(),
            Ok(_) => {
                eprintln!("Error: the login answered no token");
                return super::EXIT_API_ERROR;
            }
            Err(e) => return fail(e),
        }
    };
    let token = auth["client_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if !command.no_store {
        if let Err(e) = store(&token) {
            eprintln!("Error: {e}");
            return EXIT_LOCAL_ERROR;
        }
    }
    if command.token_only {
        println!("{token}");
        return EXIT_OK;
    }
    if client.structured() {
        output::structured(client.format, &json!({ "auth": auth }));
        return EXIT_OK;
    }
    println!("Success! You are now authenticated. The token information displayed below");
    println!("is already stored in the token helper. You do NOT need to run \"qm login\"");
    println!("again. Future requests will automatically use this token.\n");
    output::auth(&auth);
    EXIT_OK
}
