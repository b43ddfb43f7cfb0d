//! What a verified token says about who logged in: the user name (from
//! `user_claim`, "sub" by default) and the alias metadata (from
//! `claim_mappings`).

use super::claim_values::{lookup, number_string, scalar_string};
use super::JwtError;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The alias name: the `user_claim` value, a string or a number.
pub(super) fn user_name(claims: &Map<String, Value>, user_claim: &str) -> Result<String, JwtError> {
    let user_claim = if user_claim.is_empty() {
        "sub"
    } else {
        user_claim
    };
    match lookup(claims, user_claim) {
        None => Err(JwtError::UserClaimMissing(user_claim.to_string())),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(number_string(n)),
        Some(_) => Err(JwtError::UserClaimNotString(user_claim.to_string())),
    }
}

/// Each mapped claim that is present, as a string, under its metadata key.
pub(super) fn metadata(
    claims: &Map<String, Value>,
    mappings: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, JwtError> {
    let mut metadata = BTreeMap::new();
    for (claim, key) in mappings {
        if let Some(value) = lookup(claims, claim) {
            let value =
                scalar_string(value).ok_or_else(|| JwtError::MetadataNotString(claim.clone()))?;
            metadata.insert(key.clone(), value);
        }
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::check;
    use super::super::RoleBounds;
    use crate::auth::jwt::test_keys::TestKey;
    use serde_json::json;

    #[test]
    fn claim_mappings_fill_metadata() {
        let key = TestKey::rsa("r");
        let mappings = [
            ("email", "email"),
            ("count", "n"),
            ("admin", "admin"),
            ("absent", "x"),
            ("nil", "y"),
        ];
        let b = RoleBounds {
            claim_mappings: mappings
                .iter()
                .map(|(c, m)| (c.to_string(), m.to_string()))
                .collect(),
            ..RoleBounds::default()
        };
        let verified = check(
            &key,
            &b,
            json!({"email": "a@x", "count": 3, "admin": false, "nil": null}),
        )
        .unwrap();
        let want = [("email", "a@x"), ("n", "3"), ("admin", "false")];
        assert_eq!(
            verified.metadata,
            want.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        );
        assert_eq!(verified.claims["count"], json!(3));
        let err = check(&key, &b, json!({"email": ["a", "b"]})).unwrap_err();
        assert_eq!(err.to_string(), "error converting claim 'email' to string");
    }

    #[test]
    fn user_claim() {
        let key = TestKey::ed("d");
        let b = RoleBounds {
            user_claim: "email".into(),
            ..RoleBounds::default()
        };
        assert_eq!(
            check(&key, &b, json!({"email": "a@x"})).unwrap().user,
            "a@x"
        );
        assert_eq!(check(&key, &b, json!({"email": 12})).unwrap().user, "12");
        let err = check(&key, &b, json!({})).unwrap_err();
        assert_eq!(err.to_string(), "claim \"email\" not found in token");
        let err = check(&key, &b, json!({"email": ["a"]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claim \"email\" could not be converted to string"
        );
        let nested = RoleBounds {
            user_claim: "/user/name".into(),
            ..RoleBounds::default()
        };
        assert_eq!(
            check(&key, &nested, json!({"user": {"name": "n"}}))
                .unwrap()
                .user,
            "n"
        );
    }
}
