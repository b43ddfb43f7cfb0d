//! `qm lease lookup|renew|revoke`: one lease, or every lease under a prefix.

use super::client::{CallError, Client};
use super::generic::{fail, print_response};
use super::{output, ClientArgs, EXIT_API_ERROR, EXIT_OK};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub(crate) enum LeaseCommand {
    /// Show a lease (expiry, state, revocation attempts), or with --prefix
    /// list the leases under a prefix.
    Lookup {
        lease_id: String,
        #[arg(long)]
        prefix: bool,
    },
    /// Extend a lease, within its max TTL.
    Renew {
        lease_id: String,
        /// Requested extension, e.g. 1h.
        #[arg(long)]
        increment: Option<String>,
    },
    /// Revoke a lease, or with --prefix every lease under a prefix
    /// (e.g. database/creds/app-ro/). --force forgets leases without asking
    /// the backend (for backends that are gone for good).
    Revoke {
        lease_id: String,
        #[arg(long)]
        prefix: bool,
        #[arg(long)]
        force: bool,
        /// Return at once and revoke in the background (prints a job id,
        /// whose progress is at sys/nhi/jobs/ID).
        #[arg(long)]
        background: bool,
    },
}

pub(crate) async fn run(command: LeaseCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match command {
        LeaseCommand::Lookup {
            lease_id,
            prefix: true,
        } => {
            super::generic::list(
                &format!("sys/leases/lookup/{}", lease_id.trim_start_matches('/')),
                args,
            )
            .await
        }
        LeaseCommand::Lookup { lease_id, .. } => {
            let result = client
                .call(
                    "PUT",
                    "sys/leases/lookup",
                    Some(json!({ "lease_id": lease_id })),
                )
                .await;
            print_lease(&client, result)
        }
        LeaseCommand::Renew {
            lease_id,
            increment,
        } => {
            let result = client
                .call(
                    "PUT",
                    "sys/leases/renew",
                    Some(json!({ "lease_id": lease_id, "increment": increment })),
                )
                .await;
            print_lease(&client, result)
        }
        LeaseCommand::Revoke {
            lease_id,
            prefix,
            force,
            background,
        } => revoke(&client, &lease_id, prefix, force, background).await,
    }
}

/// Prints a looked-up or renewed lease.
fn print_lease(client: &Client, result: Result<Option<Value>, CallError>) -> i32 {
    match result {
        Ok(Some(body)) => {
            print_response(client, &body);
            EXIT_OK
        }
        Ok(None) => {
            eprintln!("No lease found");
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

/// `lease revoke`: one lease, or (`prefix`) all under a prefix, or
/// (`force`) forgets them without asking the backend; in the background
/// it prints the job id.
async fn revoke(
    client: &Client,
    lease_id: &str,
    prefix: bool,
    force: bool,
    background: bool,
) -> i32 {
    let body = json!({ "sync": !background });
    let path = match (prefix, force) {
        (_, true) => format!("sys/leases/revoke-force/{lease_id}"),
        (true, false) => format!("sys/leases/revoke-prefix/{lease_id}"),
        (false, false) => format!("sys/leases/revoke/{lease_id}"),
    };
    match client.call("PUT", &path, Some(body)).await {
        Ok(Some(body)) if client.structured() => {
            output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            match body.pointer("/data/job_id").and_then(Value::as_str) {
                Some(job) => println!(
                    "Revocation started in the background: job {job} (qm read sys/nhi/jobs/{job})"
                ),
                None => {
                    print_response(client, &body);
                    println!("Success! Revoked lease {lease_id}");
                }
            }
            EXIT_OK
        }
        Ok(None) => {
            let what = if prefix || force {
                "leases under"
            } else {
                "lease"
            };
            let how = if force {
                "Forgot (without asking the backend)"
            } else {
                "Revoked"
            };
            println!("Success! {how} {what} {lease_id}");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}
