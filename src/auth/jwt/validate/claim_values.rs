//! Claims as the role names them (a plain name, or a JSON pointer when the
//! name starts with "/") and claim values as the strings they are compared
//! and reported as.

use serde_json::{Map, Value};

/// A scalar, or a list's scalar elements, as strings; `None` for anything else.
pub(super) fn scalars(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => Some(items.iter().filter_map(scalar_string).collect()),
        other => scalar_string(other).map(|s| vec![s]),
    }
}

/// Strings as they are, numbers without a needless ".0", booleans as words.
pub(super) fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(number_string(n)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A JSON number as a string: integers as written, floats in their
/// shortest form (a whole float without ".0").
pub(super) fn number_string(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => f.to_string(),
        _ => n.to_string(),
    }
}

/// A claim by plain name, or by JSON pointer when the name starts with "/".
/// A null value counts as absent.
pub(super) fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let found = match name.strip_prefix('/') {
        None => claims.get(name),
        Some(path) => {
            let (head, rest) = path
                .split_once('/')
                .map_or((path, ""), |(head, _)| (head, &path[head.len()..]));
            let head = head.replace("~1", "/").replace("~0", "~");
            claims.get(&head).and_then(|v| v.pointer(rest))
        }
    };
    found.filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{bound_claims, check};
    use super::super::{ClaimMatch, JwtError, RoleBounds};
    use crate::auth::jwt::test_keys::TestKey;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn pointer_claims() {
        let key = TestKey::ed("d");
        let b = RoleBounds {
            claim_mappings: BTreeMap::from([
                ("/nested/key".into(), "k".into()),
                ("/a~1b".into(), "slash".into()),
            ]),
            ..bound_claims(
                json!({"/nested/key": "v", "/groups/1": "two"}),
                ClaimMatch::String,
            )
        };
        let extra = json!({"nested": {"key": "v"}, "groups": ["one", "two"], "a/b": "s"});
        let verified = check(&key, &b, extra).unwrap();
        assert_eq!(
            verified.metadata,
            BTreeMap::from([("k".into(), "v".into()), ("slash".into(), "s".into())])
        );
        let err = check(
            &key,
            &b,
            json!({"nested": {"key": "w"}, "groups": ["one", "two"]}),
        );
        assert_eq!(err, Err(JwtError::ClaimMismatch("/nested/key".into())));
        let err = check(&key, &b, json!({"nested": {}, "groups": ["one", "two"]}));
        assert_eq!(err, Err(JwtError::ClaimMissing("/nested/key".into())));
    }
}
