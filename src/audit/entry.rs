//! Audit entries in Vault's shape (`type`, `time`, `auth`, `request`,
//! `response`, `error`). Entries are built with raw values and hashed per
//! device before anything is written: every token, accessor and string in
//! request or response data becomes `hmac-sha256:<hex>` under the device's
//! key, so the log can be searched (`sys/audit-hash`) but not read for
//! secrets.

use crate::auth::token::store::TokenEntry;
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::logical::{Request, Response};
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

/// What a request entry says about the request, filled in as the pipeline
/// learns it.
#[derive(Default)]
pub struct Subject {
    pub caller: Option<TokenEntry>,
    pub mount_type: String,
    pub mount_accessor: String,
}

pub fn hmac(key: &[u8], value: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(value.as_bytes());
    format!("hmac-sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

fn hash_strings(key: &[u8], value: &mut Value) {
    match value {
        Value::String(text) => *text = hmac(key, text),
        Value::Array(items) => items.iter_mut().for_each(|v| hash_strings(key, v)),
        Value::Object(map) => map.values_mut().for_each(|v| hash_strings(key, v)),
        _ => {}
    }
}

fn hash_fields(key: &[u8], object: Option<&mut Value>, fields: &[&str]) {
    let Some(Value::Object(object)) = object else {
        return;
    };
    for field in fields {
        if let Some(value @ Value::String(_)) = object.get_mut(*field) {
            hash_strings(key, value);
        }
    }
}

/// A copy of `entry` with every sensitive value replaced by its HMAC
/// (accessors too unless the device's `hmac_accessor` is off), and a LIST
/// answer's keys as their count with `elide_list_responses`.
pub fn hashed(
    key: &[u8],
    entry: &Map<String, Value>,
    options: &super::options::DeviceOptions,
) -> Map<String, Value> {
    let mut entry = entry.clone();
    let accessor = |fields: &'static [&'static str]| -> &'static [&'static str] {
        if options.hmac_accessor {
            fields
        } else {
            fields.first().map_or(&[], std::slice::from_ref)
        }
    };
    if options.elide_list_responses {
        elide_list(&mut entry);
    }
    hash_fields(
        key,
        entry.get_mut("auth"),
        accessor(&["client_token", "accessor"]),
    );
    if let Some(request) = entry.get_mut("request") {
        hash_fields(
            key,
            Some(request),
            accessor(&["client_token", "client_token_accessor"]),
        );
        if let Some(data) = request.get_mut("data") {
            hash_strings(key, data);
        }
    }
    if let Some(response) = entry.get_mut("response") {
        if let Some(data) = response.get_mut("data") {
            hash_strings(key, data);
        }
        hash_fields(
            key,
            response.get_mut("auth"),
            accessor(&["client_token", "accessor"]),
        );
        let wrap_fields: &[&str] = if options.hmac_accessor {
            &["token", "accessor", "wrapped_accessor"]
        } else {
            &["token"]
        };
        hash_fields(key, response.get_mut("wrap_info"), wrap_fields);
    }
    entry
}

/// A LIST answer's `keys` as their count (Vault's `elide_list_responses`).
fn elide_list(entry: &mut Map<String, Value>) {
    let listing = entry
        .get("request")
        .and_then(|r| r.get("operation"))
        .and_then(Value::as_str)
        == Some("list");
    if !listing {
        return;
    }
    if let Some(keys) = entry
        .get_mut("response")
        .and_then(|r| r.get_mut("data"))
        .and_then(|d| d.get_mut("keys"))
    {
        if let Some(count) = keys.as_array().map(Vec::len) {
            *keys = json!(count);
        }
    }
}

fn auth_json(caller: Option<&TokenEntry>, token: Option<&str>, now: i64) -> Value {
    match caller {
        None => json!({ "client_token": token.unwrap_or_default() }),
        Some(entry) => json!({
            "client_token": token.unwrap_or_default(),
            "accessor": entry.accessor,
            "display_name": entry.display_name,
            "policies": entry.policies,
            "token_policies": entry.policies,
            "metadata": entry.meta,
            "entity_id": "",
            "token_type": "service",
            "token_ttl": entry.ttl_remaining(now),
            "token_issue_time": rfc3339(entry.creation_time),
        }),
    }
}

