//! What a role binds a token to: its issuer and subject (exact strings), its
//! audience (any of the bound ones, or none when none is bound), and its
//! `bound_claims`, compared exactly or as globs ([`ClaimMatch`]).

use super::claim_values::{lookup, scalars};
use super::glob::glob_match;
use super::JwtError;
use serde_json::{Map, Value};

/// How `bound_claims` values are compared (`bound_claims_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClaimMatch {
    /// Exact string equality.
    #[default]
    String,
    /// `*` matches any run of characters, including none.
    Glob,
}

/// An unset or empty bound accepts anything; otherwise the claim must equal it.
pub(super) fn bound_string_matches(
    claims: &Map<String, Value>,
    name: &str,
    bound: Option<&str>,
) -> bool {
    match bound {
        None | Some("") => true,
        Some(want) => claims.get(name).and_then(Value::as_str) == Some(want),
    }
}

/// `aud` (a string or a list of strings) must name one of the bound
/// audiences; with none bound, the token must name none.
pub(super) fn check_audience(
    claims: &Map<String, Value>,
    bound: &[String],
) -> Result<(), JwtError> {
    let audiences: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(JwtError::InvalidAudience)?,
        Some(_) => return Err(JwtError::InvalidAudience),
    };
    match bound {
        [] if audiences.is_empty() => Ok(()),
        [] => Err(JwtError::AudienceNotBound),
        _ if bound.iter().any(|b| audiences.contains(&b.as_str())) => Ok(()),
        _ => Err(JwtError::AudienceMismatch),
    }
}

/// The claim `name` must hold one of the `expected` values (any-of on both
/// sides when either is a list).
pub(super) fn check_bound_claim(
    claims: &Map<String, Value>,
    name: &str,
    expected: &Value,
    how: ClaimMatch,
) -> Result<(), JwtError> {
    let expected =
        scalars(expected).ok_or_else(|| JwtError::InvalidBoundClaim(name.to_string()))?;
    let actual = lookup(claims, name).ok_or_else(|| JwtError::ClaimMissing(name.to_string()))?;
    let actual = scalars(actual).ok_or_else(|| JwtError::ClaimNotComparable(name.to_string()))?;
    let matches = |want: &String, got: &String| match how {
        ClaimMatch::String => want == got,
        ClaimMatch::Glob => glob_match(want, got),
    };
    if expected
        .iter()
        .any(|want| actual.iter().any(|got| matches(want, got)))
    {
        Ok(())
    } else {
        Err(JwtError::ClaimMismatch(name.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{bound_claims, check};
    use super::super::{JwtError, RoleBounds};
    use super::ClaimMatch;
    use crate::auth::jwt::test_keys::TestKey;
    use serde_json::json;

    #[test]
    fn issuer_and_subject_bounds() {
        let key = TestKey::ed("d");
        let b = RoleBounds {
            bound_issuer: Some("https://issuer".into()),
            bound_subject: Some("alice".into()),
            ..RoleBounds::default()
        };
        check(&key, &b, json!({})).unwrap();
        let err = check(&key, &b, json!({"iss": "https://evil"})).unwrap_err();
        assert_eq!(err.to_string(), "invalid issuer (iss) claim");
        let err = check(&key, &b, json!({"sub": "bob"})).unwrap_err();
        assert_eq!(err.to_string(), "sub claim does not match bound subject");
    }

    #[test]
    fn audience_bounds() {
        let key = TestKey::ec("e");
        let b = RoleBounds {
            bound_audiences: vec!["vault".into(), "qm".into()],
            ..RoleBounds::default()
        };
        check(&key, &b, json!({"aud": "qm"})).unwrap();
        check(&key, &b, json!({"aud": ["other", "vault"]})).unwrap();
        assert_eq!(
            check(&key, &b, json!({"aud": "other"})),
            Err(JwtError::AudienceMismatch)
        );
        assert_eq!(check(&key, &b, json!({})), Err(JwtError::AudienceMismatch));
        assert_eq!(
            check(&key, &b, json!({"aud": 7})),
            Err(JwtError::InvalidAudience)
        );
        let unbound = RoleBounds::default();
        let err = check(&key, &unbound, json!({"aud": "qm"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "audience claim found in JWT but no audiences bound to the role"
        );
        check(&key, &unbound, json!({"aud": []})).unwrap();
    }

    #[test]
    fn bound_claims_exact_and_any_of() {
        let key = TestKey::ed("d");
        let b = bound_claims(
            json!({"team": "ops", "groups": ["admins", "sre"]}),
            ClaimMatch::String,
        );
        check(&key, &b, json!({"team": "ops", "groups": "sre"})).unwrap();
        check(
            &key,
            &b,
            json!({"team": "ops", "groups": ["dev", "admins"]}),
        )
        .unwrap();
        let err = check(&key, &b, json!({"team": "ops", "groups": ["dev"]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claim \"groups\" does not match any associated bound claim values"
        );
        assert_eq!(
            check(&key, &b, json!({"team": "op", "groups": "sre"})),
            Err(JwtError::ClaimMismatch("team".into()))
        );
        assert_eq!(
            check(&key, &b, json!({"groups": "sre"})),
            Err(JwtError::ClaimMissing("team".into()))
        );
        let err = check(&key, &b, json!({"team": {"a": 1}, "groups": "sre"}));
        assert_eq!(err, Err(JwtError::ClaimNotComparable("team".into())));
        let scalars = bound_claims(json!({"n": "42", "ok": true, "f": 1.5}), ClaimMatch::String);
        check(&key, &scalars, json!({"n": 42, "ok": "true", "f": 1.5})).unwrap();
        let bad = bound_claims(json!({"x": {"y": 1}}), ClaimMatch::String);
        assert_eq!(
            check(&key, &bad, json!({"x": "y"})),
            Err(JwtError::InvalidBoundClaim("x".into()))
        );
    }

    #[test]
    fn bound_claims_glob() {
        let key = TestKey::ec("e");
        let b = bound_claims(
            json!({"email": "*@example.com", "sub": ["repo:org/*:ref:refs/heads/main"]}),
            ClaimMatch::Glob,
        );
        let sub = "repo:org/svc:ref:refs/heads/main";
        check(&key, &b, json!({"email": "a@example.com", "sub": sub})).unwrap();
        let err = check(&key, &b, json!({"email": "a@example.com.evil", "sub": sub}));
        assert_eq!(err, Err(JwtError::ClaimMismatch("email".into())));
        let err = check(
            &key,
            &b,
            json!({"email": "a@example.com", "sub": "repo:org/svc:ref:refs/heads/dev"}),
        );
        assert_eq!(err, Err(JwtError::ClaimMismatch("sub".into())));
        // Glob is not used for String matching.
        let exact = bound_claims(json!({"email": "*@example.com"}), ClaimMatch::String);
        assert!(check(&key, &exact, json!({"email": "a@example.com"})).is_err());
    }
}
