//! Typed reads of request parameters. Clients send numbers as strings and
//! lists as comma-separated strings as often as JSON arrays; these accept both
//! and name the field when the value is wrong.

use crate::PluginError;
use serde_json::{Map, Value};

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
