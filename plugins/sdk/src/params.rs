//! Typed reads of request parameters. Clients send numbers as strings and
//! lists as comma-separated strings as often as JSON arrays; these accept both
//! and name the field when the value is wrong.

use crate::PluginError;
use serde_json::{Map, Value};

/// The most unknown names one warning lists, and the longest name shown.
const WARN_NAMES: usize = 16;
const WARN_NAME_CHARS: usize = 64;

/// Vault's warning for body fields an endpoint does not take, so a typo or
/// an unsupported option is not silently dropped: `Endpoint ignored these
/// unrecognized parameters: [a b]` (sorted, as Vault prints them). Only
/// names are shown, never values (a value may be a secret); a hostile body
/// cannot make the warning large (at most 16 names of 64 characters).
pub fn unrecognized(data: &Map<String, Value>, known: &[&str]) -> Option<String> {
    let mut unknown: Vec<&str> = data
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return None;
    }
    unknown.sort_unstable();
    let more = unknown.len().saturating_sub(WARN_NAMES);
    let mut shown: Vec<String> = unknown
        .iter()
        .take(WARN_NAMES)
        .map(|k| {
            let name: String = k
                .chars()
                .take(WARN_NAME_CHARS)
                .map(|c| if c.is_control() { '?' } else { c })
                .collect();
            name
        })
        .collect();
    if more > 0 {
        shown.push(format!("(and {more} more)"));
    }
    Some(format!(
        "Endpoint ignored these unrecognized parameters: [{}]",
        shown.join(" ")
    ))
}

/// Reads an optional field that must be a string.
pub fn optional_str<'a>(
    data: &'a Map<String, Value>,
    field: &str,
) -> Result<Option<&'a str>, PluginError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(format!("{field}: expected a string"))),
    }
}

/// Reads an optional boolean, accepting `true`/`"true"` as clients send both.
pub fn optional_bool(data: &Map<String, Value>, field: &str) -> Result<Option<bool>, PluginError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("{field}: expected true or false"))),
        Some(_) => Err(bad(format!("{field}: expected true or false"))),
    }
}

/// Reads an optional non-negative integer, accepting numbers and numeric
/// strings. Counts are bounded by `i64::MAX`, so every count fits the signed
/// fields Vault's API reports them in.
pub fn optional_u64(data: &Map<String, Value>, field: &str) -> Result<Option<u64>, PluginError> {
    let invalid = || bad(format!("{field}: expected a non-negative integer"));
    let count = match data.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(invalid)?,
        Some(Value::String(s)) => s.parse().map_err(|_| invalid())?,
        Some(_) => return Err(invalid()),
    };
    if i64::try_from(count).is_err() {
        return Err(bad(format!("{field}: too large (at most {})", i64::MAX)));
    }
    Ok(Some(count))
}

/// Reads an optional list of strings: a JSON array or a comma-separated string.
pub fn optional_strings(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, PluginError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad(format!("{field}: expected a list of strings"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad(format!("{field}: expected a list of strings"))),
    }
}

/// Reads an optional duration (seconds or a Go duration string).
pub fn optional_duration(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<i64>, PluginError> {
    crate::duration::field_seconds(data.get(field), field).map_err(PluginError::BadRequest)
}

/// Reads an optional map of string to string.
pub fn optional_string_map(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Option<std::collections::BTreeMap<String, String>>, PluginError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Ok((k.clone(), other.to_string())),
            })
            .collect::<Result<_, PluginError>>()
            .map(Some),
        Some(_) => Err(bad(format!("{field}: expected a map of strings"))),
    }
}

fn bad(message: impl Into<String>) -> PluginError {
    PluginError::BadRequest(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn unknown_fields_are_named_sorted_as_vault_prints_them() {
        let data = map(json!({"zeta": 1, "db_name": "pg", "alpha": "secret-value"}));
        assert_eq!(
            unrecognized(&data, &["db_name"]).as_deref(),
            Some("Endpoint ignored these unrecognized parameters: [alpha zeta]")
        );
        assert_eq!(unrecognized(&data, &["db_name", "alpha", "zeta"]), None);
        let shown = unrecognized(&data, &[]).unwrap_or_default();
        assert!(!shown.contains("secret-value"), "names only: {shown}");
    }

    #[test]
    fn a_hostile_body_cannot_make_the_warning_large() {
        let mut data = Map::new();
        for i in 0..10_000 {
            data.insert(format!("{i:05}{}", "x".repeat(1000)), json!(1));
        }
        data.insert("line\nbreak".into(), json!(1));
        let shown = unrecognized(&data, &[]).unwrap_or_default();
        assert!(shown.len() < 16 * 70 + 100, "{} bytes", shown.len());
        assert!(shown.ends_with("(and 9985 more)]"), "{shown}");
        assert!(!shown.contains('\n'));
    }
}
