//! `qm audit verify FILE...`: checks that every line of an audit log is a
//! JSON entry whose `prev_hash` is the keyed link (see [`super::chain`]) of
//! the line before it, and names the first place the chain breaks. Several
//! files (rotated ones, oldest first) are checked as one chain.
//!
//! Given the device's head (the last line it wrote, from the server), the
//! live file must reach it: a file cut short is reported as truncated.
//!
//! What the chain cannot show: lines removed from the start of the first
//! file (its first link points into an earlier file), and, for a file
//! checked without the head, an edit of its very last line.
//!
//! Lines written before links were keyed (`sha256:` links) are accepted
//! only before the first keyed link, which covers them all (each unkeyed
//! line holds the hash of the one before); a log with no keyed link at all
//! is refused, since anyone could have rewritten it.

use super::chain::{self, Head, KEYED, UNKEYED};
use serde_json::Value;
use std::io::BufRead;

/// How a log failed verification, with 1-based line numbers in the file
/// being read.
#[derive(Debug, PartialEq, Eq)]
pub enum Broken {
    NotJson {
        line: usize,
    },
    /// Line `line + 1` does not carry the link of line `line`.
    Chain {
        line: usize,
    },
    /// The first line of a file does not continue the file before it.
    FileLink,
    /// Sequence numbers `from..=to` are missing after line `line`.
    Removed {
        line: usize,
        from: u64,
        to: u64,
    },
    /// The file ends at sequence number `last` but the device wrote up to `head`.
    Truncated {
        lines: usize,
        last: u64,
        head: u64,
    },
    /// Line `line` has the head's sequence number but not its content.
    NotTheHead {
        line: usize,
    },
    /// No line carries a keyed link.
    Unkeyed,
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotJson { line } => write!(f, "line {line} is not a JSON audit entry"),
            Self::Chain { line } => write!(
                f,
                "the chain breaks at line {line}: it was altered, or lines were removed or \
                 inserted right after it (line {} does not carry its keyed hash)",
                line.saturating_add(1)
            ),
            Self::FileLink => write!(
                f,
                "the first line does not continue the previous file: lines were removed or \
                 altered at the seam"
            ),
            Self::Removed { line, from, to } => write!(
                f,
                "the chain breaks at line {line}: the lines numbered {from} to {to} that \
                 followed it were removed"
            ),
            Self::Truncated { lines, last, head } => write!(
                f,
                "the file was truncated: it ends at line {lines} (number {last}), but the \
                 device has written up to number {head}; the last {} lines were removed",
                head.saturating_sub(*last)
            ),
            Self::NotTheHead { line } => write!(
                f,
                "line {line} is not the line the device recorded with its number: the file \
                 was altered"
            ),
            Self::Unkeyed => write!(
                f,
                "no line carries a keyed link (the log predates keyed chains): its hashes \
                 cannot show that it was not rewritten"
            ),
        }
    }
}

/// The chain state carried from line to line and file to file.
pub struct Verifier<'k> {
    key: &'k [u8],
    /// The device's head, checked against the end of the live file.
    head: Option<Head>,
    previous: Option<(String, Option<u64>)>,
    keyed: bool,
    lines: usize,
    head_seen: bool,
}

impl<'k> Verifier<'k> {
    pub fn new(key: &'k [u8], head: Option<Head>) -> Self {
        Self {
            key,
            head,
            previous: None,
            keyed: false,
            lines: 0,
            head_seen: false,
        }
    }

