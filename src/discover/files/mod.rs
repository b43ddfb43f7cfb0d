//! The files connector: hard-coded credentials in a tarball of a working
//! tree or of a git repository's history (`qm discover scan-files` packs
//! one), found by the [`rules`] and kept as `file_secret` identities: one
//! per distinct secret, with every place it was found (file and line), the
//! rule, and its keyed fingerprint, never the secret.
//!
//! An AWS access key id's fingerprint is the one the IAM connector gives
//! the key it lists, so the two link; a connection URL's user links to a
//! discovered login role of that name (the password is not verified).

pub mod archive;
pub mod rules;

use super::fingerprint::FingerprintKey;
use super::Discovered;
use rules::{entropy, Link, Rules};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

pub const KIND: &str = "file_secret";

/// One secret found at one place.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub file: String,
    pub line: usize,
    pub rule: String,
    pub fingerprint: String,
    /// The user of a connection URL, if the rule names one.
    pub user: Option<String>,
    #[serde(skip)]
    link: Option<Link>,
}

impl Finding {
    /// The fingerprint another connector's identity carries for the same
    /// credential, if the rule links.
    pub fn link_fingerprint(&self, key: &FingerprintKey) -> Option<String> {
        match (self.link?, &self.user) {
            (Link::AwsAccessKey, _) => Some(self.fingerprint.clone()),
            (Link::PostgresUser, Some(user)) => Some(postgres_user_fingerprint(key, user)),
            (Link::PostgresUser, None) => None,
        }
    }
}

/// The fingerprint a login role carries for linking by its name.
pub fn postgres_user_fingerprint(key: &FingerprintKey, user: &str) -> String {
    key.of(&format!("postgres-user:{user}"))
}

/// The secrets in one file's text.
pub fn scan_text(rules: &Rules, key: &FingerprintKey, path: &str, text: &str) -> Vec<Finding> {
    if rules.skips_path(path) {
        return Vec::new();
    }
    let mut found = Vec::new();
    for rule in &rules.rules {
        for captures in rule.regex.captures_iter(text) {
            let Some(secret) = captures.get(rule.secret_group) else {
                continue;
            };
            let value = secret.as_str();
            if rules.allows_secret(value) {
                continue;
            }
            if rule.min_entropy.is_some_and(|min| entropy(value) < min) {
                continue;
            }
            let line = text
                .get(..secret.start())
                .map_or(0, |before| before.matches('\n').count())
                .saturating_add(1);
            found.push(Finding {
                file: path.to_string(),
                line,
                rule: rule.id.clone(),
                fingerprint: key.of(value),
                user: rule
                    .user_group
                    .and_then(|g| captures.get(g))
                    .map(|u| u.as_str().to_string()),
                link: rule.link,
            });
        }
    }
    found
}

/// The file-secret identities of a scan named `source` (`files/NAME`):
/// the findings grouped by fingerprint, each linked to the identities
/// `linked` names for its link fingerprint.
pub fn records(
    findings: &[Finding],
    key: &FingerprintKey,
    source: &str,
    linked: &BTreeMap<String, Vec<String>>,
    now: i64,
) -> Vec<Discovered> {
    let mut by_secret: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for finding in findings {
        by_secret
            .entry(finding.fingerprint.as_str())
            .or_default()
            .push(finding);
    }
    by_secret
        .into_iter()
        .filter_map(|(fingerprint, places)| {
            let first = places.first()?;
            let locations: Vec<String> = places
                .iter()
                .map(|f| format!("{}:{}", f.file, f.line))
                .collect();
            let mut fingerprints = vec![fingerprint.to_string()];
            let link = first.link_fingerprint(key);
            let linked_to = link
                .as_ref()
                .and_then(|l| linked.get(l))
                .cloned()
                .unwrap_or_default();
            if let Some(link) = link.filter(|l| l != fingerprint) {
                fingerprints.push(link);
            }
            let mut details = BTreeMap::new();
            details.insert("rule".into(), json!(first.rule));
            details.insert("linked_identities".into(), json!(linked_to));
            if let Some(user) = &first.user {
                details.insert("user".into(), json!(user));
            }
            Some(Discovered {
                kind: KIND.into(),
                // The fingerprint names it: two secrets never share a record.
                name: format!(
                    "{} {}",
                    first.rule,
                    fingerprint.get(..12).unwrap_or_default()
                ),
                source: source.to_string(),
                first_seen: now,
                last_used: None,
                expires: None,
                never_expires: false,
                privileged: Vec::new(),
                permissions: Vec::new(),
                locations,
                fingerprints,
                details,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> Vec<Finding> {
        let rules = Rules::parse(rules::DEFAULT_RULES).expect("rules");
        scan_text(&rules, &FingerprintKey::generate(), "app/config.env", text)
    }

    #[test]
    fn finds_planted_secrets_with_their_lines() {
        let text = "# config\nAWS_ACCESS_KEY_ID=AKIAZ7Q3VBN4KXLMP2RT\n\
                    DATABASE_URL=postgres://billing:Rt7%kq2Lx9Vb@db.internal:5432/app\n";
        let found = scan(text);
        let rules: Vec<(&str, usize)> = found.iter().map(|f| (f.rule.as_str(), f.line)).collect();
        assert!(rules.contains(&("aws_access_key_id", 2)), "{rules:?}");
        assert!(rules.contains(&("postgres_url", 3)), "{rules:?}");
        let url = found
            .iter()
            .find(|f| f.rule == "postgres_url")
            .expect("url");
        assert_eq!(url.user.as_deref(), Some("billing"));
        let shown = serde_json::to_string(&found).unwrap_or_default();
        assert!(!shown.contains("AKIAZ7Q3VBN4KXLMP2RT") && !shown.contains("Rt7%kq2Lx9Vb"));
    }

    #[test]
    fn ignores_documentation_examples_and_placeholders() {
        let text = "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n\
                    aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
                    password = \"changeme\"\nDB=postgres://app:${DB_PASSWORD}@db/app\n\
                    api_key: \"<your-api-key-here>\"\ntoken = \"xxxxxxxxxxxxxxxx\"\n";
        assert!(scan(text).is_empty(), "{:?}", scan(text));
    }
}
