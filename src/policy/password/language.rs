//! Vault's password policy language, read into the SDK's
//! [`PasswordPolicy`]:
//!
//! ```hcl
//! length = 20
//! rule "charset" {
//!   charset   = "abcdefghijklmnopqrstuvwxyz"
//!   min-chars = 1
//! }
//! rule "charset" {
//!   charset   = "0123456789"
//!   min-chars = 1
//! }
//! ```
//!
//! HCL goes through [`super::super::syntax`] (no recursion, 32 levels at
//! most), JSON through serde_json (128 levels). Stricter than Vault, which
//! ignores what it does not know: an unknown field, in the policy or in a
//! rule, is refused, so a typo (`min_chars`) never silently weakens a
//! policy. The only rule type is `charset`, as in Vault.

use qm_plugin_sdk::password::{PasswordPolicy, MAX_RULES};
use serde_json::{Map, Value};

/// Reads a policy's text; the error names the problem.
pub(crate) fn parse(text: &str) -> Result<PasswordPolicy, String> {
    let document = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?
    } else {
        super::super::syntax::parse(text)?
    };
    let Value::Object(document) = document else {
        return Err("expected length and rule blocks".into());
    };
    let mut length = None;
    let mut rules = Vec::new();
    for (key, value) in &document {
        match key.as_str() {
            "length" => length = Some(count("length", value)?),
            "rule" => rules = rule_blocks(value)?,
            other => return Err(unknown_field(other, "the policy", "length and rule")),
        }
    }
    let length = length.ok_or("length: required")?;
    let mut sets = Vec::with_capacity(rules.len());
    for (kind, block) in rules {
        if kind != "charset" {
            let shown: String = kind.chars().take(32).collect();
            return Err(format!(
                "unknown rule type {shown:?} (the supported rule type is \"charset\")"
            ));
        }
        sets.push(charset(block)?);
    }
    let sets: Vec<(&str, usize)> = sets.iter().map(|(c, min)| (c.as_str(), *min)).collect();
    PasswordPolicy::new(length, &sets).map_err(|e| e.to_string())
}

fn unknown_field(name: &str, place: &str, known: &str) -> String {
    let shown: String = name.chars().take(32).collect();
    format!("unknown field {shown:?} in {place} (it takes {known})")
}

/// A non-negative integer, as a usize.
fn count(field: &str, value: &Value) -> Result<usize, String> {
    value
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{field}: expected a non-negative integer"))
}

/// A rule's type and its block.
type RuleBlock<'a> = (&'a str, &'a Map<String, Value>);

/// The `rule` blocks with their types, in order: `rule "T" { … }` once or
/// repeated (`{"T": {…}}`, `{"T": [{…}, …]}`), or Vault's JSON list form
/// (`[{"T": {…}}, …]`).
fn rule_blocks(value: &Value) -> Result<Vec<RuleBlock<'_>>, String> {
    let groups: Vec<&Map<String, Value>> = match value {
        Value::Object(by_type) => vec![by_type],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_object().ok_or("rule: expected a block"))
            .collect::<Result<_, _>>()?,
        _ => return Err("rule: expected a block such as rule \"charset\" { … }".into()),
    };
    let mut blocks = Vec::new();
    for (kind, value) in groups.into_iter().flatten() {
        let many = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for block in many {
            if blocks.len() >= MAX_RULES {
                return Err(format!("at most {MAX_RULES} rules"));
            }
            let block = block
                .as_object()
                .ok_or_else(|| format!("rule {kind:?}: expected a block"))?;
            blocks.push((kind.as_str(), block));
        }
    }
    Ok(blocks)
}

