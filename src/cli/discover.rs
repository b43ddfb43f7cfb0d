//! `qm discover scan|schedule|scan-files|show|retire|adopt`: finding the
//! machine identities that live outside the broker.
//!
//! `scan-files` packs the given files (directories walked, `.git` left
//! out) into a gzip'd tar and sends it to `sys/discover/files`; with
//! `--history`, every version of every file in the git repositories given
//! is packed too (named `COMMIT:PATH`), so a secret committed and later
//! removed is still found. The server keeps fingerprints, never secrets.

use super::client::Client;
use super::generic::{fail, print_response};
use super::{ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use base64::Engine as _;
use clap::Subcommand;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The server's request cap, less base64's growth and the JSON around it.
const MAX_ARCHIVE: usize = 23 << 20;

#[derive(Subcommand)]
pub(crate) enum DiscoverCommand {
    /// Scan a database connection's login roles (MOUNT/config/NAME) and
    /// wait for the job to finish.
    Scan { source: String },
    /// Rescan a source (MOUNT/config/NAME) every --every, on the active
    /// node; the first run starts within a second. With only a name, shows
    /// the schedule; --delete removes it.
    Schedule {
        name: String,
        source: Option<String>,
        /// How often: 10s to 366d (24h, 3600).
        #[arg(long)]
        every: Option<String>,
        #[arg(long, conflicts_with_all = ["source", "every"])]
        delete: bool,
    },
    /// Find hard-coded credentials in files and directories (and, with
    /// --history, in every commit of the git repositories given).
    ScanFiles {
        paths: Vec<PathBuf>,
        /// The scan's name: a rescan of the same name replaces its findings.
        #[arg(long, default_value = "default")]
        name: String,
        #[arg(long)]
        history: bool,
        /// A rule file (TOML) to use instead of the server's rules.
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Show one discovered identity.
    Show { id: String },
    /// Retire a discovered database role: nologin (reversible), login
    /// (undo) or drop, through MOUNT/discover/NAME. A dry run unless
    /// --confirm.
    Retire {
        /// MOUNT/config/NAME of the database.
        source: String,
        username: String,
        #[arg(long, default_value = "nologin")]
        action: String,
        #[arg(long)]
        confirm: bool,
        /// Retire even if it was seen connected recently.
        #[arg(long)]
        force: bool,
    },
    /// Turn a discovered database role into a static role the broker
    /// rotates. A dry run unless --confirm.
    Adopt {
        id: String,
        /// The static role's name (default: the role's).
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value = "24h")]
        rotation_period: String,
        #[arg(long)]
        confirm: bool,
    },
}

pub(crate) async fn run(command: DiscoverCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match command {
        DiscoverCommand::Scan { source } => scan(&client, &source).await,
        DiscoverCommand::Schedule {
            name,
            source,
            every,
            delete,
        } => {
            let path = format!("sys/discover/schedules/{name}");
            if delete {
                return match client.call("DELETE", &path, None).await {
                    Ok(_) => {
                        println!("Success! Data deleted (if it existed) at: {path}");
                        EXIT_OK
                    }
                    Err(e) => fail(e),
                };
            }
            if source.is_some() || every.is_some() {
                let mut body = json!({});
                if let Some(source) = source {
                    body["source"] = json!(source);
                }
                if let Some(every) = every {
                    body["interval"] = json!(every);
                }
                if let Err(e) = client.call("POST", &path, Some(body)).await {
                    return fail(e);
                }
            }
            call_and_print(&client, "GET", &path, None).await
        }
        DiscoverCommand::ScanFiles {
            paths,
            name,
            history,
            rules,
        } => scan_files(&client, &paths, &name, history, rules.as_deref()).await,
        DiscoverCommand::Show { id } => {
            call_and_print(
                &client,
                "GET",
                &format!("sys/discover/identities/{id}"),
                None,
            )
            .await
        }
        DiscoverCommand::Retire {
            source,
            username,
            action,
            confirm,
            force,
        } => {
            let Some((mount, db)) = source.trim_matches('/').rsplit_once("/config/") else {
                eprintln!("source: MOUNT/config/NAME of a database, e.g. database/config/pg");
                return EXIT_LOCAL_ERROR;
            };
            let body = json!({
                "username": username, "action": action,
                "dry_run": !confirm, "force": force,
            });
            call_and_print(
                &client,
                "POST",
                &format!("{mount}/discover/{db}"),
                Some(body),
            )
            .await
        }
        DiscoverCommand::Adopt {
            id,
            name,
            rotation_period,
            confirm,
        } => {
            let mut body = json!({
                "id": id, "rotation_period": rotation_period, "dry_run": !confirm,
            });
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            call_and_print(&client, "POST", "sys/discover/adopt", Some(body)).await
        }
    }
}

async fn call_and_print(client: &Client, method: &str, path: &str, body: Option<Value>) -> i32 {
    match client.call(method, path, body).await {
        Ok(Some(body)) => {
            print_response(client, &body);
            EXIT_OK
        }
        Ok(None) => {
            eprintln!("Nothing at {path}");
            EXIT_API_ERROR
        }
        Err(e) => fail(e),
    }
}

