//! What may be shown of a connection string: everything but its password
//! (in a URL's user info, a `password=` parameter, or a key/value
//! `password`). `Debug` and [`ConnectionUrl::redacted`] show `***` in its
//! place, and [`ConnectionUrl::scrub`] takes it out of messages, such as
//! a driver's errors, that might quote it.

use crate::dsn;
use crate::url::{is_url, ConnectionUrl};
use percent_encoding::percent_decode_str;

impl std::fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionUrl({})", self.redacted())
    }
}

impl ConnectionUrl {
    /// The string with its password replaced by `***`: what logs, banners
    /// and errors show.
    pub fn redacted(&self) -> String {
        let text = self.0.as_str();
        if !is_url(text) {
            return match dsn::split(text) {
                Ok(pairs) => pairs
                    .iter()
                    .map(|pair| match pair.key {
                        "password" => format!("{}=***", pair.key),
                        key => format!("{key}={}", pair.raw),
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(_) => "(a connection string that does not parse)".into(),
            };
        }
        let (base, query) = match text.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (text, None),
        };
        let mut out = match password_span(base) {
            Some((start, end)) => {
                format!(
                    "{}***{}",
                    base.get(..start).unwrap_or_default(),
                    base.get(end..).unwrap_or_default()
                )
            }
            None => base.to_string(),
        };
        if let Some(query) = query {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            out.push('?');
            out.push_str(&pairs.join("&"));
        }
        out
    }

    /// `message` with the password, if it appears, replaced by `***`.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for secret in self.passwords() {
            if !secret.is_empty() {
                out = out.replace(&secret, "***");
            }
        }
        out
    }

    /// The password as written in the string and as decoded: what
    /// [`Self::scrub`] hides, for a caller that scrubs its messages with a
    /// list of its own secrets.
    pub fn passwords(&self) -> Vec<String> {
        let text = self.0.as_str();
        let mut found = Vec::new();
        if !is_url(text) {
            for pair in dsn::split(text).unwrap_or_default() {
                if pair.key == "password" {
                    found.push(pair.raw.to_string());
                    found.push(pair.value);
                }
            }
            return found;
        }
        let base = text.split('?').next().unwrap_or_default();
        if let Some(raw) = password_span(base).and_then(|(start, end)| base.get(start..end)) {
            found.push(raw.to_string());
            found.push(percent_decode_str(raw).decode_utf8_lossy().into_owned());
        }
        if let Some((_, query)) = text.split_once('?') {
            for pair in query.split('&') {
                if let Some((key, value)) = pair.split_once('=') {
                    if key.eq_ignore_ascii_case("password") {
                        found.push(value.to_string());
                        found.push(percent_decode_str(value).decode_utf8_lossy().into_owned());
                    }
                }
            }
        }
        found
    }
}

/// Byte range of the password in `scheme://user:password@host/...`.
fn password_span(base: &str) -> Option<(usize, usize)> {
    let authority_start = base.find("://")?.checked_add(3)?;
    let rest = base.get(authority_start..)?;
    let authority_len = rest.find('/').unwrap_or(rest.len());
    let authority = rest.get(..authority_len)?;
    let at = authority.rfind('@')?;
    let userinfo = authority.get(..at)?;
    let colon = userinfo.find(':')?;
    let start = authority_start.checked_add(colon)?.checked_add(1)?;
    let end = authority_start.checked_add(at)?;
    Some((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> ConnectionUrl {
        ConnectionUrl::from(s.to_string())
    }

    #[test]
    fn the_password_is_redacted_everywhere() {
        let u = url("postgres://qm:s3cr%40t@db:5432/qm?sslmode=require&password=other");
        assert_eq!(
            u.redacted(),
            "postgres://qm:***@db:5432/qm?sslmode=require&password=***"
        );
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(
            u.scrub("bad s3cr@t and s3cr%40t, other"),
            "bad *** and ***, ***"
        );
        assert_eq!(
            url("postgres://db/qm").redacted(),
            "postgres://db/qm",
            "nothing to hide"
        );
        assert_eq!(url("postgres://qm@db/qm").redacted(), "postgres://qm@db/qm");
    }

    #[test]
    fn the_key_value_password_is_redacted_too() {
        let u = url("host=db user=qm password='s3cr\\'t x' sslmode=require");
        assert_eq!(u.redacted(), "host=db user=qm password=*** sslmode=require");
        assert!(!format!("{u:?}").contains("s3cr"));
        assert_eq!(u.scrub("bad s3cr't x"), "bad ***");
        let broken = url("host=db password='s3cr");
        assert!(!broken.redacted().contains("s3cr"), "{}", broken.redacted());
    }
}
