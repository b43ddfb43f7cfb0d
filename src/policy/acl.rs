//! An ACL: the merged rules of a token's policies, and the decision for a path.
//!
//! Rules with the same pattern merge (union; `deny` wins). When several
//! patterns match a path, the most specific wins, by Vault's ordering: a later
//! first wildcard, no trailing `*`, fewer `+` segments, a longer pattern, then
//! the lexically greater one.

use super::{Capabilities, Policy};
use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    rules: Vec<(String, Capabilities)>,
}

impl Acl {
    pub fn from_policies(policies: &[Arc<Policy>]) -> Self {
        let mut merged: HashMap<String, Capabilities> = HashMap::new();
        let mut root = false;
        for policy in policies {
            if policy.name == "root" {
                root = true;
            }
            for rule in &policy.rules {
                let entry = merged.entry(rule.pattern.clone()).or_default();
                *entry = entry.union(rule.capabilities);
            }
        }
        Self {
            root,
            rules: merged.into_iter().collect(),
        }
    }

    pub fn is_root(&self) -> bool {
        self.root
    }

    /// The capabilities this ACL grants on `path`.
    pub fn capabilities(&self, path: &str) -> Capabilities {
        if self.root {
            return Capabilities::NAMES
                .iter()
                .filter(|(n, _)| *n != "deny")
                .fold(Capabilities::default(), |acc, (_, c)| acc.union(*c));
        }
        self.rules
            .iter()
            .filter(|(pattern, _)| matches(pattern, path))
            .max_by_key(|(pattern, _)| priority(pattern))
            .map(|(_, caps)| *caps)
            .unwrap_or_default()
    }

    /// Whether any rule grants something at or below `prefix` (used to let a
    /// client discover a mount it can use part of).
    pub fn has_access_under(&self, prefix: &str) -> bool {
        self.root
            || self.rules.iter().any(|(pattern, caps)| {
                let body = pattern.trim_end_matches('*');
                let overlaps = body.starts_with(prefix)
                    || prefix.starts_with(body)
                    || matches(pattern, prefix);
                overlaps && !caps.contains(Capabilities::DENY) && *caps != Capabilities::default()
            })
    }

    /// Whether `needed` (all of it) is granted on `path` and not denied.
    pub fn allows(&self, path: &str, needed: Capabilities) -> bool {
        let granted = self.capabilities(path);
        !granted.contains(Capabilities::DENY) && granted.contains(needed)
    }
}

/// Whether a policy path pattern matches a request path.
fn matches(pattern: &str, path: &str) -> bool {
    let (body, glob) = match pattern.strip_suffix('*') {
        Some(body) => (body, true),
        None => (pattern, false),
    };
    if !body.contains('+') {
        return if glob {
            path.starts_with(body)
        } else {
            path == body
        };
    }
    let pattern_segments: Vec<&str> = body.split('/').collect();
    let path_segments: Vec<&str> = path.split('/').collect();
    if path_segments.len() < pattern_segments.len()
        || (!glob && path_segments.len() != pattern_segments.len())
    {
        return false;
    }
    let last = pattern_segments.len().saturating_sub(1);
    pattern_segments
        .iter()
        .zip(&path_segments)
        .enumerate()
        .all(|(i, (want, got))| match *want {
            "+" => !got.is_empty() || (glob && i == last),
            want if glob && i == last => got.starts_with(want),
            want => want == *got,
        })
}

type Priority<'a> = (usize, bool, Reverse<usize>, usize, &'a str);

fn priority(pattern: &str) -> Priority<'_> {
    let first_wildcard = pattern.find(['+', '*']).unwrap_or(usize::MAX);
    let plus_segments = pattern.split('/').filter(|s| *s == "+").count();
    (
        first_wildcard,
        !pattern.ends_with('*'),
        Reverse(plus_segments),
        pattern.len(),
        pattern,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(text: &str) -> Acl {
        Acl::from_policies(&[Arc::new(Policy::parse("t", text).unwrap())])
    }

    #[test]
    fn glob_and_segment_wildcards() {
        assert!(matches("secret/*", "secret/data/x"));
        assert!(matches("secret/data/app*", "secret/data/application"));
        assert!(!matches("secret/data/app", "secret/data/app/x"));
        assert!(matches("secret/+/app", "secret/data/app"));
        assert!(!matches("secret/+/app", "secret/data/more/app"));
        assert!(matches("secret/+/app/*", "secret/data/app/x/y"));
        assert!(!matches("secret/+/app", "secret//app"));
    }

    #[test]
    fn most_specific_rule_wins_and_deny_wins_within_it() {
        let acl = acl(r#"
            path "secret/*" { capabilities = ["read", "create", "update"] }
            path "secret/data/admin" { capabilities = ["deny"] }
            path "secret/data/ro" { capabilities = ["read"] }
        "#);
        assert!(acl.allows("secret/data/x", Capabilities::UPDATE));
        assert!(!acl.allows("secret/data/admin", Capabilities::READ));
        assert!(acl.allows("secret/data/ro", Capabilities::READ));
        assert!(
            !acl.allows("secret/data/ro", Capabilities::UPDATE),
            "exact rule wins over glob"
        );
        assert!(!acl.allows("other/x", Capabilities::READ));
    }

    #[test]
    fn same_pattern_across_policies_merges() {
        let a = Arc::new(Policy::parse("a", r#"path "kv/x" { capabilities = ["read"] }"#).unwrap());
        let b =
            Arc::new(Policy::parse("b", r#"path "kv/x" { capabilities = ["update"] }"#).unwrap());
        let acl = Acl::from_policies(&[a.clone(), b]);
        assert!(acl.allows("kv/x", Capabilities::READ.union(Capabilities::UPDATE)));
        let deny =
            Arc::new(Policy::parse("d", r#"path "kv/x" { capabilities = ["deny"] }"#).unwrap());
        assert!(!Acl::from_policies(&[a, deny]).allows("kv/x", Capabilities::READ));
    }

    #[test]
    fn segment_wildcard_ranks_below_exact_prefix() {
        let acl = acl(r#"
            path "secret/+/team" { capabilities = ["read"] }
            path "secret/data/*" { capabilities = ["deny"] }
        "#);
        // The first wildcard of "secret/+/team" comes earlier, so the glob wins.
        assert!(!acl.allows("secret/data/team", Capabilities::READ));
    }
}