/// Starts a scan and polls its job until it ends.
async fn scan(client: &Client, source: &str) -> i32 {
    let started = match client
        .call(
            "POST",
            "sys/discover/scan",
            Some(json!({ "source": source })),
        )
        .await
    {
        Ok(Some(body)) => body,
        Ok(None) => return EXIT_API_ERROR,
        Err(e) => return fail(e),
    };
    let Some(job) = started["data"]["job_id"].as_str().map(String::from) else {
        eprintln!("the server answered no job id");
        return EXIT_API_ERROR;
    };
    loop {
        match client
            .call("GET", &format!("sys/discover/jobs/{job}"), None)
            .await
        {
            Ok(Some(mut body)) => match body["data"]["state"].as_str() {
                Some("done") | Some("failed") => {
                    // A table shows the outcome; the changed ids are in
                    // -format=json.
                    if !client.structured() {
                        if let Some(data) = body["data"].as_object_mut() {
                            data.remove("changed");
                            data.remove("changed_truncated");
                        }
                    }
                    print_response(client, &body);
                    let failed = body["data"]["state"] == "failed";
                    return if failed { EXIT_API_ERROR } else { EXIT_OK };
                }
                _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
            },
            Ok(None) => return EXIT_API_ERROR,
            Err(e) => return fail(e),
        }
    }
}

async fn scan_files(
    client: &Client,
    paths: &[PathBuf],
    name: &str,
    history: bool,
    rules: Option<&Path>,
) -> i32 {
    if paths.is_empty() {
        eprintln!("scan-files: give at least one file or directory");
        return EXIT_LOCAL_ERROR;
    }
    let archive = match pack(paths, history) {
        Ok(archive) => archive,
        Err(e) => {
            eprintln!("scan-files: {e}");
            return EXIT_LOCAL_ERROR;
        }
    };
    if archive.len() > MAX_ARCHIVE {
        eprintln!(
            "scan-files: the files come to {} MiB compressed, more than the {} MiB one scan takes; scan fewer at a time",
            archive.len() >> 20,
            MAX_ARCHIVE >> 20
        );
        return EXIT_LOCAL_ERROR;
    }
    let mut body = json!({
        "name": name,
        "archive": base64::engine::general_purpose::STANDARD.encode(&archive),
    });
    if let Some(rules) = rules {
        match std::fs::read_to_string(rules) {
            Ok(text) => body["rules"] = json!(text),
            Err(e) => {
                eprintln!("scan-files: reading {}: {e}", rules.display());
                return EXIT_LOCAL_ERROR;
            }
        }
    }
    match client.call("POST", "sys/discover/files", Some(body)).await {
        Ok(Some(body)) if client.structured() => {
            super::output::structured(client.format, &body);
            EXIT_OK
        }
        Ok(Some(body)) => {
            print_findings(&body["data"]);
            EXIT_OK
        }
        Ok(None) => EXIT_API_ERROR,
        Err(e) => fail(e),
    }
}

fn print_findings(data: &Value) {
    let findings = data["findings"].as_array().cloned().unwrap_or_default();
    for f in &findings {
        let linked = f["linked_identities"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        let linked = if linked.is_empty() {
            String::new()
        } else {
            format!("  -> {linked}")
        };
        println!(
            "{}:{}  {}  {}{linked}",
            f["file"].as_str().unwrap_or_default(),
            f["line"],
            f["rule"].as_str().unwrap_or_default(),
            f["fingerprint"].as_str().unwrap_or_default(),
        );
    }
    println!(
        "({} findings in {} files; {} skipped; stored as {})",
        findings.len(),
        data["files_scanned"],
        data["files_skipped"],
        data["source"].as_str().unwrap_or_default()
    );
}

/// A gzip'd tar of `paths` (and their git history with `history`).
fn pack(paths: &[PathBuf], history: bool) -> Result<Vec<u8>, String> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            add_dir(&mut tar, path, path)?;
        } else {
            let name = path.to_string_lossy().trim_start_matches("./").to_string();
            let content = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            append(&mut tar, &name, &content)?;
        }
        if history && meta.is_dir() && path.join(".git").exists() {
            add_history(&mut tar, path)?;
        }
    }
    let gz = tar.into_inner().map_err(|e| format!("packing: {e}"))?;
    gz.finish().map_err(|e| format!("packing: {e}"))
}

fn append(
    tar: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    name: &str,
    content: &[u8],
) -> Result<(), String> {
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, content)
        .map_err(|e| format!("packing {name}: {e}"))
}

/// Adds the files below `dir` (not `.git`, not symlinks), named relative
/// to `root`.
fn add_dir(
    tar: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    root: &Path,
    dir: &Path,
) -> Result<(), String> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() && entry.file_name() != ".git" {
            add_dir(tar, root, &path)?;
        } else if kind.is_file() {
            let name = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let content = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            append(tar, &name, &content)?;
        }
    }
    Ok(())
}

fn git(repo: &Path, args: &[&str]) -> Result<Vec<u8>, String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "git {}: {}",
            args.first().unwrap_or(&""),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(out.stdout)
}

/// Adds every distinct file version of every commit, as `COMMIT:PATH`
/// (the first commit, newest first, that holds it).
fn add_history(
    tar: &mut tar::Builder<flate2::write::GzEncoder<Vec<u8>>>,
    repo: &Path,
) -> Result<(), String> {
    let commits = String::from_utf8_lossy(&git(repo, &["rev-list", "--all"])?).into_owned();
    let mut seen = HashSet::new();
    for commit in commits.lines().filter(|c| !c.is_empty()) {
        let tree = git(repo, &["ls-tree", "-r", "-z", commit])?;
        for entry in tree.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            // "<mode> blob <id>\t<path>"
            let Some((info, path)) = entry.split_once('\t') else {
                continue;
            };
            let mut fields = info.split(' ');
            let (Some(_), Some("blob"), Some(blob)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if !seen.insert(blob.to_string()) {
                continue;
            }
            let content = git(repo, &["cat-file", "blob", blob])?;
            let short = commit.get(..12).unwrap_or(commit);
            append(tar, &format!("{short}:{path}"), &content)?;
        }
    }
    Ok(())
}
