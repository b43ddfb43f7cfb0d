//! A file device's options, as Vault's `sys/audit/NAME` takes them:
//! `file_path`, `mode`, `format`, `hmac_accessor`, `log_raw`,
//! `elide_list_responses`, `prefix`. Checked when the device is enabled; an
//! option we do not honour is refused, never silently ignored:
//! - `log_raw = true` would write every secret in the clear (stricter
//!   than Vault, which allows it);
//! - `prefix` and `format = "jsonx"` would break the keyed hash chain that
//!   `qm audit verify` checks.

use crate::error::ApiError;
use std::collections::BTreeMap;

const KNOWN: [&str; 7] = [
    "file_path",
    "mode",
    "format",
    "hmac_accessor",
    "log_raw",
    "elide_list_responses",
    "prefix",
];

/// What the options change in how a device writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceOptions {
    /// HMAC token accessors too (Vault's default, true).
    pub hmac_accessor: bool,
    /// Write a LIST response's keys as their count.
    pub elide_list_responses: bool,
    /// The log file's mode (`None`: leave it, as Vault's `"0000"`).
    pub mode: Option<u32>,
}

impl DeviceOptions {
    /// Every accessor HMAC'd, lists written whole, the file's mode left.
    pub const SAFE: Self = Self {
        hmac_accessor: true,
        elide_list_responses: false,
        mode: None,
    };
}

fn flag(options: &BTreeMap<String, String>, name: &str, default: bool) -> Result<bool, ApiError> {
    match options.get(name).map(|v| v.trim()) {
        None | Some("") => Ok(default),
        Some("true" | "1") => Ok(true),
        Some("false" | "0") => Ok(false),
        Some(other) => Err(ApiError::bad(format!(
            "options.{name}: {other:?} is not true or false"
        ))),
    }
}

/// Checks the options and reads what they change.
pub fn parse(options: &BTreeMap<String, String>) -> Result<DeviceOptions, ApiError> {
    if let Some(unknown) = options.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(ApiError::bad(format!(
            "options.{unknown}: not an option of the file device ({})",
            KNOWN.join(", ")
        )));
    }
    if flag(options, "log_raw", false)? {
        return Err(ApiError::bad(
            "options.log_raw: refused: it would write every secret in the clear",
        ));
    }
    if options.get("prefix").is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::bad(
            "options.prefix: not supported: lines must stay JSON for the hash chain",
        ));
    }
    match options.get("format").map(String::as_str) {
        None | Some("" | "json") => {}
        Some(other) => {
            return Err(ApiError::bad(format!(
                "options.format: {other:?} is not supported; use \"json\""
            )))
        }
    }
    let mode = match options.get("mode").map(|m| m.trim()) {
        None | Some("") => Some(0o600),
        Some(text) => match u32::from_str_radix(text, 8) {
            Ok(0) => None,
            Ok(mode) if mode <= 0o777 => Some(mode),
            _ => {
                return Err(ApiError::bad(format!(
                    "options.mode: {text:?} is not an octal file mode such as \"0600\""
                )))
            }
        },
    };
    Ok(DeviceOptions {
        hmac_accessor: flag(options, "hmac_accessor", true)?,
        elide_list_responses: flag(options, "elide_list_responses", false)?,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn vaults_options_are_read_and_the_unsafe_ones_refused() {
        let read = parse(&options(&[
            ("file_path", "/x"),
            ("mode", "0640"),
            ("hmac_accessor", "false"),
            ("elide_list_responses", "true"),
            ("format", "json"),
            ("log_raw", "false"),
        ]))
        .unwrap();
        assert_eq!(
            read,
            DeviceOptions {
                hmac_accessor: false,
                elide_list_responses: true,
                mode: Some(0o640)
            }
        );
        assert_eq!(parse(&options(&[("mode", "0000")])).unwrap().mode, None);
        for bad in [
            ("log_raw", "true"),
            ("prefix", "qm:"),
            ("format", "jsonx"),
            ("mode", "999"),
            ("mode", "-1"),
            ("mode", "7777"),
            ("hmac_accessor", "maybe"),
            ("colour", "red"),
        ] {
            assert!(parse(&options(&[bad])).is_err(), "{bad:?}");
        }
    }
}
