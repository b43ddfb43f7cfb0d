//! `qm exec`: run a command with leased credentials in its environment,
//! without changing its code. Logs in, fetches every secret before the
//! command starts (or starts nothing and exits 125), keeps renewable leases
//! renewed at about two-thirds of their TTL, replaces a credential that
//! cannot be renewed further (signalling the command, restarting it, or
//! exiting, as chosen), forwards signals, and when the command ends revokes
//! its leases and exits with the command's code.
//!
//! Replaced values cannot reach a running process's environment, so they
//! are also kept in a 0600 file whose path the command gets in
//! `$QM_SECRETS_FILE` (`NAME='value'` lines, for `. "$QM_SECRETS_FILE"`).
//!
//! The command does not inherit the credentials exec logged in with
//! (`QM_TOKEN`, `VAULT_TOKEN`, `BAO_TOKEN`, the `--jwt-env` variable): it
//! gets the secrets it was given, not the identity that fetched them.
//! `--keep-token` passes them on; a variable named by `--env` or `--set` is
//! always set.

use super::client::Client;
use super::login::{login, LoginArgs};
use super::secrets::held::{self, Held};
use super::secrets::spec;
use super::ClientArgs;
use clap::Args;
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

/// `qm exec` itself failed (login, fetch, bad flags); the command did not run.
pub(crate) const EXIT_EXEC_FAILED: i32 = 125;

#[derive(Args)]
pub(crate) struct ExecArgs {
    #[command(flatten)]
    login: LoginArgs,
    /// NAME=PATH#FIELD, or NAME1,NAME2=PATH for the engine's fields in order
    /// (database: username,password). Repeatable.
    #[arg(long = "env", value_name = "NAMES=PATH")]
    env: Vec<String>,
    /// An AWS credentials path (aws/creds/ROLE) into AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN.
    #[arg(long)]
    aws: Vec<String>,
    /// NAME=TEMPLATE: a variable built from the others, e.g.
    /// DATABASE_URL='postgres://{{PGUSER}}:{{PGPASSWORD}}@db:5432/app'.
    #[arg(long, value_name = "NAME=TEMPLATE")]
    set: Vec<String>,
    /// A TOML file of [[secret]] tables (path, env = { NAME = "field" }).
    #[arg(long)]
    secrets: Option<PathBuf>,
    /// When a credential is replaced: signal (the new values are in
    /// $QM_SECRETS_FILE), restart, or exit.
    #[arg(long, default_value = "signal")]
    on_rotate: String,
    /// The signal sent on rotation.
    #[arg(long, default_value = "SIGHUP")]
    rotate_signal: String,
    /// Leave the leases to expire instead of revoking them when the command ends.
    #[arg(long)]
    no_revoke: bool,
    /// Let the command inherit QM_TOKEN, VAULT_TOKEN, BAO_TOKEN and the
    /// --jwt-env variable (removed from its environment by default).
    #[arg(long)]
    keep_token: bool,
    /// The command and its arguments (after --).
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    command: Vec<String>,
}

/// Variables that carry exec's own credentials.
const TOKEN_VARS: [&str; 3] = ["QM_TOKEN", "VAULT_TOKEN", "BAO_TOKEN"];

/// The variables removed from the command's environment.
fn withheld(args: &ExecArgs) -> Vec<String> {
    if args.keep_token {
        return Vec::new();
    }
    TOKEN_VARS
        .iter()
        .map(|v| v.to_string())
        .chain(args.login.jwt_env().map(String::from))
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum OnRotate {
    Signal(Signal),
    Restart,
    Exit,
}

fn on_rotate(args: &ExecArgs) -> Result<OnRotate, String> {
    match args.on_rotate.as_str() {
        "signal" => {
            let name = args.rotate_signal.to_uppercase();
            let name = if name.starts_with("SIG") {
                name
            } else {
                format!("SIG{name}")
            };
            name.parse::<Signal>()
                .map(OnRotate::Signal)
                .map_err(|_| format!("--rotate-signal: unknown signal {:?}", args.rotate_signal))
        }
        "restart" => Ok(OnRotate::Restart),
        "exit" => Ok(OnRotate::Exit),
        other => Err(format!(
            "--on-rotate: {other:?} is not one of signal, restart, exit"
        )),
    }
}

/// Runs `qm exec`; returns the exit code.
pub(crate) async fn run(args: ExecArgs, client_args: &ClientArgs) -> i32 {
    match prepare(&args, client_args).await {
        Ok((client, held, rotate)) => supervise(args, client, held, rotate).await,
        Err(message) => {
            eprintln!("qm exec: {message}");
            EXIT_EXEC_FAILED
        }
    }
}

async fn prepare(
    args: &ExecArgs,
    client_args: &ClientArgs,
) -> Result<(Client, Held, OnRotate), String> {
    let rotate = on_rotate(args)?;
    let file = match &args.secrets {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        ),
        None => None,
    };
    let specs = spec::parse(&args.env, &args.aws, file.as_deref())?;
    let mut client = Client::new(client_args);
    let session = login(&mut client, &args.login).await?;
    let derived = args
        .set
        .iter()
        .map(|flag| {
            flag.split_once('=')
                .map(|(name, template)| (name.trim().to_string(), template.to_string()))
                .ok_or_else(|| format!("--set {flag:?}: expected NAME=TEMPLATE"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let held = Held::fetch(&client, specs, session, derived, true).await?;
    Ok((client, held, rotate))
}

fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

async fn supervise(args: ExecArgs, mut client: Client, mut held: Held, rotate: OnRotate) -> i32 {
    let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut quit)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
        signal(SignalKind::quit()),
    ) else {
        eprintln!("qm exec: cannot listen for signals");
        held.release(&client, !args.no_revoke).await;
        return EXIT_EXEC_FAILED;
    };

    let withheld = withheld(&args);
    // Listening before the command starts: no signal falls between.
    let mut child = match held.spawn(&args.command, &withheld) {
        Ok(child) => child,
        Err(code) => {
            held.release(&client, !args.no_revoke).await;
            return code;
        }
    };
    let code = loop {
        let wait = held
            .next_due()
            .saturating_duration_since(tokio::time::Instant::now());
        tokio::select! {
            status = child.wait() => break status.map(exit_code).unwrap_or(1),
            _ = term.recv() => held::forward(&child, Signal::SIGTERM),
            _ = int.recv() => held::forward(&child, Signal::SIGINT),
            _ = hup.recv() => held::forward(&child, Signal::SIGHUP),
            _ = quit.recv() => held::forward(&child, Signal::SIGQUIT),
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {
                if !held.maintain(&mut client).await.values {
                    continue;
                }
                match rotate {
                    OnRotate::Signal(sig) => held::forward(&child, sig),
                    OnRotate::Restart => {
                        held::forward(&child, Signal::SIGTERM);
                        let _ = child.wait().await;
                        match held.spawn(&args.command, &withheld) {
                            Ok(restarted) => child = restarted,
                            Err(code) => break code,
                        }
                    }
                    OnRotate::Exit => {
                        held::forward(&child, Signal::SIGTERM);
                        break child.wait().await.map(exit_code).unwrap_or(1);
                    }
                }
            }
        }
    };
    held.release(&client, !args.no_revoke).await;
    code
}
