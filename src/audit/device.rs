//! One file audit device: appends JSON lines, each carrying its sequence
//! number (`seq`) and the keyed link to the line before it (`prev_hash`,
//! see [`super::chain`]), so removing, inserting or editing a line breaks
//! the chain (`qm audit verify`). The chain continues across restarts (the
//! last line is read at open, and checked against the stored head) and
//! across log rotation (`reopen`, on SIGHUP).

use super::chain::{self, Head};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// Where lines go: a file, or standard output (`file_path=stdout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    File(PathBuf),
    Stdout,
}

struct Sink {
    /// `None` once a reopen failed: every write fails until a reopen works.
    file: Option<File>,
    /// The last line written.
    head: Head,
}

pub struct Device {
    target: Target,
    key: Zeroizing<Vec<u8>>,
    sink: Mutex<Sink>,
}

/// The last complete line of `file`, if it has one. Devices and pipes have
/// no last line.
fn last_line(file: &mut File) -> std::io::Result<Option<Vec<u8>>> {
    if !file.metadata()?.is_file() {
        return Ok(None);
    }
    let len = file.seek(SeekFrom::End(0))?;
    let start = len.saturating_sub(1 << 20);
    file.seek(SeekFrom::Start(start))?;
    let mut tail = Vec::new();
    file.take(1 << 20).read_to_end(&mut tail)?;
    let body = tail.strip_suffix(b"\n").unwrap_or(&tail);
    Ok(match body.iter().rposition(|b| *b == b'\n') {
        Some(newline) => body.get(newline.saturating_add(1)..).map(<[u8]>::to_vec),
        None if body.is_empty() => None,
        None => Some(body.to_vec()),
    })
}

/// Where the chain goes on from: the file's last line, unless the stored
/// head is further along (the file was cut short or replaced while the
/// server was down, or is a fresh file after rotation), in which case the
/// stored head, so the next line's link shows the gap.
fn resume(
    key: &[u8],
    file: &mut File,
    stored: Option<&Head>,
    path: &std::path::Path,
) -> std::io::Result<Head> {
    let from_file = last_line(file)?.map(|line| Head {
        seq: chain::seq_of(&line).unwrap_or(0),
        hash: chain::link(key, &line),
    });
    Ok(match (from_file, stored) {
        (None, None) => Head::default(),
        (Some(head), None) => head,
        (None, Some(stored)) => stored.clone(),
        (Some(head), Some(stored)) => {
            if head.seq > stored.seq || head == *stored {
                head
            } else {
                tracing::error!(
                    file = %path.display(),
                    file_seq = head.seq,
                    recorded_seq = stored.seq,
                    "the audit file ends before the last line this device recorded: it was \
                     cut short or replaced; the chain goes on from the recorded line"
                );
                stored.clone()
            }
        }
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
    /// at the first request. `stored` is the head recorded in the barrier.
    pub fn open(
        target: Target,
        key: Zeroizing<Vec<u8>>,
        stored: Option<&Head>,
    ) -> std::io::Result<Self> {
        let (file, head) = match &target {
            Target::File(path) => {
                let mut file = open(path)?;
                let head = resume(&key, &mut file, stored, path)?;
                (Some(file), head)
            }
            Target::Stdout => (None, stored.cloned().unwrap_or_default()),
        };
        Ok(Self {
            target,
            key,
            sink: Mutex::new(Sink { file, head }),
        })
    }

    /// A device whose file could not be opened: writes fail until a reopen
    /// works.
    pub fn closed(target: Target, key: Zeroizing<Vec<u8>>, stored: Option<&Head>) -> Self {
        Self {
            target,
            key,
            sink: Mutex::new(Sink {
                file: None,
                head: stored.cloned().unwrap_or_default(),
            }),
        }
    }

    /// The last line written.
    pub fn head(&self) -> Head {
        self.sink
            .lock()
            .map(|sink| sink.head.clone())
            .unwrap_or_default()
    }

    /// Appends one entry with the chain fields; returns false if it could
    /// not be written.
    pub fn append(&self, mut entry: serde_json::Map<String, serde_json::Value>) -> bool {
        let Ok(mut sink) = self.sink.lock() else {
            return false;
        };
        let seq = sink.head.seq.saturating_add(1);
        entry.insert("seq".into(), seq.into());
        entry.insert("prev_hash".into(), sink.head.hash.clone().into());
        let Ok(mut line) = serde_json::to_vec(&entry) else {
            return false;
        };
        let hash = chain::link(&self.key, &line);
        line.push(b'\n');
        let written = match (&self.target, sink.file.as_mut()) {
            (Target::Stdout, _) => std::io::stdout().lock().write_all(&line).is_ok(),
            (Target::File(_), Some(file)) => file.write_all(&line).is_ok(),
            (Target::File(_), None) => false,
        };
        if written {
            sink.head = Head { seq, hash };
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
        let known = (sink.head != Head::default()).then(|| sink.head.clone());
        sink.head = resume(&self.key, &mut file, known.as_ref(), path)?;
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

    fn key() -> Zeroizing<Vec<u8>> {
        Zeroizing::new(vec![7u8; 32])
    }

    #[test]
    fn the_chain_continues_across_reopen_and_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let device = Device::open(Target::File(path.clone()), key(), None).unwrap();
        assert!(device.append(entry(1)));
        assert!(device.append(entry(2)));
        drop(device);
        let device = Device::open(Target::File(path.clone()), key(), None).unwrap();
        assert!(device.append(entry(3)));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3);
        for (n, pair) in lines.windows(2).enumerate() {
            let next: Value = serde_json::from_str(pair[1]).unwrap();
            assert_eq!(next["prev_hash"], chain::link(&key(), pair[0].as_bytes()));
            assert_eq!(next["seq"], n as u64 + 2);
        }
        std::fs::remove_file(&path).unwrap();
        device.reopen().unwrap();
        assert!(device.append(entry(4)));
        let rotated: Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(
            rotated["prev_hash"],
            chain::link(&key(), lines[2].as_bytes())
        );
        assert_eq!(rotated["seq"], 4);
    }

    #[test]
    fn a_file_cut_short_while_down_resumes_from_the_stored_head() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let device = Device::open(Target::File(path.clone()), key(), None).unwrap();
        for n in 0..4 {
            assert!(device.append(entry(n)));
        }
        let stored = device.head();
        drop(device);
        let text = std::fs::read_to_string(&path).unwrap();
        let kept: Vec<&str> = text.lines().take(2).collect();
        std::fs::write(&path, kept.join("\n") + "\n").unwrap();
        let device = Device::open(Target::File(path.clone()), key(), Some(&stored)).unwrap();
        assert_eq!(device.head(), stored);
        assert!(device.append(entry(9)));
        let last: Value = serde_json::from_str(
            std::fs::read_to_string(&path)
                .unwrap()
                .lines()
                .last()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(last["seq"], 5);
        assert_eq!(last["prev_hash"], stored.hash);
    }
}
