//! `qm policy write|read|list|delete`.

use super::client::Client;
use super::generic::fail;
use super::{output, ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub(crate) enum PolicyCommand {
    /// Write a policy from a file (HCL or JSON), or - for standard input.
    Write {
        name: String,
        file: String,
    },
    Read {
        name: String,
    },
    List,
    Delete {
        name: String,
    },
}

pub(crate) async fn run(command: PolicyCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match command {
        PolicyCommand::Write { name, file } => write_policy(&client, &name, &file).await,
        PolicyCommand::Read { name } => read_policy(&client, &name).await,
        PolicyCommand::List => list_policies(&client).await,
        PolicyCommand::Delete { name } => match client
            .call("DELETE", &format!("sys/policies/acl/{name}"), None)
            .await
        {
            Ok(_) => {
                println!("Success! Deleted policy: {name}");
                EXIT_OK
            }
            Err(e) => fail(e),
        },
    }
}

/// `policy write`: uploads the policy in `file` (or stdin for `-`).
async fn write_policy(client: &Client, name: &str, file: &str) -> i32 {
    let text = if file == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map(|_| text)
    } else {
        std::fs::read_to_string(file)
    };
    let text = match text {
        Ok(t) => t,
        Err(e) => {
            eprintln!("Error reading policy from {file}: {e}");
            return EXIT_LOCAL_ERROR;
        }
    };
    match client
        .call(
            "PUT",
            &format!("sys/policies/acl/{name}"),
            Some(json!({ "policy": text })),
        )
        .await
    {
        Ok(_) => {
            println!("Success! Uploaded policy: {name}");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

/// `policy read`: prints the policy's text.
async fn read_policy(client: &Client, name: &str) -> i32 {
    match client
        .call("GET", &format!("sys/policies/acl/{name}"), None)
        .await
    {
        Ok(Some(body)) if client.structured() => {
            output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            println!(
                "{}",
                body.pointer("/data/policy")
                    .and_then(Value::as_str)
                    .unwrap_or("")
            );
            EXIT_OK
        }
        Ok(None) => {
            eprintln!("No policy named: {name}");
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

/// `policy list`: one name a line.
async fn list_policies(client: &Client) -> i32 {
    match client.call("LIST", "sys/policies/acl", None).await {
        Ok(Some(body)) if client.structured() => {
            output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            for key in body
                .pointer("/data/keys")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                println!("{}", output::cell(key));
            }
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(e) => fail(e),
    }
}
