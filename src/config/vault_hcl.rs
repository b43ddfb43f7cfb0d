//! A Vault-style HCL server configuration (`qm server --config
//! server.hcl`), translated into the structure of the TOML form, so one
//! set of rules (`Config`'s serde types and `validate`) checks both and a
//! Vault user can start from the config they have:
//!
//! ```hcl
//! api_addr = "https://10.0.0.5:8200"
//! listener "tcp" {
//!   address       = "0.0.0.0:8200"
//!   tls_cert_file = "/etc/qm/tls/cert.pem"
//!   tls_key_file  = "/etc/qm/tls/key.pem"
//! }
//! storage "postgresql" {
//!   connection_url = "postgres://qm@db:5432/qm?sslmode=verify-full"
//!   ha_enabled     = "true"
//! }
//! seal "awskms" {
//!   kms_key_id = "alias/quartermaster"
//! }
//! ```
//!
//! `storage "file"` and `storage "raft"` become the embedded sled store at
//! their `path` (one node; Vault's raft cluster settings do not apply).
//! Settings Vault has and this server does not use (`telemetry`,
//! `disable_mlock`, ...) are accepted and named in a warning at start; a
//! key neither knows is an error that names it.

use serde_json::{json, Map, Value};

/// Vault's top-level settings that have no effect here.
const IGNORED_TOP: &[&str] = &[
    "telemetry",
    "disable_mlock",
    "cluster_addr",
    "plugin_directory",
    "disable_cache",
    "pid_file",
    "log_file",
    "log_requests_level",
    "raw_storage_endpoint",
    "disable_clustering",
    "disable_performance_standby",
    "introspection_endpoint",
    "enable_response_header_hostname",
    "enable_response_header_raft_node_id",
];

/// Vault's tcp listener settings that have no effect here.
const IGNORED_LISTENER: &[&str] = &[
    "cluster_address",
    "proxy_protocol_behavior",
    "proxy_protocol_authorized_addrs",
    "x_forwarded_for_authorized_addrs",
    "x_forwarded_for_hop_skips",
    "x_forwarded_for_reject_not_authorized",
    "x_forwarded_for_reject_not_present",
    "profiling",
    "http_read_header_timeout",
    "http_read_timeout",
    "http_write_timeout",
    "http_idle_timeout",
    "tls_max_version",
    "tls_prefer_server_cipher_suites",
    "tls_cipher_suites",
];

const STORAGE_IGNORED: &[&str] = &[
    "node_id",
    "retry_join",
    "performance_multiplier",
    "table",
    "ha_table",
    "max_parallel",
    "max_idle_connections",
];

/// The config as the TOML form's structure, and the Vault settings that
/// were accepted but have no effect (for a warning).
pub(super) fn translate(text: &str) -> Result<(Value, Vec<String>), String> {
    let parsed: hcl::Value = hcl::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(top) = serde_json::to_value(parsed).map_err(|e| e.to_string())? else {
        return Err("the file is not a set of settings".into());
    };
    let mut out = Map::new();
    let mut ignored = Vec::new();
    for (key, value) in top {
        match key.as_str() {
            "listener" => {
                out.insert("listener".into(), listener(value, &mut ignored)?);
            }
            "storage" | "backend" => {
                out.insert("storage".into(), storage(value, &mut ignored)?);
            }
            "ha_storage" => {
                return Err(
                    "ha_storage: not supported; postgresql storage is highly available by itself"
                        .into(),
                )
            }
            "seal" => {
                let (current, previous) = seals(value)?;
                if let Some(current) = current {
                    out.insert("seal".into(), current);
                }
                if let Some(previous) = previous {
                    out.insert("previous_seal".into(), previous);
                }
            }
            "ui" | "api_addr" | "cluster_name" | "log_level" | "log_format"
            | "default_lease_ttl" | "max_lease_ttl" => {
                out.insert(key, value);
            }
            other if IGNORED_TOP.contains(&other) => ignored.push(other.to_string()),
            other => return Err(format!("{other}: not a server setting (Vault's or ours)")),
        }
    }
    Ok((Value::Object(out), ignored))
}

/// Vault writes booleans as `true`, `"true"` or `1`.
fn truthy(value: &Value, key: &str) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::String(s) if matches!(s.as_str(), "true" | "1") => Ok(true),
        Value::String(s) if matches!(s.as_str(), "false" | "0") => Ok(false),
        _ => Err(format!("{key}: must be true or false")),
    }
}

