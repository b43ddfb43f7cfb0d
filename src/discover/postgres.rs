//! The PostgreSQL connector: a database engine's answer to
//! `database/discover/NAME` (its login roles, from the catalogs) as
//! discovered identities. Roles the engine manages are counted, not kept;
//! roles it retired (`NOLOGIN`) are kept with `retired_at`, and no longer
//! count as never expiring: they cannot log in.

use super::Discovered;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const KIND: &str = "postgres_role";

#[derive(Deserialize)]
struct ScannedRole {
    name: String,
    valid_until: Option<i64>,
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default)]
    member_of: Vec<String>,
    #[serde(default)]
    privileges: Vec<String>,
    #[serde(default)]
    connections: u32,
    last_seen_connected: Option<i64>,
    managed_by: Option<String>,
    retired_at: Option<i64>,
    suggested_creation_statements: Option<Vec<String>>,
}

/// What one scan found: the unmanaged roles as records, and how many
/// managed roles were matched.
pub struct Found {
    pub records: Vec<Discovered>,
    pub managed: usize,
}

/// The records of an engine's scan answer; `source` is the config's path
/// (`database/config/pg`), `db_name` its name.
pub fn records(answer: &Map<String, Value>, source: &str, db_name: &str, now: i64) -> Found {
    let roles: Vec<ScannedRole> = answer
        .get("roles")
        .cloned()
        .and_then(|r| serde_json::from_value(r).ok())
        .unwrap_or_default();
    let managed = roles.iter().filter(|r| r.managed_by.is_some()).count();
    let records = roles
        .into_iter()
        .filter(|r| r.managed_by.is_none())
        .map(|role| record(role, source, db_name, now))
        .collect();
    Found { records, managed }
}

fn record(role: ScannedRole, source: &str, db_name: &str, now: i64) -> Discovered {
    let mut permissions: Vec<String> = role
        .member_of
        .iter()
        .map(|group| format!("member of {group}"))
        .collect();
    permissions.extend(role.privileges.iter().cloned());
    let mut details = BTreeMap::new();
    details.insert("db_name".into(), json!(db_name));
    details.insert("attributes".into(), json!(role.attributes));
    details.insert("member_of".into(), json!(role.member_of));
    details.insert("connections".into(), json!(role.connections));
    if let Some(at) = role.retired_at {
        details.insert("retired_at".into(), json!(at));
    }
    if let Some(statements) = role.suggested_creation_statements {
        details.insert(
            "suggested_role".into(),
            json!({ "db_name": db_name, "creation_statements": statements }),
        );
    }
    Discovered {
        kind: KIND.into(),
        source: source.to_string(),
        first_seen: now,
        last_used: role.last_seen_connected,
        expires: role.valid_until,
        never_expires: role.valid_until.is_none() && role.retired_at.is_none(),
        privileged: role.attributes,
        permissions,
        locations: Vec::new(),
        fingerprints: Vec::new(),
        details,
        name: role.name,
    }
}
