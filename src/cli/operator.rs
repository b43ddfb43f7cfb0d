//! `qm operator init|unseal|seal|rotate|snapshot` and `qm status`.

use super::client::{CallError, Client};
use super::{output, ClientArgs, EXIT_API_ERROR, EXIT_LOCAL_ERROR, EXIT_OK};
use clap::Subcommand;
use serde_json::{json, Value};
use std::io::BufRead;

#[derive(Subcommand)]
pub(crate) enum OperatorCommand {
    /// Initialize a new server; prints the unseal keys and the root token once.
    Init {
        #[arg(long, default_value_t = 5)]
        key_shares: u8,
        #[arg(long, default_value_t = 3)]
        key_threshold: u8,
        /// For the passphrase seal: read the passphrase from standard input.
        #[arg(long)]
        passphrase_stdin: bool,
        /// Auto seals (awskms, static): how many recovery key shares.
        #[arg(long, default_value_t = 5)]
        recovery_shares: u8,
        /// Auto seals: how many recovery key shares authorize rekey and generate-root.
        #[arg(long, default_value_t = 3)]
        recovery_threshold: u8,
    },
    /// Enter one unseal key (or the passphrase); read from stdin when omitted.
    Unseal {
        key: Option<String>,
        /// Forget the keys entered so far.
        #[arg(long)]
        reset: bool,
        /// Migrate to the configured seal (shamir to an auto seal with the
        /// unseal keys, or back with the recovery keys).
        #[arg(long)]
        migrate: bool,
    },
    /// Seal the server: drop every key from memory.
    Seal,
    /// Add a new encryption key term; old data stays readable.
    Rotate,
    /// Try to open every encrypted entry of the store and list each that
    /// does not (altered or corrupt); exits 2 if there is any (needs sudo).
    VerifyStorage,
    /// Copy a stopped server's store to another backend (no unseal needed).
    Migrate(super::migrate::MigrateArgs),
    /// Save or restore a snapshot of the whole store (needs sudo).
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
}

#[derive(Subcommand)]
pub(crate) enum SnapshotCommand {
    /// Write a snapshot of the store, as of one moment, to FILE (mode 0600).
    /// It holds only ciphertext: useless without the keys.
    Save { file: std::path::PathBuf },
    /// Restore FILE into the store it was taken from, then revoke the leases
    /// issued since and close those whose credential is gone.
    Restore { file: std::path::PathBuf },
}

fn fail(e: CallError) -> i32 {
    eprintln!("{e}");
    e.exit_code
}

/// Reads a secret: from the terminal without echoing it, or a line of
/// standard input when that is not a terminal (scripts, pipes).
fn read_stdin_line(prompt: &str) -> Option<String> {
    let line = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        rpassword::prompt_password(prompt).ok()?
    } else {
        eprint!("{prompt}");
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok()?;
        line
    };
    let line = line.trim().to_string();
    (!line.is_empty()).then_some(line)
}

pub(crate) async fn run(command: OperatorCommand, args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match command {
        OperatorCommand::Migrate(args) => super::migrate::run(args),
        OperatorCommand::Init {
            key_shares,
            key_threshold,
            passphrase_stdin,
            recovery_shares,
            recovery_threshold,
        } => {
            let shares = Shares {
                key_shares,
                key_threshold,
                recovery_shares,
                recovery_threshold,
            };
            init(&client, shares, passphrase_stdin).await
        }
        OperatorCommand::Unseal {
            key,
            reset,
            migrate,
        } => unseal(&client, key, reset, migrate).await,
        OperatorCommand::VerifyStorage => verify_storage(&client).await,
        OperatorCommand::Seal => match client.call("PUT", "sys/seal", None).await {
            Ok(_) => {
                println!("Success! Quartermaster is sealed.");
                EXIT_OK
            }
            Err(e) => fail(e),
        },
        OperatorCommand::Rotate => rotate(&client).await,
        OperatorCommand::Snapshot(command) => snapshot(&client, command).await,
    }
}

