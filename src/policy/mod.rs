//! ACL policies in Vault's HCL or JSON form: path rules with `*` (prefix) and
//! `+` (one segment) wildcards and the capabilities they grant.
//!
//! ```hcl
//! path "secret/data/app/*" { capabilities = ["read", "list"] }
//! path "secret/data/app/admin" { capabilities = ["deny"] }
//! ```
//!
//! Password policies, the other kind Vault keeps under `sys/policies/`,
//! are in [`password`].

mod acl;
pub mod password;
pub mod path;
mod store;
pub(crate) mod syntax;

pub use acl::Acl;
pub use store::{normalize_name, PolicyError, PolicyStore};

use serde::Deserialize;
use std::collections::BTreeMap;

/// A set of capabilities, as bits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities(u16);

impl Capabilities {
    pub const CREATE: Self = Self(1);
    pub const READ: Self = Self(1 << 1);
    pub const UPDATE: Self = Self(1 << 2);
    pub const DELETE: Self = Self(1 << 3);
    pub const LIST: Self = Self(1 << 4);
    pub const SUDO: Self = Self(1 << 5);
    pub const DENY: Self = Self(1 << 6);
    pub const PATCH: Self = Self(1 << 7);

    const NAMES: [(&'static str, Self); 8] = [
        ("create", Self::CREATE),
        ("read", Self::READ),
        ("update", Self::UPDATE),
        ("delete", Self::DELETE),
        ("list", Self::LIST),
        ("sudo", Self::SUDO),
        ("deny", Self::DENY),
        ("patch", Self::PATCH),
    ];

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, c)| *c)
    }

    /// Names in Vault's order; `["deny"]` when denied.
    pub fn names(self) -> Vec<String> {
        if self.contains(Self::DENY) {
            return vec!["deny".into()];
        }
        Self::NAMES
            .iter()
            .filter(|(_, c)| self.contains(*c))
            .map(|(n, _)| (*n).to_string())
            .collect()
    }
}

/// One `path "..." { ... }` rule.
#[derive(Debug, Clone)]
pub struct PathRule {
    pub pattern: String,
    pub capabilities: Capabilities,
}

/// A parsed policy, with the text it came from.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub text: String,
    pub rules: Vec<PathRule>,
}

#[derive(Deserialize)]
struct PolicyDocument {
    #[serde(default)]
    path: BTreeMap<String, Blocks>,
}

/// One `path` block, or several with the same pattern (Vault merges them:
/// the capabilities add up).
#[derive(Deserialize)]
#[serde(untagged)]
enum Blocks {
    One(PathBlock),
    Many(Vec<PathBlock>),
}

impl Blocks {
    fn into_vec(self) -> Vec<PathBlock> {
        match self {
            Self::One(block) => vec![block],
            Self::Many(blocks) => blocks,
        }
    }
}

#[derive(Deserialize)]
struct PathBlock {
    #[serde(default)]
    capabilities: Vec<String>,
    /// The pre-0.9 shorthand: read, write, deny, sudo.
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    allowed_parameters: Option<serde_json::Value>,
    #[serde(default)]
    denied_parameters: Option<serde_json::Value>,
    #[serde(default)]
    required_parameters: Option<serde_json::Value>,
}

impl Policy {
    /// Parses HCL (or JSON, when the text is a JSON object).
    pub fn parse(name: &str, text: &str) -> Result<Self, String> {
        let document: PolicyDocument = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| format!("failed to parse policy: {e}"))?
        } else {
            let value = syntax::parse(text).map_err(|e| format!("failed to parse policy: {e}"))?;
            serde_json::from_value(value).map_err(|e| format!("failed to parse policy: {e}"))?
        };
        let mut rules = Vec::new();
        for (pattern, block) in document.path.into_iter().flat_map(|(pattern, blocks)| {
            blocks
                .into_vec()
                .into_iter()
                .map(move |b| (pattern.clone(), b))
        }) {
            if block.allowed_parameters.is_some()
                || block.denied_parameters.is_some()
                || block.required_parameters.is_some()
            {
                return Err(format!(
                    "path {pattern:?}: allowed_parameters, denied_parameters and required_parameters are not supported; refusing the policy rather than ignoring them"
                ));
            }
            let mut capabilities = Capabilities::default();
            for name in &block.capabilities {
                let cap = Capabilities::parse(name)
                    .ok_or_else(|| format!("path {pattern:?}: invalid capability {name:?}"))?;
                capabilities = capabilities.union(cap);
            }
            if let Some(shorthand) = &block.policy {
                capabilities = capabilities
                    .union(shorthand_capabilities(shorthand).ok_or_else(|| {
                        format!("path {pattern:?}: invalid policy {shorthand:?}")
                    })?);
            }
            let pattern = pattern.trim_start_matches('/').to_string();
            rules.push(PathRule {
                pattern,
                capabilities,
            });
        }
        Ok(Self {
            name: name.to_string(),
            text: text.to_string(),
            rules,
        })
    }
}

