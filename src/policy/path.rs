//! The one canonical spelling of a request path, decided once before the
//! ACL check. The ACL, the audit log and the handler all see this string and
//! nothing re-normalises it afterwards, so a policy can never be checked on
//! one spelling while the handler serves another.
//!
//! The rules (the HTTP edge has already percent-decoded the path exactly once
//! and dropped the leading `/`):
//! - refused: control characters, empty segments (`a//b`), `.` and `..`
//!   segments, and segments that begin or end with whitespace (a handler
//!   that trimmed them would serve another name than the one authorized);
//! - a LIST path ends with exactly one `/`; any other operation's path has
//!   none (`database/creds/admin/` is `database/creds/admin`);
//! - case is kept: names are case-sensitive, and handlers that must have
//!   lower-case names refuse others instead of folding them.

use qm_plugin_sdk::Operation;

/// The path below `/v1/` as the client sent it, percent-decoded exactly once,
/// without leading `/` or whitespace (some clients send a stray whitespace
/// segment, as vaultrs' renew-self). `%252F` stays `%2F`: nothing decodes it
/// a second time.
pub fn decode(raw: &str) -> Result<String, String> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| "request path is not valid UTF-8".to_string())?;
    Ok(decoded
        .trim_start_matches(|c: char| c == '/' || c.is_whitespace())
        .to_string())
}

/// The canonical form of `path` for `operation`, or why it is refused.
pub fn canonical(operation: Operation, path: &str) -> Result<String, String> {
    let trimmed = path.strip_suffix('/').unwrap_or(path);
    if path.chars().any(char::is_control) {
        return Err(refusal(path, "control characters"));
    }
    if !trimmed.is_empty() {
        for segment in trimmed.split('/') {
            if segment.is_empty() {
                return Err(refusal(path, "an empty segment (\"//\")"));
            }
            if segment == "." || segment == ".." {
                return Err(refusal(path, "a \".\" or \"..\" segment"));
            }
            if segment.starts_with(char::is_whitespace) || segment.ends_with(char::is_whitespace) {
                return Err(refusal(
                    path,
                    "a segment that begins or ends with whitespace",
                ));
            }
        }
    }
    let mut canonical = trimmed.to_string();
    if operation == Operation::List {
        canonical.push('/');
    }
    Ok(canonical)
}

/// A name a handler takes from the path (a role, a policy), checked in the
/// one spelling it is stored under: a name with upper-case letters or
/// characters outside `allowed` is refused, never folded or trimmed, so the
/// name the ACL saw in the path is the name the handler acts on.
pub fn stored_name(kind: &str, name: &str, allowed: fn(char) -> bool) -> Result<String, String> {
    let shown: String = name.chars().take(64).collect();
    if name.is_empty() {
        return Err(format!("{kind} name: required"));
    }
    if name.chars().count() > 128 {
        return Err(format!(
            "invalid {kind} name {shown:?}: longer than 128 characters"
        ));
    }
    if name.chars().any(char::is_uppercase) {
        return Err(format!(
            "invalid {kind} name {shown:?}: {kind} names are lower case (use {:?})",
            shown.to_lowercase()
        ));
    }
    if !name.chars().all(allowed) {
        return Err(format!("invalid {kind} name {shown:?}"));
    }
    Ok(name.to_string())
}

