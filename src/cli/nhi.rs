//! `qm nhi list|show|offboard`: the identity inventory from the command line.

use super::client::Client;
use super::generic::{fail, print_response};
use super::{output, ClientArgs, EXIT_OK};
use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub(crate) enum NhiCommand {
    /// List identities (riskiest first with --sort risk).
    List {
        /// db_role, static_db_user, aws_role, approle, jwt_role, token, or lease
        /// (leases are listed only when asked for); discovered: postgres_role,
        /// iam_user, iam_access_key, iam_role, file_secret.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        /// true: issued by the broker; false: discovered outside it.
        #[arg(long)]
        managed: Option<bool>,
        #[arg(long)]
        risk_above: Option<u32>,
        /// Only orphaned identities (owner offboarded, backend gone).
        #[arg(long)]
        orphaned: bool,
        /// Not used for this long (e.g. 720h).
        #[arg(long)]
        unused_for: Option<String>,
        /// source (mounts, then tokens; fastest), id, risk or last_accessed.
        #[arg(long, default_value = "source")]
        sort: String,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Print every match as csv or jsonl (for SIEMs and spreadsheets).
        #[arg(long)]
        export: Option<String>,
    },
    /// Show one identity (its id, e.g. database/roles/app).
    Show { id: String },
    /// Revoke an owner's tokens and leases and disable their roles (or
    /// hand them to --reassign-to). --dry-run shows what it would do.
    Offboard {
        owner: String,
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        reassign_to: Option<String>,
    },
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref().map(|v| {
                format!(
                    "{k}={}",
                    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                )
            })
        })
        .collect();
    parts.join("&")
}

fn print_table(identities: &[Value]) {
    let rows: Vec<[String; 6]> = identities
        .iter()
        .map(|i| {
            let text = |k: &str| i.get(k).map(output::cell).unwrap_or_default();
            [
                text("id"),
                text("identity_type"),
                text("owner"),
                text("risk_score"),
                text("active_leases"),
                text("last_accessed"),
            ]
        })
        .collect();
    let header = ["ID", "TYPE", "OWNER", "RISK", "LEASES", "LAST USED"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

pub(crate) async fn run(command: NhiCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match command {
        NhiCommand::List {
            kind,
            owner,
            managed,
            risk_above,
            orphaned,
            unused_for,
            sort,
            limit,
            export,
        } => {
            let query = query(&[
                ("kind", kind),
                ("owner", owner),
                ("managed", managed.map(|m| m.to_string())),
                ("risk_above", risk_above.map(|r| r.to_string())),
                ("orphaned", orphaned.then(|| "true".into())),
                ("unused_for", unused_for),
                ("sort", Some(sort)),
                ("limit", Some(limit.to_string())),
                ("format", export.clone()),
            ]);
            let path = format!("sys/nhi/identities?{query}");
            if export.is_some() {
                export_identities(&client, &path).await
            } else {
                list_identities(&client, &path).await
            }
        }
        NhiCommand::Show { id } => show_identity(&client, &id).await,
        NhiCommand::Offboard {
            owner,
            dry_run,
            reassign_to,
        } => offboard(&client, &owner, dry_run, reassign_to).await,
    }
}

/// `nhi list --export`: prints the server's csv or jsonl as it is.
async fn export_identities(client: &Client, path: &str) -> i32 {
    match client.text(path).await {
        Ok(text) => {
            print!("{text}");
            EXIT_OK
        }
        Err(e) => fail(e),
    }
}

/// `nhi list`: a table of identities, and how many of how many.
async fn list_identities(client: &Client, path: &str) -> i32 {
    match client.call("GET", path, None).await {
        Ok(Some(body)) if client.structured() => {
            output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            let list = body["data"]["identities"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            print_table(&list);
            match body["data"]["total"].as_u64() {
                Some(total) => println!("({} of {total})", list.len()),
                None => println!("({} shown; more with --limit)", list.len()),
            }
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(e) => fail(e),
    }
}

/// `nhi show`: one identity.
async fn show_identity(client: &Client, id: &str) -> i32 {
    match client
        .call("GET", &format!("sys/nhi/identities/{id}"), None)
        .await
    {
        Ok(Some(body)) => {
            print_response(client, &body);
            EXIT_OK
        }
        Ok(None) => {
            eprintln!("No identity {id}");
            super::EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

/// `nhi offboard`: an owner's identities revoked and disabled, or handed
/// to `reassign_to`.
async fn offboard(client: &Client, owner: &str, dry_run: bool, reassign_to: Option<String>) -> i32 {
    let mut body = json!({ "dry_run": dry_run });
    if let Some(to) = reassign_to {
        body["reassign_to"] = json!(to);
    }
    match client
        .call(
            "POST",
            &format!("sys/nhi/owners/{owner}/offboard"),
            Some(body),
        )
        .await
    {
        Ok(Some(body)) => {
            print_response(client, &body);
            EXIT_OK
        }
        Ok(None) => EXIT_OK,
        Err(e) => fail(e),
    }
}
