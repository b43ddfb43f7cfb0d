//! Reading IAM policy documents for discovery: which statements allow `*`
//! actions or resources, and whom a role's trust policy lets assume it
//! from outside the account. Documents come URL-encoded from IAM.

use serde_json::Value;

/// A document as IAM returns it (URL-encoded JSON), parsed; `None` when it
/// is not JSON.
pub(crate) fn parse(encoded: &str) -> Option<Value> {
    let decoded = percent_encoding::percent_decode_str(encoded).decode_utf8_lossy();
    serde_json::from_str(&decoded)
        .ok()
        .or_else(|| serde_json::from_str(encoded).ok())
}

/// A field that IAM allows as one string or a list of them.
fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// The statements that allow (one object or a list).
fn allowing(document: &Value) -> Vec<&Value> {
    let statements: Vec<&Value> = match document.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    };
    statements
        .into_iter()
        .filter(|s| s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        .collect()
}

/// Why `document` (named `name`) is broad: `*` actions (`*`, `iam:*`) or
/// `*` resources on an allow.
pub(crate) fn wildcards(name: &str, document: &Value) -> Vec<String> {
    let mut found = Vec::new();
    for statement in allowing(document) {
        let actions = strings(statement.get("Action"));
        if actions.iter().any(|a| a == "*" || a.ends_with(":*")) {
            found.push(format!("{name} allows * actions"));
        }
        if strings(statement.get("Resource")).iter().any(|r| r == "*") {
            found.push(format!("{name} allows * resources"));
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Who outside `account` a trust policy lets assume the role: anyone
/// (`*`), or other accounts' principals.
pub(crate) fn outside_trust(document: &Value, account: &str) -> Vec<String> {
    let mut found = Vec::new();
    for statement in allowing(document) {
        let principals = match statement.get("Principal") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Object(map)) => strings(map.get("AWS")),
            _ => Vec::new(),
        };
        let conditioned = statement.get("Condition").is_some();
        for principal in principals {
            let outside = if principal == "*" {
                Some("anyone (*)".to_string())
            } else {
                match principal_account(&principal) {
                    Some(other) if other != account => Some(format!("account {other}")),
                    _ => None,
                }
            };
            if let Some(who) = outside {
                found.push(match conditioned {
                    true => format!("{who}, with conditions"),
                    false => who,
                });
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The account of a principal: a bare 12-digit id or an ARN's.
fn principal_account(principal: &str) -> Option<&str> {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        return Some(principal);
    }
    principal.strip_prefix("arn:")?.split(':').nth(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards_in_allow_statements_only() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Action": "*", "Resource": "*"},
            {"Effect": "Deny", "Action": "iam:*", "Resource": "*"},
            {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]},
        ]});
        assert_eq!(
            wildcards("admin", &doc),
            vec!["admin allows * actions", "admin allows * resources"]
        );
        let narrow = json!({"Statement": {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/k"}});
        assert!(wildcards("narrow", &narrow).is_empty());
        assert!(wildcards("junk", &json!("nope")).is_empty());
    }

    #[test]
    fn trust_from_outside_the_account() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999999999999:root"}, "Action": "sts:AssumeRole"},
            {"Effect": "Allow", "Principal": {"AWS": ["123456789012", "*"]}, "Action": "sts:AssumeRole", "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}},
            {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"},
        ]});
        assert_eq!(
            outside_trust(&doc, "123456789012"),
            vec!["account 999999999999", "anyone (*), with conditions"]
        );
        let own = json!({"Statement": {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}});
        assert!(outside_trust(&own, "123456789012").is_empty());
        let encoded = "%7B%22Statement%22%3A%5B%5D%7D";
        assert_eq!(parse(encoded), Some(json!({"Statement": []})));
        assert_eq!(parse("%%%"), None);
    }
}