    /// Checks one file, continuing the chain of the files before it.
    /// `live` says the device still writes to it (so it must reach the head).
    pub fn file(
        &mut self,
        reader: impl BufRead,
        live: bool,
    ) -> std::io::Result<Result<usize, Broken>> {
        let mut count = 0;
        let mut first_seq = None;
        for (index, line) in reader.lines().enumerate() {
            let line = line?;
            let number = index.saturating_add(1);
            let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(&line) else {
                return Ok(Err(Broken::NotJson { line: number }));
            };
            let Some(link) = entry.get("prev_hash").and_then(Value::as_str) else {
                return Ok(Err(Broken::NotJson { line: number }));
            };
            let seq = entry.get("seq").and_then(Value::as_u64);
            first_seq = first_seq.or(seq);
            if let Some((previous, previous_seq)) = &self.previous {
                let expected = if link.starts_with(KEYED) {
                    self.keyed = true;
                    Some(chain::link(self.key, previous.as_bytes()))
                } else if link.starts_with(UNKEYED) && !self.keyed {
                    Some(chain::unkeyed_link(previous.as_bytes()))
                } else {
                    None
                };
                if expected.as_deref() != Some(link) {
                    return Ok(Err(match (previous_seq, seq) {
                        _ if number == 1 => Broken::FileLink,
                        (Some(before), Some(seq)) if seq > before.saturating_add(1) => {
                            Broken::Removed {
                                line: number.saturating_sub(1),
                                from: before.saturating_add(1),
                                to: seq.saturating_sub(1),
                            }
                        }
                        _ => Broken::Chain {
                            line: number.saturating_sub(1),
                        },
                    }));
                }
            } else if link.starts_with(KEYED) {
                self.keyed = true;
            }
            if let (Some(head), Some(seq)) = (&self.head, seq) {
                if seq == head.seq {
                    if chain::link(self.key, line.as_bytes()) != head.hash {
                        return Ok(Err(Broken::NotTheHead { line: number }));
                    }
                    self.head_seen = true;
                }
            }
            self.previous = Some((line, seq));
            self.lines = self.lines.saturating_add(1);
            count = number;
        }
        if live && !self.head_seen {
            if let (Some(head), Some(first), Some((_, Some(last)))) =
                (&self.head, first_seq, &self.previous)
            {
                if first <= head.seq && *last < head.seq {
                    return Ok(Err(Broken::Truncated {
                        lines: count,
                        last: *last,
                        head: head.seq,
                    }));
                }
            }
        }
        Ok(Ok(count))
    }

    /// After the last file: the total number of lines, or why the log as a
    /// whole proves nothing.
    pub fn finish(self) -> Result<usize, Broken> {
        if self.lines > 0 && !self.keyed {
            return Err(Broken::Unkeyed);
        }
        Ok(self.lines)
    }
}

