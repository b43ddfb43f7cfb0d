//! `qm token create|lookup|renew|revoke`.

use super::client::Client;
use super::generic::{fail, print_response};
use super::{ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::Subcommand;
use serde_json::{json, Map, Value};

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a child token of the current one.
    Create {
        /// A policy for the token (repeatable).
        #[arg(long = "policy")]
        policies: Vec<String>,
        #[arg(long)]
        ttl: Option<String>,
        #[arg(long)]
        explicit_max_ttl: Option<String>,
        #[arg(long)]
        period: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        #[arg(long)]
        num_uses: Option<u64>,
        /// Create a token without a parent (needs sudo).
        #[arg(long)]
        orphan: bool,
        #[arg(long)]
        no_default_policy: bool,
        /// Metadata key=value (repeatable); meta owner=... names the owner.
        #[arg(long)]
        metadata: Vec<String>,
        /// Create through this token role.
        #[arg(long)]
        role: Option<String>,
    },
    /// Show a token (the current one when none is given).
    Lookup {
        token: Option<String>,
        /// Treat the argument as an accessor.
        #[arg(long)]
        accessor: bool,
    },
    /// Extend a token's TTL (the current one when none is given).
    Renew {
        token: Option<String>,
        #[arg(long)]
        increment: Option<String>,
    },
    /// Revoke a token and its children.
    Revoke {
        token: Option<String>,
        #[arg(long)]
        accessor: bool,
        /// Revoke the current token.
        #[arg(long = "self")]
        current: bool,
        /// "orphan" keeps the children alive as orphans.
        #[arg(long, default_value = "")]
        mode: String,
    },
}

pub(crate) async fn run(command: TokenCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    let (method, path, body) = match command {
        TokenCommand::Create {
            policies,
            ttl,
            explicit_max_ttl,
            period,
            display_name,
            num_uses,
            orphan,
            no_default_policy,
            metadata,
            role,
        } => {
            let mut meta = Map::new();
            for pair in &metadata {
                let Some((k, v)) = pair.split_once('=') else {
                    eprintln!("Error: metadata {pair:?} is not key=value");
                    return EXIT_LOCAL_ERROR;
                };
                meta.insert(k.into(), Value::String(v.into()));
            }
            let body = json!({
                "policies": policies,
                "ttl": ttl,
                "explicit_max_ttl": explicit_max_ttl,
                "period": period,
                "display_name": display_name,
                "num_uses": num_uses,
                "no_parent": orphan,
                "no_default_policy": no_default_policy,
                "meta": meta,
            });
            let path = match role {
                Some(role) => format!("auth/token/create/{role}"),
                None => "auth/token/create".into(),
            };
            ("POST", path, Some(body))
        }
        TokenCommand::Lookup { token: None, .. } => ("GET", "auth/token/lookup-self".into(), None),
        TokenCommand::Lookup {
            token: Some(a),
            accessor: true,
        } => (
            "POST",
            "auth/token/lookup-accessor".into(),
            Some(json!({ "accessor": a })),
        ),
        TokenCommand::Lookup { token: Some(t), .. } => (
            "POST",
            "auth/token/lookup".into(),
            Some(json!({ "token": t })),
        ),
        TokenCommand::Renew {
            token: None,
            increment,
        } => (
            "PUT",
            "auth/token/renew-self".into(),
            Some(json!({ "increment": increment })),
        ),
        TokenCommand::Renew {
            token: Some(t),
            increment,
        } => (
            "PUT",
            "auth/token/renew".into(),
            Some(json!({ "token": t, "increment": increment })),
        ),
        TokenCommand::Revoke { current: true, .. } => {
            ("PUT", "auth/token/revoke-self".into(), None)
        }
        TokenCommand::Revoke {
            token: Some(a),
            accessor: true,
            ..
        } => (
            "PUT",
            "auth/token/revoke-accessor".into(),
            Some(json!({ "accessor": a })),
        ),
        TokenCommand::Revoke {
            token: Some(t),
            mode,
            ..
        } if mode == "orphan" => (
            "PUT",
            "auth/token/revoke-orphan".into(),
            Some(json!({ "token": t })),
        ),
        TokenCommand::Revoke { token: Some(t), .. } => (
            "PUT",
            "auth/token/revoke".into(),
            Some(json!({ "token": t })),
        ),
        TokenCommand::Revoke { token: None, .. } => {
            eprintln!("Error: give a token (or an accessor with --accessor), or --self");
            return EXIT_LOCAL_ERROR;
        }
    };
    let revoking = path.contains("/revoke");
    match client.call(method, &path, body).await {
        Ok(Some(body)) => {
            print_response(&client, &body);
            EXIT_OK
        }
        Ok(None) if revoking => {
            println!("Success! Revoked token (if it existed)");
            EXIT_OK
        }
        Ok(None) => EXIT_API_ERROR,
        Err(e) => fail(e),
    }
}
