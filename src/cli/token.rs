//! `qm token create|lookup|renew|revoke`.

use super::client::Client;
use super::generic::fail;
use super::{ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::{Args, Subcommand};
use serde_json::{json, Map, Value};

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a child token of the current one.
    Create(CreateArgs),
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
    /// The capabilities a token (the current one when none is given) has on a path.
    Capabilities {
        /// The token, then the path; or only the path.
        args: Vec<String>,
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

// `qm token create`'s flags (its help text is the variant's doc comment).
#[derive(Args)]
pub(crate) struct CreateArgs {
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
    /// Print only this field (`token`, `token_accessor`, ...).
    #[arg(long)]
    field: Option<String>,
}

/// A call to the token API: method, path and body.
type TokenCall = (&'static str, String, Option<Value>);

pub(crate) async fn run(command: TokenCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    let mut field = None;
    let call = match command {
        TokenCommand::Create(create) => {
            field = create.field.clone();
            create_call(create)
        }
        TokenCommand::Capabilities { args } => return capabilities(&client, &args).await,
        TokenCommand::Lookup { token, accessor } => Ok(lookup_call(token, accessor)),
        TokenCommand::Renew { token, increment } => Ok(renew_call(token, increment)),
        TokenCommand::Revoke {
            token,
            accessor,
            current,
            mode,
        } => revoke_call(token, accessor, current, &mode),
    };
    match call {
        Ok((method, path, body)) => send(&client, method, &path, body, field.as_deref()).await,
        Err(code) => code,
    }
}

/// `token create`: through a role if one is named; the metadata pairs
/// must be key=value.
fn create_call(create: CreateArgs) -> Result<TokenCall, i32> {
    let mut meta = Map::new();
    for pair in &create.metadata {
        let Some((k, v)) = pair.split_once('=') else {
            eprintln!("Error: metadata {pair:?} is not key=value");
            return Err(EXIT_LOCAL_ERROR);
        };
        meta.insert(k.into(), Value::String(v.into()));
    }
    let body = json!({
        "policies": create.policies,
        "ttl": create.ttl,
        "explicit_max_ttl": create.explicit_max_ttl,
        "period": create.period,
        "display_name": create.display_name,
        "num_uses": create.num_uses,
        "no_parent": create.orphan,
        "no_default_policy": create.no_default_policy,
        "meta": meta,
    });
    let path = match create.role {
        Some(role) => format!("auth/token/create/{role}"),
        None => "auth/token/create".into(),
    };
    Ok(("POST", path, Some(body)))
}

/// `token lookup`: the current token, a token, or an accessor.
fn lookup_call(token: Option<String>, accessor: bool) -> TokenCall {
    match token {
        None => ("GET", "auth/token/lookup-self".into(), None),
        Some(a) if accessor => (
            "POST",
            "auth/token/lookup-accessor".into(),
            Some(json!({ "accessor": a })),
        ),
        Some(t) => (
            "POST",
            "auth/token/lookup".into(),
            Some(json!({ "token": t })),
        ),
    }
}

/// `token renew`: the current token, or the one given.
fn renew_call(token: Option<String>, increment: Option<String>) -> TokenCall {
    match token {
        None => (
            "PUT",
            "auth/token/renew-self".into(),
            Some(json!({ "increment": increment })),
        ),
        Some(t) => (
            "PUT",
            "auth/token/renew".into(),
            Some(json!({ "token": t, "increment": increment })),
        ),
    }
}

/// `token revoke`: the current token, an accessor's, or a token (keeping
/// its children as orphans with mode "orphan").
fn revoke_call(
    token: Option<String>,
    accessor: bool,
    current: bool,
    mode: &str,
) -> Result<TokenCall, i32> {
    if current {
        return Ok(("PUT", "auth/token/revoke-self".into(), None));
    }
    match token {
        Some(a) if accessor => Ok((
            "PUT",
            "auth/token/revoke-accessor".into(),
            Some(json!({ "accessor": a })),
        )),
        Some(t) if mode == "orphan" => Ok((
            "PUT",
            "auth/token/revoke-orphan".into(),
            Some(json!({ "token": t })),
        )),
        Some(t) => Ok((
            "PUT",
            "auth/token/revoke".into(),
            Some(json!({ "token": t })),
        )),
        None => {
            eprintln!("Error: give a token (or an accessor with --accessor), or --self");
            Err(EXIT_LOCAL_ERROR)
        }
    }
}

/// Makes the call and prints the answer (a revocation answers nothing).
async fn send(
    client: &Client,
    method: &str,
    path: &str,
    body: Option<Value>,
    field: Option<&str>,
) -> i32 {
    let revoking = path.contains("/revoke");
    match client.call(method, path, body).await {
        Ok(Some(body)) => super::generic::print_answer(client, &body, field),
        Ok(None) if revoking => {
            println!("Success! Revoked token (if it existed)");
            EXIT_OK
        }
        Ok(None) => EXIT_API_ERROR,
        Err(e) => fail(e),
    }
}

/// `token capabilities [TOKEN] PATH`, as Vault's: `sys/capabilities` for
/// another token, `sys/capabilities-self` for the current one.
async fn capabilities(client: &Client, args: &[String]) -> i32 {
    let (call, path) = match args {
        [path] => (("sys/capabilities-self", json!({ "paths": [path] })), path),
        [token, path] => (
            (
                "sys/capabilities",
                json!({ "token": token, "paths": [path] }),
            ),
            path,
        ),
        _ => {
            eprintln!("Error: give PATH, or TOKEN PATH");
            return EXIT_LOCAL_ERROR;
        }
    };
    match client.call("PUT", call.0, Some(call.1)).await {
        Ok(Some(body)) if client.structured() => {
            super::output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            let caps = body["data"][path.as_str()]
                .as_array()
                .or_else(|| body["data"]["capabilities"].as_array())
                .map(|c| {
                    c.iter()
                        .map(super::output::cell)
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            println!("{caps}");
            EXIT_OK
        }
        Ok(None) => EXIT_API_ERROR,
        Err(e) => fail(e),
    }
}
