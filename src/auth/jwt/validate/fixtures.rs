//! Test-only helpers for the validation tests: a fixed clock, baseline
//! claims valid at it, and tokens signed with throwaway keys.

use super::{verify, ClaimMatch, JwtError, KeySet, RoleBounds, Verified};
use crate::auth::jwt::test_keys::TestKey;
use serde_json::{json, Value};

pub(super) const NOW: i64 = 1_700_000_000;

/// Baseline claims valid at NOW, with `extra` merged over them.
pub(super) fn claims(extra: Value) -> Value {
    let mut base = json!({"sub": "alice", "iss": "https://issuer", "iat": NOW, "exp": NOW + 300});
    for (k, v) in extra.as_object().unwrap() {
        base[k] = v.clone();
    }
    base
}

pub(super) fn pem_keys(key: &TestKey) -> KeySet {
    KeySet::from_pems(std::slice::from_ref(&key.public_pem)).unwrap()
}

pub(super) fn check(
    key: &TestKey,
    bounds: &RoleBounds,
    extra: Value,
) -> Result<Verified, JwtError> {
    verify(&pem_keys(key), bounds, &key.sign(&claims(extra)), NOW)
}

pub(super) fn bound_claims(value: Value, how: ClaimMatch) -> RoleBounds {
    RoleBounds {
        bound_claims: value.as_object().unwrap().clone(),
        bound_claims_type: how,
        ..RoleBounds::default()
    }
}
