//! `qm audit verify FILE...`: checks an audit log's keyed hash chain.
//!
//! The chain key lives in the server's encrypted store, so verification
//! needs it from there: by default `qm audit verify` asks the running,
//! unsealed server for it (`sys/audit-chain/NAME`, a sudo path, with
//! `QM_TOKEN`), together with the device's head, so that a live file cut
//! short is caught. For checking elsewhere or later, the same answer can be
//! saved (`qm read -format=json sys/audit-chain/file > chain.json`, a file
//! to keep as carefully as a root token) and given with `--chain-file`.

use super::client::Client;
use super::generic::fail;
use super::{ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use crate::audit::chain::Head;
use crate::audit::verify::Verifier;
use clap::Subcommand;
use serde_json::Value;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check that no line of an audit log was altered, removed or inserted
    /// (exit code 2 and the first broken line if one was). Rotated files
    /// can be given too, oldest first: they are checked as one chain.
    Verify {
        /// The audit device whose log this is.
        #[arg(long, default_value = "file")]
        device: String,
        /// The device's chain key and head as `sys/audit-chain/NAME` answered
        /// (JSON), instead of asking the server.
        #[arg(long)]
        chain_file: Option<PathBuf>,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

/// The chain key and head, and the device's file path.
struct Chain {
    key: Zeroizing<Vec<u8>>,
    head: Head,
    file_path: String,
}

fn parse_chain(answer: &Value) -> Result<Chain, String> {
    let data = answer.get("data").unwrap_or(answer);
    let key = data["chain_key"]
        .as_str()
        .and_then(|k| hex::decode(k).ok())
        .filter(|k| !k.is_empty())
        .ok_or("the answer holds no chain key")?;
    Ok(Chain {
        key: Zeroizing::new(key),
        head: Head {
            seq: data["seq"].as_u64().unwrap_or(0),
            hash: data["hash"].as_str().unwrap_or_default().to_string(),
        },
        file_path: data["file_path"].as_str().unwrap_or_default().to_string(),
    })
}

async fn load_chain(
    device: &str,
    chain_file: Option<&Path>,
    client_args: &ClientArgs,
) -> Result<Chain, i32> {
    let answer = match chain_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                eprintln!("Error reading {}: {e}", path.display());
                EXIT_LOCAL_ERROR
            })?;
            serde_json::from_str::<Value>(&text).map_err(|_| {
                eprintln!("{} is not JSON", path.display());
                EXIT_LOCAL_ERROR
            })?
        }
        None => {
            let client = Client::new(client_args);
            let path = format!("sys/audit-chain/{}", device.trim_matches('/'));
            client
                .call("GET", &path, None)
                .await
                .map_err(fail)?
                .ok_or_else(|| {
                    eprintln!("the server has no audit device {device:?}");
                    EXIT_API_ERROR
                })?
        }
    };
    parse_chain(&answer).map_err(|e| {
        eprintln!("Error: {e}");
        EXIT_LOCAL_ERROR
    })
}

/// Whether `file` is the file the device writes to now.
fn is_live(file: &Path, device_path: &str) -> bool {
    if device_path.is_empty() {
        return false;
    }
    match (file.canonicalize(), Path::new(device_path).canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub(crate) async fn run(command: AuditCommand, client_args: &ClientArgs) -> i32 {
    let AuditCommand::Verify {
        device,
        chain_file,
        files,
    } = command;
    let chain = match load_chain(&device, chain_file.as_deref(), client_args).await {
        Ok(chain) => chain,
        Err(code) => return code,
    };
    let mut verifier = Verifier::new(&chain.key, Some(chain.head.clone()));
    for file in &files {
        let reader = match std::fs::File::open(file) {
            Ok(f) => std::io::BufReader::new(f),
            Err(e) => {
                eprintln!("Error opening {}: {e}", file.display());
                return EXIT_LOCAL_ERROR;
            }
        };
        match verifier.file(reader, is_live(file, &chain.file_path)) {
            Ok(Ok(_)) => {}
            Ok(Err(broken)) => {
                eprintln!("{}: {broken}", file.display());
                return EXIT_API_ERROR;
            }
            Err(e) => {
                eprintln!("Error reading {}: {e}", file.display());
                return EXIT_LOCAL_ERROR;
            }
        }
    }
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    match verifier.finish() {
        Ok(lines) => {
            println!("{}: {lines} lines, keyed chain intact", names.join(", "));
            EXIT_OK
        }
        Err(broken) => {
            eprintln!("{}: {broken}", names.join(", "));
            EXIT_API_ERROR
        }
    }
}
