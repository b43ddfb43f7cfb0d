//! `qm operator migrate --from sled:PATH --to postgresql:URL` (and back), as
//! `vault operator migrate`: copies a store key by key, byte for byte. The
//! values are barrier ciphertext, so no unseal is needed and the copy
//! unseals with the same keys. Stop every server on the source first (sled
//! refuses a directory another process holds; Postgres does not).
//!
//! The destination must be empty. After copying, every key is read back
//! from the destination and compared with the source, and the key sets
//! must be equal. `postgresql:` with no URL takes `QM_STORAGE_URL`, which
//! keeps the password off the command line. URLs are printed redacted.

use super::{EXIT_LOCAL_ERROR, EXIT_OK};
use crate::storage::{Change, ConnectionUrl, PostgresStorage, SledStorage, Storage};
use clap::Args;
use std::path::PathBuf;

/// Keys written per transaction (or sled batch).
const BATCH: usize = 500;

#[derive(Args)]
pub(crate) struct MigrateArgs {
    /// The store to copy: `sled:PATH` or `postgresql:URL`.
    #[arg(long)]
    from: String,
    /// The empty store to copy into: `sled:PATH` or `postgresql:URL`
    /// (`postgresql:` alone reads QM_STORAGE_URL).
    #[arg(long)]
    to: String,
}

/// A parsed `--from`/`--to`.
enum Place {
    Sled(PathBuf),
    Postgres(ConnectionUrl),
}

impl Place {
    fn parse(spec: &str) -> Result<Self, String> {
        match spec.split_once(':') {
            Some(("sled", path)) if !path.is_empty() => Ok(Self::Sled(PathBuf::from(path))),
            Some(("postgresql", "")) => std::env::var("QM_STORAGE_URL")
                .map(|url| Self::Postgres(url.into()))
                .map_err(|_| "postgresql: without a URL needs QM_STORAGE_URL".into()),
            Some(("postgresql", url)) => Ok(Self::Postgres(url.to_string().into())),
            _ => Err("a store is sled:PATH or postgresql:URL".into()),
        }
    }

    /// How messages name it (no password).
    fn name(&self) -> String {
        match self {
            Self::Sled(path) => format!("sled:{}", path.display()),
            Self::Postgres(url) => format!("postgresql:{}", url.redacted()),
        }
    }

    /// Opens the store. A sled source must exist: opening creates one.
    fn open(&self, must_exist: bool) -> Result<Box<dyn Storage>, String> {
        match self {
            Self::Sled(path) => {
                if must_exist && !path.is_dir() {
                    return Err(format!("{}: no such directory", self.name()));
                }
                SledStorage::open(path)
                    .map(|s| Box::new(s) as Box<dyn Storage>)
                    .map_err(|e| format!("{}: {e}", self.name()))
            }
            Self::Postgres(url) => PostgresStorage::connect(url)
                .map(|s| Box::new(s) as Box<dyn Storage>)
                .map_err(|e| format!("{}: {}", self.name(), url.scrub(&e.to_string()))),
        }
    }

    /// Hides the password if `message` (from a store) carries it.
    fn scrub(&self, message: String) -> String {
        match self {
            Self::Sled(_) => message,
            Self::Postgres(url) => url.scrub(&message),
        }
    }
}

pub(crate) fn run(args: MigrateArgs) -> i32 {
    let outcome = Place::parse(&args.from)
        .map_err(|e| format!("--from: {e}"))
        .and_then(|from| {
            let to = Place::parse(&args.to).map_err(|e| format!("--to: {e}"))?;
            let copied = migrate(&from, &to).map_err(|e| to.scrub(from.scrub(e)))?;
            Ok((from, to, copied))
        });
    match outcome {
        Ok((from, to, (keys, bytes))) => {
            println!(
                "Success! Copied {keys} keys ({bytes} bytes) from {} to {}, and read every one back.",
                from.name(),
                to.name()
            );
            EXIT_OK
        }
        Err(e) => {
            eprintln!("Error migrating: {e}");
            EXIT_LOCAL_ERROR
        }
    }
}

/// Copies and verifies; returns the number of keys and value bytes.
fn migrate(from: &Place, to: &Place) -> Result<(usize, usize), String> {
    let source = from.open(true)?;
    let destination = to.open(false)?;
    let io = |e: crate::storage::StorageError| e.to_string();
    if !destination
        .first_keys_with_prefix("", 1)
        .map_err(io)?
        .is_empty()
    {
        return Err(format!("{} is not empty", to.name()));
    }
    let keys = source.keys_with_prefix("").map_err(io)?;
    if keys.is_empty() {
        return Err(format!("{} is empty: nothing to copy", from.name()));
    }
    let mut bytes: usize = 0;
    for chunk in keys.chunks(BATCH) {
        let mut changes = Vec::with_capacity(chunk.len());
        for key in chunk {
            let value = source.get(key).map_err(io)?.ok_or_else(|| {
                format!("{key} vanished from the source: is a server running on it?")
            })?;
            bytes = bytes.saturating_add(value.len());
            changes.push(Change::Put(key.clone(), value));
        }
        destination.apply(changes).map_err(io)?;
    }
    destination.flush().map_err(io)?;
    verify(source.as_ref(), destination.as_ref(), &keys)?;
    Ok((keys.len(), bytes))
}

/// Every key reads back identical, and the destination holds no other.
fn verify(source: &dyn Storage, destination: &dyn Storage, keys: &[String]) -> Result<(), String> {
    let io = |e: crate::storage::StorageError| e.to_string();
    for key in keys {
        if source.get(key).map_err(io)? != destination.get(key).map_err(io)? {
            return Err(format!("verification failed: {key} differs after the copy"));
        }
    }
    if destination.keys_with_prefix("").map_err(io)? != keys {
        return Err("verification failed: the destination's keys differ from the source's".into());
    }
    Ok(())
}
