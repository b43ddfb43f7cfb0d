//! Dynamic roles (`database/roles/NAME`): which database, which
//! statements, which TTLs. The users issued for them are in `users`.

use crate::config::load as load_config;
use qm_plugin_sdk::params::{optional_duration, optional_str, optional_u64};
use qm_plugin_sdk::{PluginError, PluginStorage, Reply};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DynamicRole {
    pub(crate) db_name: String,
    pub(crate) creation_statements: Vec<String>,
    pub(crate) revocation_statements: Vec<String>,
    pub(crate) renew_statements: Vec<String>,
    pub(crate) rollback_statements: Vec<String>,
    pub(crate) default_ttl: i64,
    pub(crate) max_ttl: i64,
    pub(crate) credential_type: String,
    /// 0: no cap.
    pub(crate) max_active_leases: u64,
}

fn key(name: &str) -> String {
    format!("roles/{name}")
}

/// A statements field: a JSON list of strings, or one string (kept whole:
/// statements contain commas, so a string is never split).
pub(crate) fn statements(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Vec<String>, PluginError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(PluginError::BadRequest(format!(
                    "{field}: expected a list of SQL strings"
                ))),
            })
            .collect(),
        Some(_) => Err(PluginError::BadRequest(format!(
            "{field}: expected SQL statements"
        ))),
    }
}

pub(crate) async fn load(
    storage: &dyn PluginStorage,
    name: &str,
) -> Result<DynamicRole, PluginError> {
    storage
        .get_json::<DynamicRole>(&key(name))
        .await?
        .ok_or_else(|| PluginError::BadRequest(format!("unknown role: {name}")))
}

pub(crate) async fn list(storage: &dyn PluginStorage) -> Result<Reply, PluginError> {
    Reply::keys(storage.list("roles/").await?)
}

pub(crate) async fn read(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    let role = storage
        .get_json::<DynamicRole>(&key(name))
        .await?
        .ok_or(PluginError::NotFound)?;
    let data = json!({
        "db_name": role.db_name,
        "creation_statements": role.creation_statements,
        "revocation_statements": role.revocation_statements,
        "renew_statements": role.renew_statements,
        "rollback_statements": role.rollback_statements,
        "default_ttl": role.default_ttl,
        "max_ttl": role.max_ttl,
        "credential_type": role.credential_type,
        "max_active_leases": role.max_active_leases,
    });
    Ok(Reply::json(data))
}

pub(crate) async fn write(
    storage: &dyn PluginStorage,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply, PluginError> {
    let existing = storage.get_json::<DynamicRole>(&key(name)).await?;
    let mut role = existing.unwrap_or(DynamicRole {
        db_name: String::new(),
        creation_statements: Vec::new(),
        revocation_statements: Vec::new(),
        renew_statements: Vec::new(),
        rollback_statements: Vec::new(),
        default_ttl: 0,
        max_ttl: 0,
        credential_type: "password".into(),
        max_active_leases: 0,
    });
    if let Some(db) = optional_str(data, "db_name")? {
        role.db_name = db.to_string();
    }
    if role.db_name.is_empty() {
        return Err(PluginError::BadRequest("db_name: required".into()));
    }
    load_config(storage, &role.db_name).await?;
    for (field, target) in [
        ("creation_statements", &mut role.creation_statements),
        ("revocation_statements", &mut role.revocation_statements),
        ("renew_statements", &mut role.renew_statements),
        ("rollback_statements", &mut role.rollback_statements),
    ] {
        if data.contains_key(field) {
            *target = statements(data, field)?;
        }
    }
    if role.creation_statements.is_empty() {
        return Err(PluginError::BadRequest(
            "creation_statements: required".into(),
        ));
    }
    if !role
        .creation_statements
        .iter()
        .any(|s| s.contains("{{name}}") || s.contains("{{username}}"))
    {
        return Err(PluginError::BadRequest(
            "creation_statements: must create the user named {{name}}".into(),
        ));
    }
    if let Some(ttl) = optional_duration(data, "default_ttl")? {
        role.default_ttl = ttl;
    }
    if let Some(ttl) = optional_duration(data, "max_ttl")? {
        role.max_ttl = ttl;
    }
    if role.max_ttl > 0 && role.default_ttl > role.max_ttl {
        return Err(PluginError::BadRequest(
            "default_ttl: must not exceed max_ttl".into(),
        ));
    }
    if let Some(kind) = optional_str(data, "credential_type")? {
        if kind != "password" {
            return Err(PluginError::BadRequest(format!(
                "credential_type: {kind:?} is not supported; use \"password\""
            )));
        }
    }
    if let Some(cap) = optional_u64(data, "max_active_leases")? {
        role.max_active_leases = cap;
    }
    storage.put_json(&key(name), &role).await?;
    Ok(Reply::Empty)
}

/// The fields `database/roles/NAME` takes.
pub(crate) const FIELDS: &[&str] = &[
    "db_name",
    "creation_statements",
    "revocation_statements",
    "renew_statements",
    "rollback_statements",
    "default_ttl",
    "max_ttl",
    "credential_type",
    "max_active_leases",
];

pub(crate) async fn delete(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    storage.delete(&key(name)).await?;
    Ok(Reply::Empty)
}
