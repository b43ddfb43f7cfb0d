//! `qm audit verify FILE`: checks that every line of an audit log is JSON
//! and carries the hash of the line before it, and names the first place
//! the chain breaks. (The first line's link points into the previous file
//! after a rotation, so it is not checked; an edit of the very last line is
//! not detectable from the file alone.)

use super::device::line_hash;
use serde_json::Value;
use std::io::BufRead;

/// How a log failed verification, with 1-based line numbers.
#[derive(Debug, PartialEq, Eq)]
pub enum Broken {
    NotJson { line: usize },
    Chain { line: usize },
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotJson { line } => write!(f, "line {line} is not a JSON audit entry"),
            Self::Chain { line } => write!(
                f,
                "the chain breaks at line {line}: it was altered, or lines were removed or \
                 inserted right after it (line {} does not carry its hash)",
                line + 1
            ),
        }
    }
}

/// Verifies a log; returns the number of lines on success.
pub fn verify(reader: impl BufRead) -> std::io::Result<Result<usize, Broken>> {
    let mut previous: Option<String> = None;
    let mut count = 0;
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        let number = index + 1;
        let Ok(entry) = serde_json::from_str::<Value>(&line) else {
            return Ok(Err(Broken::NotJson { line: number }));
        };
        let link = entry.get("prev_hash").and_then(Value::as_str);
        if let Some(previous) = &previous {
            if link != Some(previous.as_str()) {
                return Ok(Err(Broken::Chain { line: number - 1 }));
            }
        } else if link.is_none() {
            return Ok(Err(Broken::NotJson { line: number }));
        }
        previous = Some(line_hash(line.as_bytes()));
        count = number;
    }
    Ok(Ok(count))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::device::{Device, Target};
    use serde_json::json;

    #[test]
    fn an_edited_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let device = Device::open(Target::File(path.clone())).unwrap();
        for n in 0..5 {
            assert!(device.append(json!({ "n": n }).as_object().cloned().unwrap()));
        }
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(verify(text.as_bytes()).unwrap(), Ok(5));
        let edited = text.replacen("\"n\":2", "\"n\":7", 1);
        assert_eq!(
            verify(edited.as_bytes()).unwrap(),
            Err(Broken::Chain { line: 3 })
        );
        let mut lines: Vec<&str> = text.lines().collect();
        lines.remove(1);
        assert_eq!(
            verify(lines.join("\n").as_bytes()).unwrap(),
            Err(Broken::Chain { line: 1 })
        );
    }
}