/// The one block under a labelled block (`listener "tcp" { ... }`).
fn labelled(value: Value, block: &str) -> Result<(String, Map<String, Value>), String> {
    let Value::Object(labels) = value else {
        return Err(format!(
            "{block}: must be a block with a type label, as {block} \"tcp\" {{ ... }}"
        ));
    };
    let mut labels = labels.into_iter();
    let (Some((label, body)), None) = (labels.next(), labels.next()) else {
        return Err(format!("{block}: exactly one {block} block is supported"));
    };
    match body {
        Value::Object(body) => Ok((label, body)),
        Value::Array(_) => Err(format!("{block} \"{label}\": exactly one is supported")),
        _ => Err(format!("{block} \"{label}\": must be a block")),
    }
}

fn listener(value: Value, ignored: &mut Vec<String>) -> Result<Value, String> {
    let (kind, body) = labelled(value, "listener")?;
    if kind != "tcp" {
        return Err(format!(
            "listener \"{kind}\": only tcp listeners are supported"
        ));
    }
    let mut out = Map::new();
    let mut tls_disable = false;
    for (key, value) in body {
        match key.as_str() {
            "tls_disable" => tls_disable = truthy(&value, "listener.tls_disable")?,
            "tls_require_and_verify_client_cert" | "tls_disable_client_certs" => {
                let flag = truthy(&value, &format!("listener.{key}"))?;
                out.insert(key, json!(flag));
            }
            "max_request_size" => {
                out.insert("max_request_bytes".into(), value);
            }
            "telemetry" => {
                out.insert("telemetry".into(), listener_telemetry(value, ignored)?);
            }
            "address" | "tls_cert_file" | "tls_key_file" | "tls_min_version"
            | "tls_client_ca_file" => {
                out.insert(key, value);
            }
            other if IGNORED_LISTENER.contains(&other) => ignored.push(format!("listener.{other}")),
            other => return Err(format!("listener \"tcp\".{other}: not a listener setting")),
        }
    }
    if tls_disable {
        for key in ["tls_cert_file", "tls_key_file", "tls_client_ca_file"] {
            out.remove(key);
        }
    } else if !out.contains_key("tls_cert_file") {
        return Err(
            "listener \"tcp\": tls_cert_file and tls_key_file are needed unless tls_disable = true (as in Vault)"
                .into(),
        );
    }
    Ok(Value::Object(out))
}

/// The listener's `telemetry { ... }` block.
fn listener_telemetry(value: Value, ignored: &mut Vec<String>) -> Result<Value, String> {
    let Value::Object(body) = value else {
        return Err("listener.telemetry: must be one block".into());
    };
    let mut out = Map::new();
    for (key, value) in body {
        match key.as_str() {
            "unauthenticated_metrics_access" => {
                let flag = truthy(&value, "listener.telemetry.unauthenticated_metrics_access")?;
                out.insert(key, json!(flag));
            }
            "unauthenticated_pprof_access" | "unauthenticated_in_flight_request_access" => {
                ignored.push(format!("listener.telemetry.{key}"));
            }
            other => {
                return Err(format!(
                    "listener.telemetry.{other}: not a telemetry setting"
                ))
            }
        }
    }
    Ok(Value::Object(out))
}

fn storage(value: Value, ignored: &mut Vec<String>) -> Result<Value, String> {
    let (kind, body) = labelled(value, "storage")?;
    let mut out = Map::new();
    let embedded = match kind.as_str() {
        "file" | "raft" => true,
        "postgresql" => false,
        other => {
            return Err(format!(
            "storage \"{other}\": use \"file\" or \"raft\" (the embedded store) or \"postgresql\""
        ))
        }
    };
    out.insert(
        "type".into(),
        json!(if embedded { "sled" } else { "postgresql" }),
    );
    for (key, value) in body {
        match (key.as_str(), embedded) {
            ("path", true) | ("connection_url", false) | ("ha_lock_ttl", false) => {
                out.insert(key, value);
            }
            ("ha_enabled", false) => {
                out.insert(key, json!(truthy(&value, "storage.ha_enabled")?));
            }
            (other, _) if STORAGE_IGNORED.contains(&other) => {
                ignored.push(format!("storage.{other}"))
            }
            (other, _) => {
                return Err(format!(
                    "storage \"{kind}\".{other}: not a setting of this store"
                ))
            }
        }
    }
    Ok(Value::Object(out))
}