/// A `charset` rule's characters and minimum count.
fn charset(block: &Map<String, Value>) -> Result<(String, usize), String> {
    let mut chars = None;
    let mut min = 0;
    for (key, value) in block {
        match key.as_str() {
            "charset" => {
                chars = Some(
                    value
                        .as_str()
                        .ok_or("charset: expected a string")?
                        .to_string(),
                )
            }
            "min-chars" => min = count("min-chars", value)?,
            other => {
                return Err(unknown_field(
                    other,
                    "a charset rule",
                    "charset and min-chars",
                ))
            }
        }
    }
    Ok((chars.ok_or("a charset rule needs charset")?, min))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGITS_12: &str = r#"
        length = 12
        rule "charset" {
          charset = "0123456789"
          min-chars = 1
        }
    "#;

    #[test]
    fn vaults_examples_in_hcl_and_json() {
        let p = parse(DIGITS_12).unwrap().generate();
        assert!(
            p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()),
            "{p}"
        );
        let two = r#"length = 20
            rule "charset" { charset = "abcdefghijklmnopqrstuvwxyz" min-chars = 1 }
            rule "charset" { charset = "!@#$%^&*" min-chars = 19 }"#;
        let p = parse(two).unwrap().generate();
        assert_eq!(
            p.chars().filter(|c| !c.is_ascii_lowercase()).count(),
            19,
            "{p}"
        );
        for json in [
            r#"{"length": 8, "rule": {"charset": {"charset": "ab", "min-chars": 1}}}"#,
            r#"{"length": 8, "rule": {"charset": [{"charset": "ab"}, {"charset": "c"}]}}"#,
            r#"{"length": 8, "rule": [{"charset": {"charset": "ab"}}, {"charset": {"charset": "c"}}]}"#,
        ] {
            assert_eq!(parse(json).unwrap().length(), 8, "{json}");
        }
    }

    #[test]
    fn what_is_refused_and_why() {
        let many = "length = 100\n".to_string()
            + &"rule \"charset\" { charset = \"a\" }\n".repeat(MAX_RULES + 1);
        for (text, expected) in [
            ("rule \"charset\" { charset = \"a\" }", "length: required"),
            (
                "length = 3\nrule \"charset\" { charset = \"a\" }",
                "length must be 4 to 1024",
            ),
            (
                "length = 1025\nrule \"charset\" { charset = \"a\" }",
                "length must be 4 to 1024",
            ),
            (
                "length = -1\nrule \"charset\" { charset = \"a\" }",
                "non-negative integer",
            ),
            (
                "length = 1e300\nrule \"charset\" { charset = \"a\" }",
                "non-negative integer",
            ),
            (
                "length = \"8\"\nrule \"charset\" { charset = \"a\" }",
                "non-negative integer",
            ),
            ("length = 8", "at least one charset rule"),
            ("length = 8\nrule \"charset\" { charset = \"\" }", "empty"),
            (
                "length = 8\nrule \"charset\" { min-chars = 1 }",
                "needs charset",
            ),
            (
                "length = 8\nrule \"charset\" { charset = \"a\" min-chars = 9 }",
                "at least 9",
            ),
            (
                "length = 8\nrule \"charset\" { charset = \"a\" min_chars = 1 }",
                "unknown field \"min_chars\"",
            ),
            (
                "length = 8\nrule \"unicode\" { charset = \"a\" }",
                "unknown rule type \"unicode\"",
            ),
            ("lenght = 8", "unknown field \"lenght\""),
            ("length = 8\nrule = 3", "expected a block"),
            (
                "length = 8\nrule \"charset\" { charset = \"a'\" }",
                "without quotes",
            ),
            (many.as_str(), "at most 64 rules"),
            (
                "length = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
                "levels deep",
            ),
            ("[1]", "expected an attribute name"),
        ] {
            let error = parse(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let deep_json = "{\"length\": ".to_string() + &"[".repeat(100_000);
        assert!(parse(&deep_json).unwrap_err().contains("invalid JSON"));
        let huge = format!(
            "length = 8\nrule \"charset\" {{ charset = \"{}\" }}",
            "a".repeat(1 << 20)
        );
        assert_eq!(parse(&huge).unwrap().generate(), "aaaaaaaa");
    }
}
