//! The time claims (`exp`, `nbf`, `iat`) under Vault's rules: missing ones
//! are implied from the others, and each comparison with the clock allows
//! the role's leeways (0 means Vault's default, negative means none).

use super::{JwtError, RoleBounds};
use serde_json::{Map, Value};

/// Vault's default `clock_skew_leeway`, in seconds.
const DEFAULT_CLOCK_SKEW_LEEWAY: i64 = 60;
/// Vault's default `expiration_leeway` and `not_before_leeway`, in seconds.
const DEFAULT_LEEWAY: i64 = 150;

/// Vault's leeway convention: negative disables, zero means the default.
fn leeway(configured: i64, default: i64) -> i64 {
    match configured {
        0 => default,
        n => n.max(0),
    }
}

/// A numeric date claim; absent, null and 0 all count as unset, as in Vault.
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|t| Some(t as i64).filter(|t| *t != 0))
            .ok_or(JwtError::InvalidTimeClaim(name)),
    }
}

/// Vault's rules: at least one of `iat`, `nbf`, `exp`; a missing `exp` is
/// implied from the latest start plus `expiration_leeway`, a missing `nbf`
/// from `iat` or else `exp` minus `not_before_leeway`; then all three are
/// compared to `now` with the clock-skew leeway.
pub(super) fn check_times(
    claims: &Map<String, Value>,
    bounds: &RoleBounds,
    now: i64,
) -> Result<(), JwtError> {
    let iat = time_claim(claims, "iat")?;
    let nbf = time_claim(claims, "nbf")?;
    let exp = time_claim(claims, "exp")?;
    let exp = match (exp, iat.max(nbf)) {
        (Some(exp), _) => exp,
        (None, Some(start)) => {
            start.saturating_add(leeway(bounds.expiration_leeway, DEFAULT_LEEWAY))
        }
        (None, None) => return Err(JwtError::NoTimeClaims),
    };
    let nbf = nbf
        .or(iat)
        .unwrap_or_else(|| exp.saturating_sub(leeway(bounds.not_before_leeway, DEFAULT_LEEWAY)));
    let skew = leeway(bounds.clock_skew_leeway, DEFAULT_CLOCK_SKEW_LEEWAY);
    if now.saturating_add(skew) < nbf {
        return Err(JwtError::NotYetValid);
    }
    if now.saturating_sub(skew) > exp {
        return Err(JwtError::Expired);
    }
    if iat.is_some_and(|iat| now.saturating_add(skew) < iat) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{check, claims, pem_keys, NOW};
    use super::super::{verify, JwtError, RoleBounds};
    use crate::auth::jwt::test_keys::TestKey;
    use serde_json::{json, Value};

    #[test]
    fn expiry_uses_the_clock_skew_leeway() {
        let key = TestKey::ec("e");
        let b = RoleBounds::default();
        assert_eq!(
            check(&key, &b, json!({"iat": NOW - 600, "exp": NOW - 61})),
            Err(JwtError::Expired)
        );
        check(&key, &b, json!({"iat": NOW - 600, "exp": NOW - 60})).unwrap();
        let strict = RoleBounds {
            clock_skew_leeway: -1,
            ..RoleBounds::default()
        };
        assert_eq!(
            check(&key, &strict, json!({"exp": NOW - 1})),
            Err(JwtError::Expired)
        );
        let wide = RoleBounds {
            clock_skew_leeway: 3600,
            ..RoleBounds::default()
        };
        check(&key, &wide, json!({"exp": NOW - 3000})).unwrap();
    }

    #[test]
    fn not_before_in_the_future_is_refused() {
        let key = TestKey::ec("e");
        let b = RoleBounds::default();
        assert_eq!(
            check(&key, &b, json!({"nbf": NOW + 61})),
            Err(JwtError::NotYetValid)
        );
        check(&key, &b, json!({"nbf": NOW + 60})).unwrap();
    }

    #[test]
    fn issued_in_the_future_beyond_leeway_is_refused() {
        let key = TestKey::ec("e");
        let b = RoleBounds::default();
        let err = check(&key, &b, json!({"nbf": NOW, "iat": NOW + 61}));
        assert_eq!(err.unwrap_err().to_string(), "token issued in the future");
        check(&key, &b, json!({"nbf": NOW, "iat": NOW + 60})).unwrap();
        // Without nbf, Vault takes nbf from iat, so the nbf check fires first.
        assert_eq!(
            check(&key, &b, json!({"iat": NOW + 61})),
            Err(JwtError::NotYetValid)
        );
    }

    #[test]
    fn missing_time_claims_follow_vault() {
        let key = TestKey::ed("d");
        let token = key.sign(&json!({"sub": "alice"}));
        let err = verify(&pem_keys(&key), &RoleBounds::default(), &token, NOW).unwrap_err();
        assert_eq!(err, JwtError::NoTimeClaims);
        let none = |extra: Value| {
            let mut c = claims(extra);
            c.as_object_mut().unwrap().remove("exp");
            verify(&pem_keys(&key), &RoleBounds::default(), &key.sign(&c), NOW)
        };
        // No exp: implied as iat + 150, then the 60s skew applies.
        none(json!({"iat": NOW - 210})).unwrap();
        assert_eq!(none(json!({"iat": NOW - 211})), Err(JwtError::Expired));
        // Only exp: nbf implied as exp - 150.
        let only_exp = |exp: i64| {
            let token = key.sign(&json!({"sub": "alice", "exp": exp}));
            verify(&pem_keys(&key), &RoleBounds::default(), &token, NOW)
        };
        only_exp(NOW + 210).unwrap();
        assert_eq!(only_exp(NOW + 211), Err(JwtError::NotYetValid));
        assert_eq!(
            check(&key, &RoleBounds::default(), json!({"exp": "soon"})),
            Err(JwtError::InvalidTimeClaim("exp"))
        );
    }
}