/// `operator snapshot save|restore`.
async fn snapshot(client: &Client, command: SnapshotCommand) -> i32 {
    use reqwest::Method;
    match command {
        SnapshotCommand::Save { file } => {
            let bytes = match client
                .bytes(Method::GET, "sys/storage/snapshot", None)
                .await
            {
                Ok(bytes) => bytes,
                Err(e) => return fail(e),
            };
            if let Err(e) = write_private(&file, &bytes) {
                eprintln!("Error writing {}: {e}", file.display());
                return EXIT_LOCAL_ERROR;
            }
            println!(
                "Success! Snapshot of {} bytes saved to {}",
                bytes.len(),
                file.display()
            );
            EXIT_OK
        }
        SnapshotCommand::Restore { file } => {
            let bytes = match std::fs::read(&file) {
                Ok(bytes) => bytes,
                Err(e) => {
                    eprintln!("Error reading {}: {e}", file.display());
                    return EXIT_LOCAL_ERROR;
                }
            };
            match client
                .bytes(Method::POST, "sys/storage/snapshot", Some(bytes))
                .await
            {
                Ok(answer) => {
                    let answer: Value = serde_json::from_slice(&answer).unwrap_or_default();
                    let data = &answer["data"];
                    println!(
                        "Success! Snapshot restored ({} entries).\n\
                         Leases issued after the snapshot, revoked: {}\n\
                         Leases ended after the snapshot, checked (closed where the credential is gone): {}",
                        output::cell(&data["entries"]),
                        output::cell(&data["leases_carried_over"]),
                        output::cell(&data["leases_checked"]),
                    );
                    EXIT_OK
                }
                Err(e) => fail(e),
            }
        }
    }
}

/// Writes `bytes` to a new file only its owner can read.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The share counts `operator init` asks for.
struct Shares {
    key_shares: u8,
    key_threshold: u8,
    recovery_shares: u8,
    recovery_threshold: u8,
}

/// `operator init`: prints the unseal (or recovery) keys and the root
/// token. Asks the server which seal it has first, as Vault's CLI does.
async fn init(client: &Client, shares: Shares, passphrase_stdin: bool) -> i32 {
    let recovery_seal = match client.call("GET", "sys/seal-status", None).await {
        Ok(Some(status)) => status["recovery_seal"].as_bool().unwrap_or(false),
        Ok(None) => false,
        Err(e) => return fail(e),
    };
    let (key_shares, key_threshold) = match recovery_seal {
        true => (shares.recovery_shares, shares.recovery_threshold),
        false => (shares.key_shares, shares.key_threshold),
    };
    let mut body = match recovery_seal {
        true => json!({ "recovery_shares": key_shares, "recovery_threshold": key_threshold }),
        false => json!({ "secret_shares": key_shares, "secret_threshold": key_threshold }),
    };
    if passphrase_stdin {
        match read_stdin_line("Passphrase: ") {
            Some(p) => body["passphrase"] = json!(p),
            None => {
                eprintln!("Error: no passphrase on standard input");
                return EXIT_LOCAL_ERROR;
            }
        }
    }
    match client.call("PUT", "sys/init", Some(body)).await {
        Ok(Some(result)) if client.structured() => {
            output::structured(client.format, &result);
            EXIT_OK
        }
        Ok(Some(result)) => {
            print_init_result(&result, key_shares, key_threshold);
            EXIT_OK
        }
        Ok(None) => EXIT_API_ERROR,
        Err(e) => fail(e),
    }
}

fn print_init_result(result: &Value, key_shares: u8, key_threshold: u8) {
    let keys = result
        .get("keys_base64")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, key) in keys.iter().enumerate() {
        println!("Unseal Key {}: {}", i + 1, output::cell(key));
    }
    let recovery_keys = result
        .get("recovery_keys_base64")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for (i, key) in recovery_keys.iter().enumerate() {
        println!("Recovery Key {}: {}", i + 1, output::cell(key));
    }
    println!(
        "\nInitial Root Token: {}",
        result
            .get("root_token")
            .map(output::cell)
            .unwrap_or_default()
    );
    if !recovery_keys.is_empty() {
        println!(
            "\nQuartermaster is initialized with {key_shares} recovery key shares and a threshold of {key_threshold}.\nThe auto seal unseals it; {key_threshold} recovery keys authorize rekey and generate-root."
        );
    } else if keys.is_empty() {
        println!(
            "\nQuartermaster is initialized with a passphrase seal: unseal it with the passphrase."
        );
    } else {
        println!(
            "\nQuartermaster is initialized with {key_shares} key shares and a key threshold of {key_threshold}.\nKeep the keys apart: {key_threshold} of them are needed to unseal."
        );
    }
}

/// `operator unseal`: enters one key (from stdin when not given), or
/// forgets those entered with `reset`.
async fn unseal(client: &Client, key: Option<String>, reset: bool, migrate: bool) -> i32 {
    let body = if reset {
        json!({ "reset": true })
    } else {
        let Some(key) = key.or_else(|| read_stdin_line("Unseal Key (will be hidden): ")) else {
            eprintln!("Error: no unseal key given");
            return EXIT_LOCAL_ERROR;
        };
        json!({ "key": key, "migrate": migrate })
    };
    match client.call("PUT", "sys/unseal", Some(body)).await {
        // As Vault's: a key accepted is success, sealed or not yet.
        Ok(Some(status)) => {
            print_seal_status(client, &status);
            EXIT_OK
        }
        Ok(None) => EXIT_API_ERROR,
        Err(e) => fail(e),
    }
}

