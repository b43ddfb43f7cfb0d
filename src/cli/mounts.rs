//! `qm secrets enable|disable|list|tune|move` and `qm auth
//! enable|disable|list`, as the Vault CLI's: the mount tables through
//! `sys/mounts`, `sys/auth` and `sys/remount`.

use super::client::Client;
use super::generic::{fail, print_response};
use super::{output, ClientArgs, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::Subcommand;
use serde_json::{json, Map, Value};

#[derive(Subcommand)]
pub(crate) enum SecretsCommand {
    /// Mount a secrets engine (`kv`, `kv-v2`, `database`, `aws`, ...).
    Enable {
        engine: String,
        /// Where (default: the engine's name).
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// KV only: 1 or 2.
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        default_lease_ttl: Option<String>,
        #[arg(long)]
        max_lease_ttl: Option<String>,
    },
    /// Unmount (its leases are revoked, its data deleted).
    Disable { path: String },
    /// The mounted secrets engines.
    List,
    /// Change a mount's TTLs, description or options.
    Tune {
        path: String,
        #[arg(long)]
        default_lease_ttl: Option<String>,
        #[arg(long)]
        max_lease_ttl: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// KV: 2 upgrades a version 1 mount.
        #[arg(long)]
        version: Option<String>,
    },
    /// Move a mount to another path.
    Move { from: String, to: String },
}

#[derive(Subcommand)]
pub(crate) enum AuthCommand {
    /// Enable an auth method (`approle`, `jwt`, `userpass`, ...).
    Enable {
        method: String,
        #[arg(long)]
        path: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Disable an auth method (its tokens are revoked).
    Disable { path: String },
    /// The enabled auth methods.
    List,
}

fn trimmed(path: &str) -> &str {
    path.trim_matches('/')
}

/// The config fields given, as `sys/mounts` takes them.
fn config(pairs: [(&str, &Option<String>); 2]) -> Map<String, Value> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.to_string(), json!(v))))
        .collect()
}

/// Prints a mount table as the Vault CLI does: path, type, description.
fn print_table(client: &Client, body: &Value) {
    if client.structured() {
        output::structured(client.format, body);
        return;
    }
    let Some(Value::Object(mounts)) = body.get("data") else {
        return;
    };
    let width = mounts.keys().map(String::len).max().unwrap_or(4).max(4);
    println!("{:<width$}    {:<12}    Description", "Path", "Type");
    println!("{:<width$}    {:<12}    -----------", "----", "----");
    for (path, mount) in mounts {
        let field = |name: &str| mount.get(name).map(output::cell).unwrap_or_default();
        println!(
            "{path:<width$}    {:<12}    {}",
            field("type"),
            field("description")
        );
    }
}

/// `secrets list`, `auth list`: the table at `path`.
async fn list(client: &Client, path: &str) -> i32 {
    match client.call("GET", path, None).await {
        Ok(Some(body)) => {
            print_table(client, &body);
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(e) => fail(e),
    }
}

async fn done(client: &Client, method: &str, path: &str, body: Option<Value>, said: String) -> i32 {
    match client.call(method, path, body).await {
        Ok(Some(answer)) if client.structured() => {
            print_response(client, &answer);
            EXIT_OK
        }
        Ok(_) => {
            println!("{said}");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

pub(crate) async fn secrets(command: SecretsCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match command {
        SecretsCommand::Enable {
            engine,
            path,
            description,
            version,
            default_lease_ttl,
            max_lease_ttl,
        } => {
            let path = path.unwrap_or_else(|| engine.clone());
            let mut body = json!({
                "type": engine,
                "config": config([("default_lease_ttl", &default_lease_ttl), ("max_lease_ttl", &max_lease_ttl)]),
            });
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            if let Some(version) = version {
                body["options"] = json!({ "version": version });
            }
            let said = format!(
                "Success! Enabled the {engine} secrets engine at: {}/",
                trimmed(&path)
            );
            done(
                &client,
                "POST",
                &format!("sys/mounts/{}", trimmed(&path)),
                Some(body),
                said,
            )
            .await
        }
        SecretsCommand::Disable { path } => {
            let said = format!(
                "Success! Disabled the secrets engine (if it existed) at: {}/",
                trimmed(&path)
            );
            done(
                &client,
                "DELETE",
                &format!("sys/mounts/{}", trimmed(&path)),
                None,
                said,
            )
            .await
        }
        SecretsCommand::List => list(&client, "sys/mounts").await,
        SecretsCommand::Tune {
            path,
            default_lease_ttl,
            max_lease_ttl,
            description,
            version,
        } => {
            let mut body = Value::Object(config([
                ("default_lease_ttl", &default_lease_ttl),
                ("max_lease_ttl", &max_lease_ttl),
            ]));
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            if let Some(version) = version {
                body["options"] = json!({ "version": version });
            }
            if body.as_object().is_some_and(Map::is_empty) {
                eprintln!("Error: nothing to tune (give --default-lease-ttl, --max-lease-ttl, --description or --version)");
                return EXIT_LOCAL_ERROR;
            }
            let said = format!("Success! Tuned the secrets engine at: {}/", trimmed(&path));
            done(
                &client,
                "POST",
                &format!("sys/mounts/{}/tune", trimmed(&path)),
                Some(body),
                said,
            )
            .await
        }
        SecretsCommand::Move { from, to } => {
            let body = json!({ "from": trimmed(&from), "to": trimmed(&to) });
            let said = format!(
                "Success! Finished moving secrets engine {}/ to {}/",
                trimmed(&from),
                trimmed(&to)
            );
            done(&client, "POST", "sys/remount", Some(body), said).await
        }
    }
}

pub(crate) async fn auth(command: AuthCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match command {
        AuthCommand::Enable {
            method,
            path,
            description,
        } => {
            let path = path.unwrap_or_else(|| method.clone());
            let mut body = json!({ "type": method });
            if let Some(description) = description {
                body["description"] = json!(description);
            }
            let said = format!(
                "Success! Enabled {method} auth method at: {}/",
                trimmed(&path)
            );
            done(
                &client,
                "POST",
                &format!("sys/auth/{}", trimmed(&path)),
                Some(body),
                said,
            )
            .await
        }
        AuthCommand::Disable { path } => {
            let said = format!(
                "Success! Disabled the auth method (if it existed) at: {}/",
                trimmed(&path)
            );
            done(
                &client,
                "DELETE",
                &format!("sys/auth/{}", trimmed(&path)),
                None,
                said,
            )
            .await
        }
        AuthCommand::List => list(&client, "sys/auth").await,
    }
}