fn request_json(req: &Request, subject: &Subject) -> Value {
    let token = req.token.as_ref().map(|t| t.as_str()).unwrap_or_default();
    json!({
        "id": req.id,
        "operation": format!("{:?}", req.operation).to_lowercase(),
        "mount_type": subject.mount_type,
        "mount_accessor": subject.mount_accessor,
        "client_token": token,
        "client_token_accessor": subject.caller.as_ref().map(|c| c.accessor.clone()).unwrap_or_default(),
        "namespace": { "id": "root" },
        "path": req.path,
        "data": if req.data.is_empty() { Value::Null } else { Value::Object(req.data.clone()) },
        "remote_address": req.remote_addr.map(|a| a.to_string()).unwrap_or_default(),
        "wrap_ttl": req.wrap_ttl.unwrap_or(0),
    })
}

fn envelope(kind: &str, req: &Request, subject: &Subject, now: i64) -> Map<String, Value> {
    let token = req.token.as_ref().map(|t| t.as_str());
    let mut entry = Map::new();
    entry.insert("type".into(), kind.into());
    entry.insert(
        "time".into(),
        humantime::format_rfc3339_nanos(std::time::SystemTime::now())
            .to_string()
            .into(),
    );
    entry.insert(
        "auth".into(),
        auth_json(subject.caller.as_ref(), token, now),
    );
    entry.insert("request".into(), request_json(req, subject));
    entry
}

pub fn request_entry(
    req: &Request,
    subject: &Subject,
    now: i64,
    error: Option<&ApiError>,
) -> Map<String, Value> {
    let mut entry = envelope("request", req, subject, now);
    if let Some(error) = error {
        entry.insert("error".into(), error.to_string().into());
    }
    entry
}

pub fn response_entry(
    req: &Request,
    subject: &Subject,
    now: i64,
    outcome: &Result<Response, ApiError>,
) -> Map<String, Value> {
    let mut entry = envelope("response", req, subject, now);
    let mut response = Map::new();
    response.insert("mount_type".into(), json!(subject.mount_type));
    response.insert("mount_accessor".into(), json!(subject.mount_accessor));
    match outcome {
        Ok(answer) => {
            let data = match (&answer.data, &answer.raw) {
                (Some(data), _) => Value::Object(data.clone()),
                (None, Some(raw)) => raw.clone(),
                (None, None) => Value::Null,
            };
            response.insert("data".into(), data);
            if let Some(lease) = &answer.lease {
                response.insert("secret".into(), json!({ "lease_id": lease.lease_id }));
            }
            if let Some(auth) = &answer.auth {
                response.insert(
                    "auth".into(),
                    json!({
                        "client_token": auth.client_token,
                        "accessor": auth.accessor,
                        "policies": auth.policies,
                        "token_policies": auth.token_policies,
                        "metadata": auth.metadata,
                        "token_ttl": auth.lease_duration,
                    }),
                );
            }
            if let Some(wrap) = &answer.wrap_info {
                response.insert(
                    "wrap_info".into(),
                    json!({
                        "token": wrap.token,
                        "accessor": wrap.accessor,
                        "ttl": wrap.ttl,
                        "creation_time": wrap.creation_time,
                        "creation_path": wrap.creation_path,
                        "wrapped_accessor": wrap.wrapped_accessor,
                    }),
                );
            }
            if !answer.warnings.is_empty() {
                response.insert("warnings".into(), json!(answer.warnings));
            }
        }
        Err(error) => {
            entry.insert("error".into(), error.to_string().into());
        }
    }
    entry.insert("response".into(), Value::Object(response));
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hashed_and_structure_kept() {
        let mut req = Request::new(crate::logical::Operation::Update, "secret/data/x");
        req.token = Some(zeroize::Zeroizing::new("hvs.callertoken".into()));
        req.data = json!({"data": {"password": "s3cret", "n": 4}})
            .as_object()
            .cloned()
            .unwrap();
        let entry = request_entry(&req, &Subject::default(), 0, None);
        let defaults = crate::audit::options::parse(&Default::default()).unwrap();
        let hashed = hashed(b"key", &entry, &defaults);
        let text = serde_json::to_string(&hashed).unwrap();
        assert!(!text.contains("s3cret") && !text.contains("hvs.callertoken"));
        assert_eq!(
            hashed["request"]["data"]["data"]["password"],
            hmac(b"key", "s3cret")
        );
        assert_eq!(hashed["request"]["data"]["data"]["n"], 4);
        assert_eq!(hashed["request"]["path"], "secret/data/x");
    }
}