fn shorthand_capabilities(name: &str) -> Option<Capabilities> {
    let c = Capabilities::default();
    Some(match name {
        "deny" => Capabilities::DENY,
        "read" => c.union(Capabilities::READ).union(Capabilities::LIST),
        "write" => c
            .union(Capabilities::READ)
            .union(Capabilities::LIST)
            .union(Capabilities::CREATE)
            .union(Capabilities::UPDATE)
            .union(Capabilities::DELETE),
        "sudo" => Capabilities::parse("sudo")?
            .union(Capabilities::READ)
            .union(Capabilities::LIST)
            .union(Capabilities::CREATE)
            .union(Capabilities::UPDATE)
            .union(Capabilities::DELETE),
        _ => return None,
    })
}

/// The built-in `default` policy every token gets unless asked otherwise.
pub const DEFAULT_POLICY: &str = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its resultant ACL from all policies
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew and look up leases it holds
path "sys/leases/renew" {
    capabilities = ["update"]
}
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow general purpose tools and response wrapping
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hcl_and_json() {
        let hcl = r#"
            path "secret/data/*" { capabilities = ["read", "list"] }
            path "secret/data/admin" { capabilities = ["deny"] }
        "#;
        let policy = Policy::parse("p", hcl).unwrap();
        assert_eq!(policy.rules.len(), 2);
        let json = r#"{"path": {"secret/*": {"capabilities": ["create", "update"]}}}"#;
        let policy = Policy::parse("p", json).unwrap();
        assert_eq!(
            policy.rules[0].capabilities.names(),
            vec!["create", "update"]
        );
    }

    #[test]
    fn rejects_unknown_capabilities_and_bad_syntax() {
        let err = Policy::parse("p", r#"path "a" { capabilities = ["fly"] }"#).unwrap_err();
        assert!(err.contains("invalid capability"), "{err}");
        assert!(Policy::parse("p", "path {").is_err());
        let err = Policy::parse(
            "p",
            "path \"a\" {\n capabilities = [\"read\"]\n denied_parameters = {}\n}",
        )
        .unwrap_err();
        assert!(err.contains("not supported"), "{err}");
    }

    #[test]
    fn repeated_path_blocks_merge() {
        let text = r#"
            path "kv/x" { capabilities = ["read"] }
            path "kv/x" { capabilities = ["update"] }
        "#;
        let policy = Policy::parse("p", text).unwrap();
        let acl = Acl::from_policies(&[std::sync::Arc::new(policy)]);
        assert!(acl.allows("kv/x", Capabilities::READ.union(Capabilities::UPDATE)));
    }

    #[test]
    fn default_policy_parses() {
        assert!(
            Policy::parse("default", DEFAULT_POLICY)
                .unwrap()
                .rules
                .len()
                >= 8
        );
    }

    #[test]
    fn default_policy_grants_the_cubbyhole() {
        let policy = Policy::parse("default", DEFAULT_POLICY).unwrap();
        let acl = Acl::from_policies(&[std::sync::Arc::new(policy)]);
        for caps in [Capabilities::CREATE, Capabilities::READ, Capabilities::LIST] {
            assert!(acl.allows("cubbyhole/x", caps));
            assert!(acl.allows("cubbyhole/", caps));
        }
        assert!(!acl.allows("cubbyhole/x", Capabilities::SUDO));
        assert!(!acl.allows("secret/x", Capabilities::READ));
    }
}