fn refusal(path: &str, why: &str) -> String {
    let shown: String = path.chars().take(200).collect();
    format!("invalid request path {shown:?}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_spelling_per_path() {
        let read = |p| canonical(Operation::Read, p);
        assert_eq!(
            read("database/creds/admin/").unwrap(),
            "database/creds/admin"
        );
        assert_eq!(
            read("database/creds/admin").unwrap(),
            "database/creds/admin"
        );
        assert_eq!(
            canonical(Operation::List, "secret/metadata").unwrap(),
            "secret/metadata/"
        );
        assert_eq!(
            canonical(Operation::List, "secret/metadata/").unwrap(),
            "secret/metadata/"
        );
        assert_eq!(
            read("Auth/AppRole").unwrap(),
            "Auth/AppRole",
            "case is kept"
        );
        let any = |_| true;
        assert!(stored_name("role", "admin", any).is_ok());
        assert!(stored_name("role", "ADMIN", any).is_err());
        assert!(stored_name("role", "", any).is_err());
        for bad in [
            "secret//x",
            "secret/x//",
            "secret/./x",
            "secret/../sys/seal",
            "secret/x/..",
            "secret/ x",
            "secret/x ",
            "secret/x\n",
            "secret/\u{0}x",
        ] {
            assert!(read(bad).is_err(), "{bad:?} must be refused");
        }
    }

    // Test code: indexes and sums its own generated fixtures.
    #[allow(clippy::arithmetic_side_effects)]
    mod property {
        use super::super::{canonical, decode};
        use crate::policy::{Acl, Policy};
        use proptest::prelude::*;
        use qm_plugin_sdk::Operation;
        use std::sync::Arc;

        const WORDS: &[&str] = &[
            "database", "creds", "admin", "app", "secret", "data", "auth", "token", "x",
        ];

        fn segment() -> impl Strategy<Value = String> {
            prop_oneof![
                proptest::sample::select(WORDS).prop_map(String::from),
                "[a-z0-9_-]{1,6}",
            ]
        }

        fn base_path() -> impl Strategy<Value = Vec<String>> {
            proptest::collection::vec(segment(), 1..5)
        }

        /// A rule over the same words: some segments `+`, maybe a trailing
        /// `*` (after a whole or a partial segment), any capabilities.
        fn rule() -> impl Strategy<Value = (String, String)> {
            (
                base_path(),
                proptest::collection::vec(any::<bool>(), 5),
                0..3u8,
                proptest::sample::subsequence(
                    vec!["create", "read", "update", "delete", "list", "sudo", "deny"],
                    1..4,
                ),
            )
                .prop_map(|(segments, plus, glob, caps)| {
                    let mut pattern: Vec<String> = segments
                        .iter()
                        .zip(plus)
                        .map(|(s, p)| if p { "+".to_string() } else { s.clone() })
                        .collect();
                    let mut text = pattern.join("/");
                    match glob {
                        1 => text.push_str("/*"),
                        2 => {
                            if let Some(last) = pattern.last_mut() {
                                last.truncate(1);
                            }
                            text = format!("{}*", pattern.join("/"));
                        }
                        _ => {}
                    }
                    let caps: Vec<String> = caps.iter().map(|c| format!("{c:?}")).collect();
                    (
                        text,
                        format!("{{ capabilities = [{}] }}\n", caps.join(", ")),
                    )
                })
        }

        /// A way to spell the same path differently.
        #[derive(Debug, Clone)]
        enum Respell {
            TrailingSlash,
            LeadingSlashes(usize),
            DoubleSlash(usize),
            DotSegment(usize),
            DotDot(usize),
            Percent(usize, bool),
            UpperCase(usize),
        }

        fn respell() -> impl Strategy<Value = Respell> {
            prop_oneof![
                Just(Respell::TrailingSlash),
                (1..3usize).prop_map(Respell::LeadingSlashes),
                any::<usize>().prop_map(Respell::DoubleSlash),
                any::<usize>().prop_map(Respell::DotSegment),
                any::<usize>().prop_map(Respell::DotDot),
                (any::<usize>(), any::<bool>()).prop_map(|(i, l)| Respell::Percent(i, l)),
                any::<usize>().prop_map(Respell::UpperCase),
            ]
        }

        /// Applies the spellings. Upper-casing changes the name itself (names
        /// are case-sensitive), so it goes into `named`, the path the
        /// request names; the rest only change how it is written.
        fn apply(base: &[String], changes: &[Respell]) -> (String, String, bool) {
            let mut segments: Vec<String> = base.to_vec();
            for change in changes {
                if let Respell::UpperCase(i) = change {
                    let n = segments.len();
                    if let Some(s) = segments.get_mut(i % n) {
                        *s = s.to_uppercase();
                    }
                }
            }
            let named = segments.join("/");
            let mut wire: Vec<String> = segments.clone();
            let mut prefix = String::new();
            let mut suffix = String::new();
            let mut ambiguous = false;
            for change in changes {
                let n = wire.len().max(1);
                match change {
                    Respell::TrailingSlash => suffix = "/".into(),
                    Respell::LeadingSlashes(k) => prefix = "/".repeat(*k),
                    // Between two segments (at the ends it is a leading or
                    // trailing slash, which are not ambiguous).
                    Respell::DoubleSlash(i) if n > 1 => {
                        wire.insert(1 + i % (n - 1), String::new());
                        ambiguous = true;
                    }
                    Respell::DoubleSlash(_) => {}
                    Respell::DotSegment(i) => {
                        wire.insert(i % n, ".".into());
                        ambiguous = true;
                    }
                    Respell::DotDot(i) => {
                        let at = i % n;
                        wire.insert(at, "..".into());
                        wire.insert(at, "zz".into());
                        ambiguous = true;
                    }
                    Respell::Percent(i, slash) => {
                        if *slash {
                            suffix = "%2F".into();
                        } else if let Some(s) = wire.get_mut(i % n) {
                            // Once: twice-encoded is another name (decoded once).
                            if !s.contains('%') {
                                *s = s.bytes().map(|b| format!("%{b:02X}")).collect();
                            }
                        }
                    }
                    Respell::UpperCase(_) => {}
                }
            }
            (
                format!("{prefix}{}{suffix}", wire.join("/")),
                named,
                ambiguous,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]

            /// Every spelling of a path is refused, or canonicalises to the
            /// very path it names; so the capability the ACL grants on the
            /// canonical path is the capability on the path the handler
            /// serves (which is that same string: handlers never re-normalise).
            #[test]
            fn acl_sees_the_path_the_handler_serves(
                base in base_path(),
                rules in proptest::collection::vec(rule(), 1..6),
                changes in proptest::collection::vec(respell(), 0..4),
                list in any::<bool>(),
            ) {
                let operation = if list { Operation::List } else { Operation::Read };
                // Repeated patterns merge, as Vault's do.
                let text: String = rules
                    .iter()
                    .map(|(pattern, body)| format!("path {pattern:?} {body}"))
                    .collect();
                let policy = Policy::parse("generated", &text)
                    .map_err(|e| TestCaseError::fail(format!("{e}: {rules:?}")))?;
                let acl = Acl::from_policies(&[Arc::new(policy)]);
                let (wire, named, ambiguous) = apply(&base, &changes);
                let served = canonical(operation, &named)
                    .map_err(TestCaseError::fail)?;
                let outcome = decode(&wire).and_then(|path| canonical(operation, &path));
                match outcome {
                    Ok(checked) => {
                        prop_assert!(!ambiguous, "{wire:?} was accepted as {checked:?}");
                        prop_assert_eq!(&checked, &served, "{:?}", wire);
                        prop_assert_eq!(acl.capabilities(&checked), acl.capabilities(&served));
                        prop_assert_eq!(canonical(operation, &checked).ok(), Some(checked.clone()));
                    }
                    Err(_) => prop_assert!(ambiguous, "{wire:?} was refused"),
                }
            }
        }
    }
}
