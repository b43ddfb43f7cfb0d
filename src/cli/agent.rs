//! `qm agent --config agent.toml`: a sidecar that logs in, keeps a token in
//! a sink file, renders templates from leased secrets into files (mode
//! 0600), re-renders them when a credential is replaced (running an
//! optional command after each render), keeps the token and the leases
//! renewed (logging in again, and issuing every secret anew, when the token
//! reaches its max TTL), and on SIGTERM/SIGINT revokes them and removes
//! what it wrote.
//!
//! ```toml
//! [auth]                    # as qm exec's flags: method, role_id, secret_id_file, jwt_file, ...
//! role_id = "6c0a1c49-..."
//! secret_id_file = "/run/qm/secret-id"
//!
//! [token_sink]
//! path = "/run/qm/token"
//!
//! [[secret]]
//! path = "database/creds/app"
//! env = { DB_USER = "username", DB_PASSWORD = "password" }
//!
//! [[template]]
//! destination = "/run/qm/database_url"
//! contents = "postgres://{{DB_USER}}:{{DB_PASSWORD}}@db:5432/app"
//! command = "systemctl reload app"
//! ```
//!
//! Templates name the variables of the `[[secret]]` tables as `{{NAME}}`;
//! an unknown name is an error at start.

use super::client::Client;
use super::login::{login, LoginArgs};
use super::secrets::held::{write_private, Held};
use super::secrets::spec;
use super::secrets::template::render;
use super::ClientArgs;
use clap::Args;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Args)]
pub(crate) struct AgentArgs {
    /// The agent's TOML configuration.
    #[arg(long)]
    config: PathBuf,
}

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    auth: LoginArgs,
    token_sink: Option<Sink>,
    #[serde(default)]
    template: Vec<Template>,
    /// Revoke the leases on shutdown (default true).
    #[serde(default = "yes")]
    revoke_on_exit: bool,
    /// Read by `spec::parse`.
    #[serde(default, rename = "secret")]
    _secret: Vec<toml::Value>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Sink {
    path: PathBuf,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Template {
    destination: PathBuf,
    contents: Option<String>,
    source: Option<PathBuf>,
    command: Option<String>,
    /// The template text, from `contents` or read from `source`.
    #[serde(skip)]
    text: String,
}

fn staged(path: &std::path::Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".qm-new");
    path.with_file_name(name)
}

/// Renders every template; runs their commands.
async fn render_all(templates: &[Template], held: &Held) -> Result<(), String> {
    for template in templates {
        let body = render(&template.text, held.vars())?;
        let path = &template.destination;
        write_private(&staged(path), path, &body)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if let Some(command) = &template.command {
            let status = tokio::process::Command::new("sh")
                .args(["-c", command])
                .status()
                .await;
            if !status.is_ok_and(|s| s.success()) {
                eprintln!(
                    "qm agent: the command after rendering {} failed",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// The config, with template texts loaded, and its TOML text.
fn load(args: &AgentArgs) -> Result<(Config, String), String> {
    let text = std::fs::read_to_string(&args.config)
        .map_err(|e| format!("cannot read {}: {e}", args.config.display()))?;
    let mut config: Config =
        toml::from_str(&text).map_err(|e| format!("{}: {e}", args.config.display()))?;
    for template in &mut config.template {
        template.text = match (&template.contents, &template.source) {
            (Some(contents), None) => contents.clone(),
            (None, Some(source)) => std::fs::read_to_string(source)
                .map_err(|e| format!("cannot read {}: {e}", source.display()))?,
            _ => return Err("each [[template]] needs exactly one of contents and source".into()),
        };
    }
    Ok((config, text))
}

/// Writes the token in use to the sink, if there is one.
fn write_sink(config: &Config, client: &Client) -> Result<(), String> {
    if let Some(sink) = &config.token_sink {
        let token = client.token().unwrap_or_default();
        write_private(&staged(&sink.path), &sink.path, token)
            .map_err(|e| format!("cannot write the token sink: {e}"))?;
    }
    Ok(())
}

async fn start(
    args: &AgentArgs,
    client_args: &ClientArgs,
) -> Result<(Client, Held, Config), String> {
    let (config, text) = load(args)?;
    let specs = spec::parse(&[], &[], Some(&text))?;
    let mut client = Client::new(client_args);
    let session = login(&mut client, &config.auth).await?;
    let held = Held::fetch(&client, specs, session, Vec::new(), false).await?;
    let ready = async {
        write_sink(&config, &client)?;
        render_all(&config.template, &held).await
    };
    if let Err(message) = ready.await {
        held.release(&client, true).await;
        return Err(message);
    }
    Ok((client, held, config))
}

/// Runs `qm agent`; returns the exit code.
pub(crate) async fn run(args: AgentArgs, client_args: &ClientArgs) -> i32 {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("qm agent: cannot listen for signals");
        return super::EXIT_LOCAL_ERROR;
    };
    let (mut client, mut held, config) = match start(&args, client_args).await {
        Ok(started) => started,
        Err(message) => {
            eprintln!("qm agent: {message}");
            return super::EXIT_LOCAL_ERROR;
        }
    };
    eprintln!(
        "qm agent: rendered {} template(s); running",
        config.template.len()
    );
    loop {
        let wait = held
            .next_due()
            .saturating_duration_since(tokio::time::Instant::now());
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = tokio::time::sleep(wait.max(Duration::from_millis(50))) => {
                let changes = held.maintain(&mut client).await;
                if changes.token {
                    if let Err(message) = write_sink(&config, &client) {
                        eprintln!("qm agent: {message}");
                    }
                }
                if changes.values {
                    if let Err(message) = render_all(&config.template, &held).await {
                        eprintln!("qm agent: {message}");
                    }
                }
            }
        }
    }
    held.release(&client, config.revoke_on_exit).await;
    for template in &config.template {
        let _ = std::fs::remove_file(&template.destination);
    }
    if let Some(sink) = &config.token_sink {
        let _ = std::fs::remove_file(&sink.path);
    }
    eprintln!("qm agent: stopped");
    super::EXIT_OK
}
