//! Human output (aligned Key/Value tables, like the Vault CLI) and the
//! structured forms `-format=json` and `-format=yaml` print.

use serde_json::{Map, Value};

/// How answers are printed (`-format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
    Yaml,
}

impl Format {
    /// `table`, `json` or `yaml` (Vault's names), in any case.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "json" => Ok(Self::Json),
            "yaml" | "yml" => Ok(Self::Yaml),
            _ => Err(format!(
                "Invalid output format: {name} (use table, json or yaml)"
            )),
        }
    }
}

/// Prints a whole answer as JSON or YAML (the table form is per command).
pub(crate) fn structured(format: Format, value: &Value) {
    match format {
        Format::Yaml => print!("{}", yaml(value)),
        Format::Table | Format::Json => json(value),
    }
}

/// A value as YAML, as `vault -format=yaml` prints it (the JSON answer,
/// re-encoded).
fn yaml(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

/// A value as a table cell: strings bare, everything else as JSON.
pub(crate) fn cell(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "n/a".into(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(cell).collect::<Vec<_>>().join(" "))
        }
        Value::Object(map) => format!(
            "map[{}]",
            map.iter()
                .map(|(k, v)| format!("{k}:{}", cell(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Prints rows as a two-column table with a header.
pub(crate) fn table(rows: &[(String, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(3).max(3);
    println!("{:<width$}    Value", "Key");
    println!("{:<width$}    -----", "---");
    for (key, value) in rows {
        println!("{key:<width$}    {value}");
    }
}

/// Prints a JSON object's fields as a table, keys sorted.
pub(crate) fn map_table(map: &Map<String, Value>) {
    let mut rows: Vec<(String, String)> = map.iter().map(|(k, v)| (k.clone(), cell(v))).collect();
    rows.sort();
    table(&rows);
}

fn json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

/// Prints `keys` one per line under a `Keys` header.
pub(crate) fn keys(list: &[Value]) {
    println!("Keys\n----");
    for key in list {
        println!("{}", cell(key));
    }
}

/// Prints the `auth` block of a login or token creation.
pub(crate) fn auth(auth: &Value) {
    let field = |name: &str| auth.get(name).map(cell).unwrap_or_default();
    let duration = auth
        .get("lease_duration")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut rows = vec![
        ("token".to_string(), field("client_token")),
        ("token_accessor".to_string(), field("accessor")),
        (
            "token_duration".to_string(),
            if duration == 0 {
                "∞".into()
            } else {
                format!("{duration}s")
            },
        ),
        ("token_renewable".to_string(), field("renewable")),
        ("token_policies".to_string(), field("token_policies")),
        ("identity_policies".to_string(), "[]".into()),
        ("policies".to_string(), field("policies")),
    ];
    if let Some(Value::Object(meta)) = auth.get("metadata") {
        for (k, v) in meta {
            rows.push((format!("token_meta_{k}"), cell(v)));
        }
    }
    table(&rows);
}
