//! One file audit device: appends JSON lines, each carrying the SHA-256 of
//! the line before it (`prev_hash`), so removing, inserting or editing a
//! line breaks the chain (`qm audit verify`). The chain continues across
//! restarts (the last line is read at open) and across log rotation
//! (`reopen`, on SIGHUP).

use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;

/// Where lines go: a file, or standard output (`file_path=stdout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Stdout,
}

struct Sink {
    /// `None` once a reopen failed: every write fails until a reopen works.
    file: Option<File>,
    /// `sha256:<hex>` of the last line written.
    last_hash: String,
}

pub struct Device {
    target: Target,
    sink: Mutex<Sink>,
}

/// The chain value a line stores for the line before it.
pub fn line_hash(line: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(line)))
}

/// The hash of the last complete line of `file`, or "" for an empty file.
/// Devices and pipes have no last line.
fn last_line_hash(file: &mut File) -> std::io::Result<String> {
    if !file.metadata()?.is_file() {
        return Ok(String::new());
    }
    let len = file.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(1 << 20);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(1 << 20).read_to_end(&mut tail)?;
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    Ok(match body.iter().rposition(|b| *b == b'\n') {
        Some(newline) => line_hash(&body[newline + 1..]),
        None if body.is_empty() => String::new(),
        None => line_hash(body),
    })
}

fn open(path: &PathBuf) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
}

impl Device {
    /// Opens the target; a file that cannot be opened is an error now, not
    /// at the first request.
    pub fn open(target: Target) -> std::io::Result<Self> {
        let mut last_hash = String::new();
        let file = match &target {
            Target::File(path) => {
                let mut file = open(path)?;
                last_hash = last_line_hash(&mut file)?;
                Some(file)
            }
            Target::Stdout => None,
        };
        Ok(Self {
            target,
            sink: Mutex::new(Sink { file, last_hash }),
        })
    }

    /// A device whose file could not be opened: writes fail until a reopen
    /// works.
    pub fn closed(target: Target) -> Self {
        Self {
            target,
            sink: Mutex::new(Sink {
                file: None,
                last_hash: String::new(),
            }),
        }
    }

    /// Appends one entry with the chain field; returns false if it could
    /// not be written.
    pub fn append(&self, mut entry: serde_json::Map<String, serde_json::Value>) -> bool {
        let Ok(mut sink) = self.sink.lock() else {
            return false;
        };
        entry.insert("prev_hash".into(), sink.last_hash.clone().into());
        let Ok(mut line) = serde_json::to_vec(&entry) else {
            return false;
        };
        let hash = line_hash(&line);
        line.push(b'\n');
        let written = match (&self.target, sink.file.as_mut()) {
            (Target::Stdout, _) => std::io::stdout().lock().write_all(&line).is_ok(),
            (Target::File(_), Some(file)) => file.write_all(&line).is_ok(),
            (Target::File(_), None) => false,
        };
        if written {
            sink.last_hash = hash;
        }
        written
    }

    /// Reopens the file (after log rotation). The chain goes on from the
    /// last line written.
    pub fn reopen(&self) -> std::io::Result<()> {
        let Target::File(path) = &self.target else {
            return Ok(());
        };
        let Ok(mut sink) = self.sink.lock() else {
            return Ok(());
        };
        sink.file = None;
        let mut file = open(path)?;
        if sink.last_hash.is_empty() {
            sink.last_hash = last_line_hash(&mut file)?;
        }
        sink.file = Some(file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    fn entry(n: u64) -> Map<String, Value> {
        json!({ "n": n }).as_object().cloned().unwrap()
    }

    #[test]
    fn the_chain_continues_across_reopen_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let device = Device::open(Target::File(path.clone())).unwrap();
        assert!(device.append(entry(1)));
        assert!(device.append(entry(2)));
        drop(device);
        let device = Device::open(Target::File(path.clone())).unwrap();
        assert!(device.append(entry(3)));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        for pair in lines.windows(2) {
            let next: Value = serde_json::from_str(pair[1]).unwrap();
            assert_eq!(next["prev_hash"], line_hash(pair[0].as_bytes()));
        }
        std::fs::remove_file(&path).unwrap();
        device.reopen().unwrap();
        assert!(device.append(entry(4)));
        let rotated: Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(rotated["prev_hash"], line_hash(lines[2].as_bytes()));
    }
}
