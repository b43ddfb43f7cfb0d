//! Property tests: the parsers of caller input (policy text, durations,
//! counts) answer arbitrary input with a value or an
//! error, never a panic. The path canonicaliser's and JWT validation's own
//! properties live beside them (`policy::path`, `auth::jwt::validate`), sealed records' in
//! `barrier::aead`.

use crate::policy::Policy;
use proptest::prelude::*;
use serde_json::{json, Value};

/// Text made of the pieces policy syntax is built from, so cases reach
/// deep into the reader instead of failing at the first character.
fn policy_soup() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("path".to_string()),
        Just("\"a/*\"".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("=".to_string()),
        Just(",".to_string()),
        Just("capabilities".to_string()),
        Just("\"read\"".to_string()),
        Just("\n".to_string()),
        Just("#c\n".to_string()),
        Just("/*".to_string()),
        Just("*/".to_string()),
        Just("<<EOT\n".to_string()),
        Just("EOT\n".to_string()),
        Just("\"\\u12".to_string()),
        Just("-1.5e9".to_string()),
        Just("true".to_string()),
        ".{0,3}",
    ];
    proptest::collection::vec(piece, 0..60).prop_map(|pieces| pieces.join(" "))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn policy_text_never_panics(soup in policy_soup(), raw in ".{0,300}") {
        let _ = Policy::parse("p", &soup);
        let _ = Policy::parse("p", &raw);
        let _ = Policy::parse("p", &format!("{{{raw}"));
    }

    #[test]
    fn durations_are_bounded_or_refused(text in ".{0,40}", number in any::<f64>(), int in any::<i64>()) {
        for value in [json!(text), json!(number), json!(int), json!(format!("{int}h"))] {
            if let Ok(Some(seconds)) = crate::duration::field_seconds(Some(&value), "ttl") {
                prop_assert!((0..=crate::duration::MAX_SECONDS).contains(&seconds), "{value}: {seconds}");
            }
        }
        if let Ok(seconds) = crate::duration::parse_seconds(&text) {
            prop_assert!((0..=crate::duration::MAX_SECONDS).contains(&seconds));
        }
    }

    #[test]
    fn counts_and_lists_never_panic(text in ".{0,40}", number in any::<f64>(), int in any::<i64>()) {
        for value in [json!(text), json!(number), json!(int), json!([text.clone(), int]), json!({"a": number})] {
            let data = json!({ "f": value });
            let Value::Object(data) = data else { unreachable!() };
            let _ = crate::params::optional_u64(&data, "f");
            let _ = crate::params::optional_strings(&data, "f");
            let _ = crate::params::optional_bool(&data, "f");
            let _ = crate::params::optional_string_map(&data, "f");
        }
    }

}
