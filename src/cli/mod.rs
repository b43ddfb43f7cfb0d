//! The `qm` command line: the server, and a client for the API in the style
//! of the `vault`/`bao` CLI (`-format=json` and single-dash long flags work).

// The CLI is a client: it indexes and sums its own arguments and the
// server's answers, and serves no request, so the server-side rules on
// request data (no panicking index, no unchecked arithmetic) are not enforced here.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod agent;
mod audit;
mod client;
mod discover;
mod exec;
mod generic;
mod kv;
mod lease;
mod login;
mod login_command;
mod migrate;
mod mounts;
mod nhi;
mod operator;
mod output;
mod policy;
mod secrets;
mod server;
mod systemd;
mod token;

use clap::{Args, Parser, Subcommand};

/// Exit codes, as the Vault CLI uses them.
pub(crate) const EXIT_OK: i32 = 0;
pub(crate) const EXIT_LOCAL_ERROR: i32 = 1;
pub(crate) const EXIT_API_ERROR: i32 = 2;

#[derive(Parser)]
#[command(
    name = "qm",
    version,
    about = "Quartermaster: leased credentials for machine identities"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where and how the client talks to the server.
#[derive(Args, Clone)]
pub(crate) struct ClientArgs {
    /// Server address (QM_ADDR, then VAULT_ADDR; default http://127.0.0.1:8200).
    #[arg(long, global = true)]
    address: Option<String>,
    /// Output format: table, json or yaml.
    #[arg(long, global = true, default_value = "table", value_parser = output::Format::parse)]
    format: output::Format,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Server(server::ServerArgs),
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Initialize, unseal, seal and rotate.
    Operator {
        #[command(subcommand)]
        command: operator::OperatorCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show seal status (exit code 2 when sealed).
    Status {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Versioned key/value secrets (KV v2).
    Kv {
        #[command(subcommand)]
        command: kv::KvCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Log in with a token or an auth method; stores the token in ~/.vault-token.
    Login {
        #[command(flatten)]
        login: login_command::LoginCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Create, look up, renew and revoke tokens.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Look up, renew and revoke leases (one, or by prefix).
    Lease {
        #[command(subcommand)]
        command: lease::LeaseCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Discovery: find identities outside the broker (database roles,
    /// secrets in files), retire or adopt them.
    Discover {
        #[command(subcommand)]
        command: discover::DiscoverCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// The identity inventory: list, show, offboard an owner.
    Nhi {
        #[command(subcommand)]
        command: nhi::NhiCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Database engine helpers.
    Db {
        #[command(subcommand)]
        command: DbCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// AWS engine helpers.
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Manage ACL policies.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Enable, disable, list, tune and move secrets engines.
    Secrets {
        #[command(subcommand)]
        command: mounts::SecretsCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Enable, disable and list auth methods.
    Auth {
        #[command(subcommand)]
        command: mounts::AuthCommand,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a command with leased credentials in its environment; renew them
    /// while it runs, revoke them when it ends.
    Exec {
        #[command(flatten)]
        exec: Box<exec::ExecArgs>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Run a sidecar: log in, keep a token sink and templates rendered
    /// from leased secrets, renew, revoke on shutdown.
    Agent {
        #[command(flatten)]
        agent: agent::AgentArgs,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Read any path.
    Read {
        path: String,
        /// Print only this field (of `data`, or of `auth`: `token`, `token_accessor`, ...).
        #[arg(long)]
        field: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Write key=value pairs (or @file.json, or - for JSON on stdin) to any path.
    Write {
        path: String,
        pairs: Vec<String>,
        /// Print only this field of the answer (`token` after a login).
        #[arg(long)]
        field: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completion { shell: clap_complete::Shell },
    /// Print the manual page (roff), as `qm man | man -l -`.
    Man,
    /// Unwrap a wrapped response (the current token is the wrapping token when none is given).
    Unwrap {
        token: Option<String>,
        /// Print only this field.
        #[arg(long)]
        field: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the help text of any path (the server's `?help=1`): what the
    /// backend serves there and which fields it takes.
    PathHelp {
        path: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// List the keys under any path.
    List {
        path: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Delete any path.
    Delete {
        path: String,
        #[command(flatten)]
        client: ClientArgs,
    },
}

#[derive(Subcommand)]
enum DbCommand {
    /// List Postgres users that look like ours but have no lease; --fix drops them.
    Reconcile {
        /// The database config name (database/config/NAME).
        name: String,
        #[arg(long)]
        fix: bool,
        /// The database engine's mount path.
        #[arg(long, default_value = "database")]
        mount: String,
    },
}

#[derive(Subcommand)]
enum AwsCommand {
    /// End every AWS session issued so far for a role, at once: attaches a
    /// deny policy (older sessions only) to its IAM roles and revokes the leases.
    RevokeSessions {
        /// The role (aws/roles/NAME).
        name: String,
        /// The AWS engine's mount path.
        #[arg(long, default_value = "aws")]
        mount: String,
    },
}

/// Accepts the Vault CLI's single-dash long flags (`-format=json`).
fn normalize_args(args: impl Iterator<Item = String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        if passthrough || arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        let bytes = arg.as_bytes();
        let single_dash_long = bytes.len() > 2
            && bytes[0] == b'-'
            && bytes[1].is_ascii_alphabetic()
            && bytes[2].is_ascii_alphabetic();
        out.push(if single_dash_long {
            format!("-{arg}")
        } else {
            arg
        });
    }
    out
}

/// Runs the CLI; returns the process exit code.
pub fn run() -> i32 {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args())) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // A usage error is a local one (1), as the Vault CLI's.
            return if e.use_stderr() {
                EXIT_LOCAL_ERROR
            } else {
                EXIT_OK
            };
        }
    };
    let command = match cli.command {
        Command::Server(args) => return server::run(args),
        other => other,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error starting the client runtime: {e}");
            return EXIT_LOCAL_ERROR;
        }
    };
    runtime.block_on(async move {
        match command {
            Command::Server(_) => EXIT_OK,
            Command::Audit { command, client } => audit::run(command, &client).await,
            Command::Operator { command, client } => operator::run(command, &client).await,
            Command::Status { client } => operator::status(&client).await,
            Command::Kv { command, client } => kv::run(command, &client).await,
            Command::Login { login, client } => login_command::run(login, &client).await,
            Command::Token { command, client } => token::run(command, &client).await,
            Command::Policy { command, client } => policy::run(command, &client).await,
            Command::Secrets { command, client } => mounts::secrets(command, &client).await,
            Command::Auth { command, client } => mounts::auth(command, &client).await,
            Command::Lease { command, client } => lease::run(command, &client).await,
            Command::Nhi { command, client } => nhi::run(command, &client).await,
            Command::Discover { command, client } => discover::run(command, &client).await,
            Command::Aws {
                command: AwsCommand::RevokeSessions { name, mount },
                client,
            } => {
                let path = format!("{}/roles/{name}/revoke-sessions", mount.trim_matches('/'));
                generic::write(&path, &[], None, &client).await
            }
            Command::Db {
                command: DbCommand::Reconcile { name, fix, mount },
                client,
            } => {
                let pair = format!("fix={fix}");
                generic::write(
                    &format!("{}/reconcile/{name}", mount.trim_matches('/')),
                    &[pair],
                    None,
                    &client,
                )
                .await
            }
            Command::Exec { exec, client } => exec::run(*exec, &client).await,
            Command::Agent { agent, client } => agent::run(agent, &client).await,
            Command::Read {
                path,
                field,
                client,
            } => generic::read(&path, field.as_deref(), &client).await,
            Command::Write {
                path,
                pairs,
                field,
                client,
            } => generic::write(&path, &pairs, field.as_deref(), &client).await,
            Command::List { path, client } => generic::list(&path, &client).await,
            Command::Completion { shell } => {
                let mut command = <Cli as clap::CommandFactory>::command();
                // Into memory first: writing straight to a closed pipe
                // (`| head`) would panic inside clap_complete.
                let mut script = Vec::new();
                clap_complete::generate(shell, &mut command, "qm", &mut script);
                match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                    Ok(()) => EXIT_OK,
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
                    Err(e) => {
                        eprintln!("Error writing the completion script: {e}");
                        EXIT_LOCAL_ERROR
                    }
                }
            }
            Command::Man => {
                let command = <Cli as clap::CommandFactory>::command();
                match clap_mangen::Man::new(command).render(&mut std::io::stdout()) {
                    Ok(()) => EXIT_OK,
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
                    Err(e) => {
                        eprintln!("Error writing the manual page: {e}");
                        EXIT_LOCAL_ERROR
                    }
                }
            }
            Command::Unwrap {
                token,
                field,
                client,
            } => generic::unwrap(token.as_deref(), field.as_deref(), &client).await,
            Command::Delete { path, client } => generic::delete(&path, &client).await,
            Command::PathHelp { path, client } => generic::path_help(&path, &client).await,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_dash_long_flags_become_double_dash() {
        let args = [
            "qm",
            "kv",
            "get",
            "-format=json",
            "-v",
            "secret/x",
            "--",
            "-format",
        ];
        let out = normalize_args(args.iter().map(|s| s.to_string()));
        assert_eq!(
            out,
            [
                "qm",
                "kv",
                "get",
                "--format=json",
                "-v",
                "secret/x",
                "--",
                "-format"
            ]
        );
    }
}