/// Verifies one file with `key`, against `head` if it is the live file.
pub fn verify(
    reader: impl BufRead,
    key: &[u8],
    head: Option<Head>,
) -> std::io::Result<Result<usize, Broken>> {
    let live = head.is_some();
    let mut verifier = Verifier::new(key, head);
    Ok(match verifier.file(reader, live)? {
        Ok(_) => verifier.finish(),
        Err(broken) => Err(broken),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::device::{Device, Target};
    use serde_json::json;
    use zeroize::Zeroizing;

    const KEY: [u8; 32] = [3; 32];

    fn log(lines: u64) -> (tempfile::TempDir, String, Head) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let device = Device::open(
            Target::File(path.clone()),
            Zeroizing::new(KEY.to_vec()),
            None,
        )
        .unwrap();
        for n in 0..lines {
            assert!(device.append(json!({ "n": n }).as_object().cloned().unwrap()));
        }
        let head = device.head();
        (dir, std::fs::read_to_string(&path).unwrap(), head)
    }

    #[test]
    fn an_edited_or_removed_line_is_named() {
        let (_dir, text, head) = log(5);
        assert_eq!(verify(text.as_bytes(), &KEY, Some(head)).unwrap(), Ok(5));
        let edited = text.replacen("\"n\":2", "\"n\":7", 1);
        assert_eq!(
            verify(edited.as_bytes(), &KEY, None).unwrap(),
            Err(Broken::Chain { line: 3 })
        );
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(1);
        assert_eq!(
            verify(lines.join("\n").as_bytes(), &KEY, None).unwrap(),
            Err(Broken::Removed {
                line: 1,
                from: 2,
                to: 2
            })
        );
    }

    /// An attacker without the key edits a line and recomputes every link
    /// after it the unkeyed way (or keyed under a key of their own): the
    /// chain still breaks.
    #[test]
    fn recomputed_links_without_the_key_fail() {
        let (_dir, text, _) = log(5);
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        lines[2] = lines[2].replacen("\"n\":2", "\"n\":7", 1);
        for forge in [
            &(|line: &str| chain::unkeyed_link(line.as_bytes())) as &dyn Fn(&str) -> String,
            &|line: &str| chain::link(&[9; 32], line.as_bytes()),
        ] {
            let mut forged = lines.clone();
            for i in 3..forged.len() {
                let mut entry: serde_json::Map<String, Value> =
                    serde_json::from_str(&forged[i]).unwrap();
                entry.insert("prev_hash".into(), forge(&forged[i - 1]).into());
                forged[i] = serde_json::to_string(&entry).unwrap();
            }
            assert_eq!(
                verify(forged.join("\n").as_bytes(), &KEY, None).unwrap(),
                Err(Broken::Chain { line: 3 })
            );
        }
        // A wholly unkeyed log proves nothing and is refused.
        let unkeyed: Vec<String> = lines
            .iter()
            .scan(String::new(), |previous, line| {
                let mut entry: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
                entry.remove("seq");
                entry.insert(
                    "prev_hash".into(),
                    chain::unkeyed_link(previous.as_bytes()).into(),
                );
                *previous = serde_json::to_string(&entry).unwrap();
                Some(previous.clone())
            })
            .collect();
        assert_eq!(
            verify(unkeyed.join("\n").as_bytes(), &KEY, None).unwrap(),
            Err(Broken::Unkeyed)
        );
    }

    #[test]
    fn a_truncated_live_file_is_reported() {
        let (_dir, text, head) = log(6);
        let kept: Vec<&str> = text.lines().take(4).collect();
        assert_eq!(
            verify(kept.join("\n").as_bytes(), &KEY, Some(head.clone())).unwrap(),
            Err(Broken::Truncated {
                lines: 4,
                last: 4,
                head: 6
            })
        );
        // Without the head, the cut is invisible: hence the stored head.
        assert_eq!(
            verify(kept.join("\n").as_bytes(), &KEY, None).unwrap(),
            Ok(4)
        );
    }

    /// Lines written before keyed chains, then keyed ones: the keyed link
    /// after the last unkeyed line covers them all.
    #[test]
    fn unkeyed_lines_before_keyed_ones_are_covered() {
        let mut lines = Vec::new();
        let mut previous = String::new();
        for n in 0..3 {
            let line =
                json!({"n": n, "prev_hash": chain::unkeyed_link(previous.as_bytes())}).to_string();
            lines.push(line.clone());
            previous = line;
        }
        for n in 3..5 {
            let line =
                json!({"n": n, "seq": n - 2, "prev_hash": chain::link(&KEY, previous.as_bytes())})
                    .to_string();
            lines.push(line.clone());
            previous = line;
        }
        assert_eq!(
            verify(lines.join("\n").as_bytes(), &KEY, None).unwrap(),
            Ok(5)
        );
        let mut edited = lines.clone();
        edited[0] = edited[0].replacen("\"n\":0", "\"n\":9", 1);
        let mut prev = edited[0].clone();
        for line in edited.iter_mut().take(3).skip(1) {
            let mut entry: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
            entry.insert(
                "prev_hash".into(),
                chain::unkeyed_link(prev.as_bytes()).into(),
            );
            *line = serde_json::to_string(&entry).unwrap();
            prev = line.clone();
        }
        assert_eq!(
            verify(edited.join("\n").as_bytes(), &KEY, None).unwrap(),
            Err(Broken::Chain { line: 3 })
        );
    }
}
