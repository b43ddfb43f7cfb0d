//! A userpass user: the argon2id hash of its password (never the password)
//! and the `token_*` parameters of the tokens its logins get. Stored at
//! `user/<name>` in the mount's view.

use super::hash::StoredHash;
use crate::auth::token_params::TokenParams;
use crate::error::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct User {
    pub(super) name: String,
    pub(super) password_hash: StoredHash,
    #[serde(flatten)]
    pub(super) token: TokenParams,
}

/// A username from the path, in the one spelling it is stored under: lower
/// case letters, digits, `-`, `_`, `.` and `@`, at most 128 characters.
/// Anything else (upper case, control characters, path separators, a name
/// of dots only) is
/// refused, never folded, so the name the ACL checked is the user served.
pub(super) fn username(name: &str) -> Result<String, ApiError> {
    if name.chars().all(|c| c == '.') && !name.is_empty() {
        return Err(ApiError::bad("invalid username: a name of dots only"));
    }
    crate::policy::path::stored_name("username", name, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')
    })
    .map_err(ApiError::BadRequest)
}

impl User {
    /// The user's read-out: the token parameters, never the password hash.
    pub(super) fn to_json(&self) -> Value {
        let mut out = Map::new();
        self.token.write_json(&mut out);
        out.insert("ttl".into(), Value::from(self.token.token_ttl));
        out.insert("max_ttl".into(), Value::from(self.token.token_max_ttl));
        out.insert(
            "bound_cidrs".into(),
            Value::from(self.token.token_bound_cidrs.clone()),
        );
        Value::Object(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_are_refused() {
        assert_eq!(
            username("alice.b@example").ok().as_deref(),
            Some("alice.b@example")
        );
        for name in ["", "Alice", "a/b", "a\u{0}b", "a\nb", "..", "a b", "%2F"] {
            assert!(username(name).is_err(), "{name:?}");
        }
        assert!(username(&"a".repeat(1000)).is_err());
    }
}