/// `seal "TYPE" { ... }` blocks: the enabled one, and one `disabled =
/// "true"` (the seal migrated away from).
fn seals(value: Value) -> Result<(Option<Value>, Option<Value>), String> {
    let Value::Object(blocks) = value else {
        return Err("seal: must be a block with a type label".into());
    };
    let (mut current, mut previous) = (None, None);
    for (kind, body) in blocks {
        let Value::Object(body) = body else {
            return Err(format!("seal \"{kind}\": exactly one block of a type"));
        };
        let mut out = Map::new();
        out.insert("type".into(), json!(kind));
        let mut disabled = false;
        for (key, value) in body {
            match key.as_str() {
                "disabled" => disabled = truthy(&value, &format!("seal \"{kind}\".disabled"))?,
                "kms_key_id" | "region" | "endpoint" | "current_key_id" | "current_key" => {
                    out.insert(key, value);
                }
                "access_key" | "secret_key" | "session_token" => {
                    return Err(format!(
                        "seal \"{kind}\".{key}: credentials stay out of the config file; use the AWS environment or instance role"
                    ))
                }
                other => return Err(format!("seal \"{kind}\".{other}: not a setting of this seal")),
            }
        }
        let slot = if disabled {
            &mut previous
        } else {
            &mut current
        };
        if slot.replace(Value::Object(out)).is_some() {
            return Err("seal: at most one enabled and one disabled seal".into());
        }
    }
    Ok((current, previous))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vault_config_becomes_the_toml_shape() {
        let (config, ignored) = translate(
            r#"
            ui = true
            api_addr = "http://127.0.0.1:8200"
            disable_mlock = true
            listener "tcp" {
              address = "127.0.0.1:8200"
              tls_disable = "true"
              max_request_size = 1024
              telemetry {
                unauthenticated_metrics_access = true
              }
            }
            storage "raft" {
              path = "/var/lib/qm"
              node_id = "n1"
            }
            seal "static" {
              current_key_id = "k"
              current_key = "env://K"
            }
            seal "awskms" {
              kms_key_id = "alias/x"
              disabled = "true"
            }
            "#,
        )
        .unwrap();
        assert_eq!(config["listener"]["address"], "127.0.0.1:8200");
        assert_eq!(config["listener"]["max_request_bytes"], 1024);
        assert_eq!(
            config["listener"]["telemetry"],
            json!({"unauthenticated_metrics_access": true})
        );
        assert_eq!(
            config["storage"],
            json!({"type": "sled", "path": "/var/lib/qm"})
        );
        assert_eq!(config["seal"]["type"], "static");
        assert_eq!(config["previous_seal"]["type"], "awskms");
        assert_eq!(config["ui"], true);
        assert_eq!(ignored, vec!["disable_mlock", "storage.node_id"]);
    }

    #[test]
    fn what_does_not_fit_is_an_error_that_names_it() {
        for (text, needle) in [
            ("listener \"tcp\" { address = \"x\" }", "tls_cert_file"),
            ("listener \"unix\" { address = \"x\" }", "only tcp"),
            ("storage \"consul\" { path = \"x\" }", "consul"),
            ("storage \"file\" { connection_url = \"x\" }", "connection_url"),
            ("seal \"awskms\" { secret_key = \"s\" }", "credentials"),
            ("bogus = 1", "bogus"),
            ("ha_storage \"postgresql\" {}", "ha_storage"),
            ("listener \"tcp\" { tls_disable = \"maybe\" }", "tls_disable"),
            ("listener \"tcp\" {\n tls_disable = true \n}\nlistener \"tcp\" {\n tls_disable = true\n }", "one"),
            ("not hcl {{{", ""),
            (
                "listener \"tcp\" {\n tls_disable = true\n telemetry {\n metrics_path = 1\n }\n}",
                "metrics_path",
            ),
            (
                "listener \"tcp\" {\n tls_disable = true\n telemetry {\n unauthenticated_metrics_access = \"yes\"\n }\n}",
                "unauthenticated_metrics_access",
            ),
        ] {
            let err = translate(text).err().unwrap_or_default();
            assert!(!err.is_empty() && err.contains(needle), "{text}: {err}");
        }
    }
}