/// `operator rotate`: adds a key term and shows it.
async fn rotate(client: &Client) -> i32 {
    if let Err(e) = client.call("PUT", "sys/rotate", None).await {
        return fail(e);
    }
    match client.call("GET", "sys/key-status", None).await {
        Ok(Some(status)) => {
            let data = status.get("data").cloned().unwrap_or(Value::Null);
            println!("Success! Rotated key\n");
            output::table(&[
                (
                    "Key Term".into(),
                    data.get("term").map(output::cell).unwrap_or_default(),
                ),
                (
                    "Install Time".into(),
                    data.get("install_time")
                        .map(output::cell)
                        .unwrap_or_default(),
                ),
            ]);
            EXIT_OK
        }
        Ok(None) => EXIT_API_ERROR,
        Err(e) => fail(e),
    }
}

fn print_seal_status(client: &Client, status: &Value) -> i32 {
    if client.structured() {
        output::structured(client.format, status);
    } else {
        let field = |name: &str| status.get(name).map(output::cell).unwrap_or_default();
        let sealed = status
            .get("sealed")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let mut rows = vec![
            ("Seal Type".to_string(), field("type")),
            ("Initialized".to_string(), field("initialized")),
            ("Sealed".to_string(), field("sealed")),
            ("Total Shares".to_string(), field("n")),
            ("Threshold".to_string(), field("t")),
        ];
        if sealed {
            rows.push((
                "Unseal Progress".into(),
                format!("{}/{}", field("progress"), field("t")),
            ));
            rows.push(("Unseal Nonce".into(), field("nonce")));
        }
        rows.push(("Version".into(), field("version")));
        rows.push(("Storage Type".into(), field("storage_type")));
        if !sealed {
            rows.push(("Cluster Name".into(), field("cluster_name")));
            rows.push(("Cluster ID".into(), field("cluster_id")));
        }
        rows.push(("HA Enabled".into(), "false".into()));
        if let Some(activity) = status.get("activity") {
            let count = |name: &str| activity.get(name).map(output::cell).unwrap_or_default();
            rows.push(("Active Leases".into(), count("leases_active")));
            rows.push(("Tokens With a TTL".into(), count("tokens_active")));
            rows.push((
                "Revocations Retrying".into(),
                count("leases_revocation_retrying"),
            ));
            rows.push(("Irrevocable Leases".into(), count("leases_irrevocable")));
            rows.push(("Audit Devices".into(), count("audit_devices")));
        }
        output::table(&rows);
    }
    if status
        .get("sealed")
        .and_then(Value::as_bool)
        .unwrap_or(true)
    {
        EXIT_API_ERROR
    } else {
        EXIT_OK
    }
}

/// `qm status`: exit 0 unsealed, 2 sealed, 1 on error.
pub(crate) async fn status(args: &ClientArgs) -> i32 {
    let client = Client::new(args);
    match client.call("GET", "sys/seal-status", None).await {
        Ok(Some(mut status)) => {
            let unsealed = status.get("sealed").and_then(Value::as_bool) == Some(false);
            if unsealed {
                // Needs a token that may read sys/metrics; without one the
                // seal status alone is shown.
                if let Ok(Some(activity)) = client.call("GET", "sys/metrics", None).await {
                    status["activity"] = activity["data"].clone();
                }
            }
            print_seal_status(&client, &status)
        }
        Ok(None) => EXIT_LOCAL_ERROR,
        Err(e) => {
            eprintln!("Error checking seal status: {e}");
            EXIT_LOCAL_ERROR
        }
    }
}

/// `qm operator verify-storage`: the entries that do not open, one a line.
async fn verify_storage(client: &Client) -> i32 {
    let body = match client.call("GET", "sys/storage/verify", None).await {
        Ok(Some(body)) => body,
        Ok(None) => {
            eprintln!("Error: the server answered nothing");
            return EXIT_API_ERROR;
        }
        Err(e) => return fail(e),
    };
    let unreadable = body["data"]["unreadable"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if client.structured() {
        output::structured(client.format, &body);
    } else {
        println!(
            "Checked {} encrypted entries: {} do not open.",
            body["data"]["checked"],
            unreadable.len()
        );
        for entry in &unreadable {
            println!(
                "{}: {}",
                entry["key"].as_str().unwrap_or_default(),
                entry["error"].as_str().unwrap_or_default()
            );
        }
    }
    if unreadable.is_empty() {
        EXIT_OK
    } else {
        EXIT_API_ERROR
    }
}
