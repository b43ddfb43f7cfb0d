//! The rule set for finding secrets in files: data (TOML, the embedded
//! `config/discover-rules.toml` unless a config names another), compiled
//! once into regexes.

use regex::Regex;
use serde::Deserialize;

/// The rules shipped with the server.
pub const DEFAULT_RULES: &str = include_str!("../../../config/discover-rules.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RuleSpec>,
    #[serde(default)]
    allow: AllowSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    id: String,
    description: String,
    regex: String,
    secret_group: usize,
    user_group: Option<usize>,
    min_entropy: Option<f64>,
    link: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AllowSpec {
    #[serde(default)]
    values: Vec<String>,
    #[serde(default)]
    secret_patterns: Vec<String>,
    #[serde(default)]
    path_patterns: Vec<String>,
}

/// What a found secret's fingerprint links to in other connectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    AwsAccessKey,
    PostgresUser,
}

pub struct Rule {
    pub id: String,
    pub description: String,
    pub regex: Regex,
    pub secret_group: usize,
    pub user_group: Option<usize>,
    pub min_entropy: Option<f64>,
    pub link: Option<Link>,
}

pub struct Rules {
    pub rules: Vec<Rule>,
    allow_values: Vec<String>,
    allow_secrets: Vec<Regex>,
    allow_paths: Vec<Regex>,
}

impl Rules {
    /// Parses and compiles a rule file; the error names the rule at fault.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: RuleFile = toml::from_str(text).map_err(|e| format!("rule file: {e}"))?;
        let compile = |what: &str, pattern: &str| {
            Regex::new(pattern).map_err(|e| format!("{what}: invalid regex: {e}"))
        };
        let mut rules = Vec::new();
        for spec in file.rule {
            let regex = compile(&format!("rule {:?}", spec.id), &spec.regex)?;
            let groups = regex.captures_len();
            if spec.secret_group == 0 || spec.secret_group >= groups {
                return Err(format!(
                    "rule {:?}: secret_group {} names no capture group",
                    spec.id, spec.secret_group
                ));
            }
            let link = match spec.link.as_deref() {
                None => None,
                Some("aws_access_key") => Some(Link::AwsAccessKey),
                Some("postgres_user") => Some(Link::PostgresUser),
                Some(other) => {
                    return Err(format!("rule {:?}: unknown link {other:?}", spec.id));
                }
            };
            rules.push(Rule {
                id: spec.id,
                description: spec.description,
                regex,
                secret_group: spec.secret_group,
                user_group: spec.user_group.filter(|g| *g < groups),
                min_entropy: spec.min_entropy,
                link,
            });
        }
        let compile_all = |what: &str, patterns: &[String]| {
            patterns
                .iter()
                .map(|p| compile(what, p))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            rules,
            allow_values: file.allow.values,
            allow_secrets: compile_all("allow.secret_patterns", &file.allow.secret_patterns)?,
            allow_paths: compile_all("allow.path_patterns", &file.allow.path_patterns)?,
        })
    }

    /// Whether a file at `path` is skipped.
    pub fn skips_path(&self, path: &str) -> bool {
        self.allow_paths.iter().any(|p| p.is_match(path))
    }

    /// Whether a matched secret is a known example or a placeholder.
    pub fn allows_secret(&self, secret: &str) -> bool {
        self.allow_values.iter().any(|v| v == secret)
            || self.allow_secrets.iter().any(|p| p.is_match(secret))
    }
}

/// Shannon entropy of `text` in bits per character.
pub fn entropy(text: &str) -> f64 {
    let mut counts = std::collections::HashMap::new();
    let mut total = 0_u32;
    for c in text.chars() {
        let count = counts.entry(c).or_insert(0_u32);
        *count = count.saturating_add(1);
        total = total.saturating_add(1);
    }
    let total = f64::from(total.max(1));
    counts
        .values()
        .map(|n| {
            let p = f64::from(*n) / total;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_compile() {
        let rules = Rules::parse(DEFAULT_RULES).expect("shipped rules");
        assert!(rules.rules.len() >= 7);
        assert!(rules.allows_secret("AKIAIOSFODNN7EXAMPLE"));
        assert!(rules.allows_secret("${DB_PASSWORD}"));
        assert!(!rules.allows_secret("Zq3v9Lk2Pw8Xr4Tn"));
        assert!(rules.skips_path("web/node_modules/x.js"));
    }

    #[test]
    fn bad_rule_files_name_what_is_wrong() {
        let err = |text: &str| Rules::parse(text).err().unwrap_or_default();
        assert!(
            err("[[rule]]\nid='a'\ndescription=''\nregex='('\nsecret_group=1")
                .contains("rule \"a\"")
        );
        assert!(
            err("[[rule]]\nid='b'\ndescription=''\nregex='x'\nsecret_group=1")
                .contains("secret_group")
        );
        assert!(
            err("[[rule]]\nid='c'\ndescription=''\nregex='(x)'\nsecret_group=1\nlink='nope'")
                .contains("unknown link")
        );
        assert!(err("nonsense = [").contains("rule file"));
    }

    #[test]
    fn entropy_tells_random_from_repeated() {
        assert!(entropy("aaaaaaaaaaaa") < 0.1);
        assert!(entropy("Zq3v9Lk2Pw8Xr4Tn") > 3.5);
    }
}
