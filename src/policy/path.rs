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
}
