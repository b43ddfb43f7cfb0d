//! What a credential's lease carries between the core and its plugin.
//!
//! A plugin plans a credential as a [`SecretPlan`]: the secret for the caller
//! (`data`, never stored) and its own typed lease record (`internal`, e.g.
//! the username and revocation statements, never the secret). The record is
//! a type the plugin defines; [`Internal::encode`] turns it into the JSON the
//! ledger stores, and [`LeaseInfo::decode`] turns it back on activate, renew,
//! revoke and rollback. A record that does not decode (a field missing, a
//! value of the wrong type) is an error naming the lease and the field,
//! never a default: a revocation of a malformed record keeps failing, and so
//! stays visible, instead of "succeeding" against an empty username.
//!
//! `Debug` of these types shows keys, never values.

use crate::PluginError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;

/// A plugin's lease record, encoded as the ledger stores it (JSON).
#[derive(Clone, PartialEq)]
pub struct Internal(Value);

impl Internal {
    /// Encodes a plugin's lease record.
    pub fn encode<T: Serialize>(record: &T) -> Result<Self, PluginError> {
        serde_json::to_value(record)
            .map(Self)
            .map_err(|e| PluginError::Storage(format!("encoding a lease record: {e}")))
    }

    /// Decodes the record of lease `lease_id`; a missing field or a value of
    /// the wrong type is an error that names the field, never the value.
    pub fn decode<T: DeserializeOwned>(&self, lease_id: &str) -> Result<T, PluginError> {
        T::deserialize(&self.0).map_err(|e| {
            PluginError::Storage(format!("lease record for {lease_id} {}", describe(&e)))
        })
    }

    /// The record as read from the ledger (for the core).
    pub fn from_stored(value: Value) -> Self {
        Self(value)
    }

    /// The record as the ledger stores it (for the core).
    pub fn to_stored(&self) -> Value {
        self.0.clone()
    }
}

/// What is wrong with a record, in words that carry no stored value (serde's
/// "invalid type: string \"...\"" would quote one).
fn describe(error: &serde_json::Error) -> String {
    let text = error.to_string();
    if text.starts_with("missing field") {
        return format!("is {text}");
    }
    if text.starts_with("duplicate field") {
        return format!("has a {text}");
    }
    match text.split_once(", expected ") {
        Some((_, expected)) => {
            format!("has a value of the wrong type or shape (expected {expected})")
        }
        None => "is malformed".into(),
    }
}

/// Keys of a JSON object (or the kind of a non-object), for `Debug`.
pub(crate) struct KeysOnly<'a>(pub(crate) &'a Value);

impl fmt::Debug for KeysOnly<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Value::Object(map) => MapKeys(map).fmt(f),
            Value::Null => f.write_str("null"),
            Value::Array(items) => write!(f, "[{} items]", items.len()),
            _ => f.write_str("<value>"),
        }
    }
}

/// Keys of a map, for `Debug` of secret-bearing maps.
pub(crate) struct MapKeys<'a>(pub(crate) &'a Map<String, Value>);

impl fmt::Debug for MapKeys<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl fmt::Debug for Internal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Internal").field(&KeysOnly(&self.0)).finish()
    }
}

/// A credential to be issued: what the core needs to lease it.
pub struct SecretPlan {
    /// The role the credential is issued for; part of the lease id.
    pub role: String,
    /// Returned to the caller (e.g. username and password). Never stored.
    pub data: Map<String, Value>,
    /// Kept with the lease for activate/renew/revoke/rollback (e.g. the
    /// username). Must not hold the secret.
    pub internal: Internal,
    pub ttl: i64,
    pub max_ttl: i64,
    pub renewable: bool,
    /// Shown to the caller alongside the credential.
    pub warnings: Vec<String>,
    /// Refuse the issue (429) when the role already has this many leases.
    pub max_active_leases: Option<u64>,
}

impl fmt::Debug for SecretPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretPlan")
            .field("role", &self.role)
            .field("data", &MapKeys(&self.data))
            .field("internal", &self.internal)
            .field("ttl", &self.ttl)
            .field("max_ttl", &self.max_ttl)
            .field("renewable", &self.renewable)
            .field("warnings", &self.warnings)
            .field("max_active_leases", &self.max_active_leases)
            .finish()
    }
}

/// A lease as the plugin sees it on activate, renew, revoke and rollback.
#[derive(Debug, Clone)]
pub struct LeaseInfo {
    pub lease_id: String,
    pub role: String,
    /// The plan's `internal`, as stored; read it with [`LeaseInfo::decode`].
    pub internal: Internal,
    pub issued_at: i64,
    /// When the lease ends after this renewal (for renew), or ended.
    pub expire_at: i64,
}

impl LeaseInfo {
    /// The plugin's lease record, or an error naming this lease and what is
    /// wrong with its record.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, PluginError> {
        self.internal.decode(&self.lease_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Record {
        username: String,
        attempts: u32,
    }

    fn lease(internal: Value) -> LeaseInfo {
        LeaseInfo {
            lease_id: "database/creds/app/abc".into(),
            role: "app".into(),
            internal: Internal::from_stored(internal),
            issued_at: 0,
            expire_at: 10,
        }
    }

    #[test]
    fn records_round_trip_through_the_stored_json() {
        let record = Record {
            username: "v-app".into(),
            attempts: 2,
        };
        let stored = Internal::encode(&record).unwrap().to_stored();
        assert_eq!(stored, json!({"username": "v-app", "attempts": 2}));
        assert_eq!(lease(stored).decode::<Record>().unwrap(), record);
    }

    #[test]
    fn malformed_records_are_errors_that_name_the_field_not_the_value() {
        let missing = lease(json!({"attempts": 1}))
            .decode::<Record>()
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("lease record for database/creds/app/abc is missing field `username`"),
            "{missing}"
        );
        let wrong = lease(json!({"username": "v-app", "attempts": "hunter2-secret"}))
            .decode::<Record>()
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("wrong type"), "{wrong}");
        assert!(!wrong.contains("hunter2"), "{wrong}");
        assert!(lease(Value::Null).decode::<Record>().is_err());
    }

    #[test]
    fn debug_shows_keys_only() {
        let mut data = Map::new();
        data.insert("password".into(), json!("hunter2-secret"));
        let plan = SecretPlan {
            role: "app".into(),
            data,
            internal: Internal::encode(&json!({"username": "v-app"})).unwrap(),
            ttl: 1,
            max_ttl: 1,
            renewable: true,
            warnings: Vec::new(),
            max_active_leases: None,
        };
        let shown = format!("{plan:?}");
        assert!(
            shown.contains("password") && shown.contains("username"),
            "{shown}"
        );
        assert!(
            !shown.contains("hunter2") && !shown.contains("v-app"),
            "{shown}"
        );
    }
}
