//! Property tests: any string as a JWT, and any claims in a validly signed
//! one, get a value or an error from `verify`, never a panic.

use super::fixtures::{claims, pem_keys, NOW};
use super::{verify, RoleBounds};
use crate::auth::jwt::test_keys::TestKey;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use proptest::prelude::*;
use serde_json::{json, Value};

/// One key for every case: making one per case would dominate the run.
fn key() -> &'static TestKey {
    static KEY: std::sync::OnceLock<TestKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| TestKey::ec("k"))
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,40}",
        any::<Vec<u8>>().prop_map(|b| URL_SAFE_NO_PAD.encode(b)),
        "[{}\":,a-z0-9 ]{0,60}".prop_map(|s| URL_SAFE_NO_PAD.encode(s)),
    ]
}

fn claim_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,20}".prop_map(Value::from),
        Just(Value::Null),
        Just(json!([1, "a", {"b": []}])),
        Just(json!({"nested": {"deep": [[[]]]}})),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_token_text_is_an_error_not_a_panic(
        parts in proptest::collection::vec(segment(), 1..5),
        raw in ".{0,200}",
    ) {
        let keys = pem_keys(key());
        let bounds = RoleBounds::default();
        prop_assert!(verify(&keys, &bounds, &parts.join("."), NOW).is_err());
        let _ = verify(&keys, &bounds, &raw, NOW);
    }

    #[test]
    fn any_claim_values_in_a_signed_token_never_panic(
        exp in claim_value(), nbf in claim_value(), iat in claim_value(),
        aud in claim_value(), sub in claim_value(), iss in claim_value(),
    ) {
        let token = key().sign(&claims(json!({
            "exp": exp, "nbf": nbf, "iat": iat, "aud": aud, "sub": sub, "iss": iss,
        })));
        let bounds = RoleBounds { bound_audiences: vec!["qm".into()], ..RoleBounds::default() };
        let _ = verify(&pem_keys(key()), &bounds, &token, NOW);
    }
}
