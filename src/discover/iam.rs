//! The AWS IAM connector: an `aws` engine's answer to `aws/discover` (the
//! account's users, their access keys and the roles that trust outsiders
//! or allow `*`) as discovered identities. An access key's fingerprint is
//! made from its id, as a file finding's is, so the two link.

use super::fingerprint::FingerprintKey;
use super::Discovered;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub const USER: &str = "iam_user";
pub const ACCESS_KEY: &str = "iam_access_key";
pub const ROLE: &str = "iam_role";

/// What one scan found, and how many managed identities were matched.
pub struct Found {
    pub records: Vec<Discovered>,
    pub managed: usize,
}

/// A field of an entry; `Null` when absent.
fn at<'v>(entry: &'v Value, field: &str) -> &'v Value {
    entry.get(field).unwrap_or(&Value::Null)
}

fn text(entry: &Value, field: &str) -> String {
    at(entry, field).as_str().unwrap_or_default().to_string()
}

fn texts(entry: &Value, field: &str) -> Vec<String> {
    at(entry, field)
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn base(kind: &str, name: String, source: &str, now: i64, entry: &Value) -> Discovered {
    let mut details = BTreeMap::new();
    if let Some(created) = at(entry, "created").as_i64() {
        details.insert("created".into(), json!(created));
    }
    if let Some(arn) = at(entry, "arn").as_str() {
        details.insert("arn".into(), json!(arn));
    }
    Discovered {
        kind: kind.into(),
        name,
        source: source.to_string(),
        first_seen: now,
        last_used: None,
        expires: None,
        never_expires: false,
        privileged: Vec::new(),
        permissions: Vec::new(),
        locations: Vec::new(),
        fingerprints: Vec::new(),
        details,
    }
}

/// The records of an engine's answer; `source` is `MOUNT/config/root`.
pub fn records(answer: &Map<String, Value>, source: &str, key: &FingerprintKey, now: i64) -> Found {
    let list = |field: &str| {
        answer
            .get(field)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (mut records, mut managed) = (Vec::new(), 0_usize);
    let keys = list("access_keys");
    for user in list("users") {
        if !at(&user, "managed_by").is_null() {
            managed = managed.saturating_add(1);
            continue;
        }
        let name = text(&user, "name");
        let mut record = base(USER, name.clone(), source, now, &user);
        record.permissions = texts(&user, "policies");
        record.privileged = texts(&user, "wildcards");
        record.last_used = keys
            .iter()
            .filter(|k| at(k, "user") == name.as_str())
            .filter_map(|k| at(k, "last_used").as_i64())
            .chain(at(&user, "password_last_used").as_i64())
            .max();
        let user_keys: Vec<String> = keys
            .iter()
            .filter(|k| at(k, "user") == name.as_str())
            .map(|k| text(k, "id"))
            .collect();
        record
            .details
            .insert("access_keys".into(), json!(user_keys));
        records.push(record);
    }
    for access_key in &keys {
        if !at(access_key, "managed_by").is_null() {
            managed = managed.saturating_add(1);
            continue;
        }
        let id = text(access_key, "id");
        let mut record = base(ACCESS_KEY, id.clone(), source, now, access_key);
        record.never_expires = true;
        record.last_used = at(access_key, "last_used").as_i64();
        record.fingerprints = vec![key.of(&id)];
        for field in ["user", "status", "last_used_service"] {
            if let Some(value) = access_key[field].as_str() {
                record.details.insert(field.into(), json!(value));
            }
        }
        record.permissions = vec![format!(
            "the policies of IAM user {}",
            text(access_key, "user")
        )];
        records.push(record);
    }
    for role in list("roles") {
        if !at(&role, "managed_by").is_null() {
            managed = managed.saturating_add(1);
            continue;
        }
        let mut record = base(ROLE, text(&role, "name"), source, now, &role);
        record.permissions = texts(&role, "policies");
        record.privileged = texts(&role, "trusted_from_outside")
            .into_iter()
            .map(|who| format!("assumable by {who}"))
            .chain(texts(&role, "wildcards"))
            .collect();
        records.push(record);
    }
    Found { records, managed }
}
