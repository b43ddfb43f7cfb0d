//! `qm kv get|put|patch|list|delete|undelete|destroy|metadata`: KV version 2
//! by secret path (`secret/app/db`), like `vault kv`. The mount is found by
//! asking `sys/internal/ui/mounts/PATH`, as the Vault CLI does.

use super::client::Client;
use super::generic::{fail, parse_pairs, print_response};
use super::{output, ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub(crate) enum KvCommand {
    /// Read a secret (the latest version, or --version N).
    Get {
        path: String,
        #[arg(long)]
        version: Option<u64>,
        /// Print only this field of the secret.
        #[arg(long)]
        field: Option<String>,
    },
    /// Write a new version: key=value pairs, @file.json, or - for JSON on stdin.
    Put {
        path: String,
        pairs: Vec<String>,
        /// Check-and-set: write only if the current version is this one (0: only if absent).
        #[arg(long)]
        cas: Option<u64>,
    },
    /// Merge key=value pairs into the latest version.
    Patch { path: String, pairs: Vec<String> },
    /// List secrets under a path.
    List { path: String },
    /// Soft-delete the latest version (or --versions 1,2).
    Delete {
        path: String,
        #[arg(long, value_delimiter = ',')]
        versions: Vec<u64>,
    },
    /// Restore soft-deleted versions.
    Undelete {
        path: String,
        #[arg(long, value_delimiter = ',', required = true)]
        versions: Vec<u64>,
    },
    /// Destroy versions for good.
    Destroy {
        path: String,
        #[arg(long, value_delimiter = ',', required = true)]
        versions: Vec<u64>,
    },
    /// Read or delete a secret's metadata (all versions).
    Metadata {
        #[command(subcommand)]
        command: MetadataCommand,
    },
}

#[derive(Subcommand)]
pub(crate) enum MetadataCommand {
    Get {
        path: String,
    },
    /// Set max_versions, cas_required, delete_version_after.
    Put {
        path: String,
        #[arg(long)]
        max_versions: Option<u64>,
        #[arg(long)]
        cas_required: Option<bool>,
        #[arg(long)]
        delete_version_after: Option<String>,
    },
    /// Delete every version and the metadata.
    Delete {
        path: String,
    },
}

/// Splits `secret/app/db` into the mount (`secret/`) and the rest (`app/db`).
async fn split_path(client: &Client, path: &str) -> Result<(String, String), i32> {
    let path = path.trim_matches('/');
    match client
        .call("GET", &format!("sys/internal/ui/mounts/{path}"), None)
        .await
    {
        Ok(Some(body)) => {
            let mount = body
                .pointer("/data/path")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let version = body
                .pointer("/data/options/version")
                .and_then(Value::as_str)
                .unwrap_or("1");
            if version != "2" {
                eprintln!("Error: {mount} is not a KV version 2 mount");
                return Err(EXIT_LOCAL_ERROR);
            }
            let rest = format!("{path}/")
                .strip_prefix(&mount)
                .unwrap_or("")
                .trim_end_matches('/')
                .to_string();
            Ok((mount, rest))
        }
        Ok(None) => {
            eprintln!("Error: no mount serves {path}");
            Err(EXIT_API_ERROR)
        }
        Err(e) => Err(fail(e)),
    }
}

/// A secret's place: its KV mount and its key there.
struct SecretPath {
    mount: String,
    key: String,
}

impl SecretPath {
    /// The API path of the secret in one section (`data`, `metadata`, ...).
    fn at(&self, section: &str) -> String {
        format!("{}{section}/{}", self.mount, self.key)
    }
}

/// The secret path a command names.
fn command_path(command: &KvCommand) -> &str {
    match command {
        KvCommand::Get { path, .. }
        | KvCommand::Put { path, .. }
        | KvCommand::Patch { path, .. }
        | KvCommand::List { path }
        | KvCommand::Delete { path, .. }
        | KvCommand::Undelete { path, .. }
        | KvCommand::Destroy { path, .. } => path,
        KvCommand::Metadata { command } => match command {
            MetadataCommand::Get { path }
            | MetadataCommand::Put { path, .. }
            | MetadataCommand::Delete { path } => path,
        },
    }
}

pub(crate) async fn run(command: KvCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    let secret = match split_path(&client, command_path(&command)).await {
        Ok((mount, key)) => SecretPath { mount, key },
        Err(code) => return code,
    };
    match command {
        KvCommand::Get { version, field, .. } => {
            get_secret(&client, &secret, version, field.as_deref()).await
        }
        KvCommand::Put { pairs, cas, .. } => {
            write(&client, "PUT", &secret.at("data"), &pairs, cas).await
        }
        KvCommand::Patch { pairs, .. } => {
            write(&client, "PATCH", &secret.at("data"), &pairs, None).await
        }
        KvCommand::List { .. } => super::generic::list(&secret.at("metadata"), args).await,
        KvCommand::Delete { versions, .. } => delete_versions(&client, &secret, &versions).await,
        KvCommand::Undelete { versions, .. } => {
            change_versions(&client, &secret.at("undelete"), &versions).await
        }
        KvCommand::Destroy { versions, .. } => {
            change_versions(&client, &secret.at("destroy"), &versions).await
        }
        KvCommand::Metadata { command } => run_metadata(&client, &secret, command).await,
    }
}

/// `kv get`: prints the secret (one version, or only one field).
async fn get_secret(
    client: &Client,
    secret: &SecretPath,
    version: Option<u64>,
    field: Option<&str>,
) -> i32 {
    let query = version.map(|v| format!("?version={v}")).unwrap_or_default();
    match client
        .call("GET", &format!("{}{query}", secret.at("data")), None)
        .await
    {
        Ok(Some(body)) => print_secret(client, &body, field),
        Ok(None) => {
            eprintln!("No value found at {}", secret.at("data"));
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

/// `kv delete`: soft-deletes the latest version, or the listed ones.
async fn delete_versions(client: &Client, secret: &SecretPath, versions: &[u64]) -> i32 {
    let result = if versions.is_empty() {
        client.call("DELETE", &secret.at("data"), None).await
    } else {
        client
            .call(
                "PUT",
                &secret.at("delete"),
                Some(json!({ "versions": versions })),
            )
            .await
    };
    done(
        result.map(|_| ()),
        &format!(
            "Success! Data deleted (if it existed) at: {}",
            secret.at("data")
        ),
    )
}

/// `kv undelete` and `kv destroy`: the listed versions, at `path`.
async fn change_versions(client: &Client, path: &str, versions: &[u64]) -> i32 {
    let result = client
        .call("PUT", path, Some(json!({ "versions": versions })))
        .await;
    done(
        result.map(|_| ()),
        &format!("Success! Data written to: {path}"),
    )
}

/// `kv metadata get|put|delete`.
async fn run_metadata(client: &Client, secret: &SecretPath, command: MetadataCommand) -> i32 {
    let path = secret.at("metadata");
    match command {
        MetadataCommand::Get { .. } => match client.call("GET", &path, None).await {
            Ok(Some(body)) => {
                print_response(client, &body);
                EXIT_OK
            }
            Ok(None) => {
                eprintln!("No value found at {path}");
                EXIT_API_ERROR
            }
            Err(e) => fail(e),
        },
        MetadataCommand::Put {
            max_versions,
            cas_required,
            delete_version_after,
            ..
        } => {
            let body = json!({
                "max_versions": max_versions,
                "cas_required": cas_required,
                "delete_version_after": delete_version_after,
            });
            let result = client.call("PUT", &path, Some(body)).await;
            done(
                result.map(|_| ()),
                &format!("Success! Data written to: {path}"),
            )
        }
        MetadataCommand::Delete { .. } => {
            let result = client.call("DELETE", &path, None).await;
            done(
                result.map(|_| ()),
                &format!("Success! Data deleted (if it existed) at: {path}"),
            )
        }
    }
}

fn done(result: Result<(), super::client::CallError>, message: &str) -> i32 {
    match result {
        Ok(()) => {
            println!("{message}");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

async fn write(
    client: &Client,
    method: &str,
    path: &str,
    pairs: &[String],
    cas: Option<u64>,
) -> i32 {
    if pairs.is_empty() {
        eprintln!("Error: give at least one key=value pair");
        return EXIT_LOCAL_ERROR;
    }
    let data = match parse_pairs(pairs) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("Error: {e}");
            return EXIT_LOCAL_ERROR;
        }
    };
    let mut body = json!({ "data": data });
    if let Some(cas) = cas {
        body["options"] = json!({ "cas": cas });
    }
    match client.call(method, path, Some(body)).await {
        Ok(Some(body)) => {
            print_response(client, &body);
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(e) => fail(e),
    }
}

fn print_secret(client: &Client, body: &Value, field: Option<&str>) -> i32 {
    let secret = body.pointer("/data/data").cloned().unwrap_or(Value::Null);
    if let Some(field) = field {
        return super::generic::print_found(secret.get(field), field);
    }
    if client.structured() {
        output::structured(client.format, body);
        return EXIT_OK;
    }
    if let Some(Value::Object(meta)) = body.pointer("/data/metadata") {
        println!("====== Metadata ======");
        output::map_table(meta);
    }
    if let Value::Object(data) = &secret {
        println!("\n====== Data ======");
        output::map_table(data);
    }
    EXIT_OK
}
