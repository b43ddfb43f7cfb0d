//! The storage connection URL, `postgres://user:password@host:5432/db?sslmode=...`.
//!
//! tokio-postgres parses the URL itself but refuses the libpq TLS parameters
//! it does not implement (`sslmode=verify-ca|verify-full`, `sslrootcert`), so
//! those are taken out of the query here first and handled by
//! [`super::tls`]. The URL carries a password: [`ConnectionUrl`] never
//! prints it (`Debug` and [`ConnectionUrl::redacted`] show `***`), and
//! parse errors name the parameter, never the URL.

use percent_encoding::percent_decode_str;
use serde::Deserialize;
use std::path::PathBuf;
use std::str::FromStr;

/// libpq's `sslmode` values. tokio-postgres knows the first three; the
/// `verify-*` modes are enforced by the certificate verifier we hand it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Plaintext only.
    Disable,
    /// TLS when the server offers it, unverified; plaintext otherwise.
    Prefer,
    /// TLS; the certificate is verified only against `sslrootcert` when one is given.
    Require,
    /// TLS; the chain must lead to `sslrootcert`; any host name.
    VerifyCa,
    /// TLS; the chain must lead to `sslrootcert` and name the host.
    VerifyFull,
}

/// A PostgreSQL connection URL that holds a password.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct ConnectionUrl(String);

impl std::fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ConnectionUrl({})", self.redacted())
    }
}

impl From<String> for ConnectionUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

/// What [`ConnectionUrl::parse`] yields: the tokio-postgres config and the
/// TLS settings it could not hold.
pub struct ConnectionSettings {
    pub config: tokio_postgres::Config,
    pub ssl_mode: SslMode,
    pub root_cert: Option<PathBuf>,
}

impl ConnectionUrl {
    /// The URL with its password (in the user info or a `password=`
    /// parameter) replaced by `***`: what logs, banners and errors show.
    pub fn redacted(&self) -> String {
        let url = self.0.as_str();
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (url, None),
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

    /// The URL itself, for the connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Splits the URL into a tokio-postgres config and the TLS settings.
    pub fn parse(&self) -> Result<ConnectionSettings, String> {
        let url = self.0.as_str();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err("must be a postgres:// or postgresql:// URL".into());
        }
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, query),
            None => (url, ""),
        };
        let mut ssl_mode = SslMode::Prefer;
        let mut root_cert = None;
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| format!("parameter {key}: not UTF-8 once percent-decoded"))?;
            match key {
                "sslmode" => ssl_mode = parse_ssl_mode(&value)?,
                "sslrootcert" => root_cert = Some(PathBuf::from(value.as_ref())),
                "sslcert" | "sslkey" | "sslcrl" | "sslpassword" => {
                    return Err(format!("parameter {key} is not supported yet"))
                }
                _ => kept.push(pair),
            }
        }
        let rebuilt = if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        };
        let mut config = tokio_postgres::Config::from_str(&rebuilt)
            .map_err(|e| self.scrub(&format!("invalid connection URL: {e}")))?;
        config.ssl_mode(match ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
        if matches!(ssl_mode, SslMode::VerifyCa | SslMode::VerifyFull) && root_cert.is_none() {
            return Err("sslmode=verify-ca and verify-full need sslrootcert=FILE".into());
        }
        Ok(ConnectionSettings {
            config,
            ssl_mode,
            root_cert,
        })
    }

    /// `message` with the password, if it appears, replaced by `***`.
    pub fn scrub(&self, message: &str) -> String {
        let mut out = message.to_string();
        for secret in self.secrets() {
            if !secret.is_empty() {
                out = out.replace(&secret, "***");
            }
        }
        out
    }

    /// The password as written in the URL and percent-decoded.
    fn secrets(&self) -> Vec<String> {
        let mut found = Vec::new();
        let base = self.0.split('?').next().unwrap_or_default();
        if let Some(raw) = password_span(base).and_then(|(start, end)| base.get(start..end)) {
            found.push(raw.to_string());
            found.push(percent_decode_str(raw).decode_utf8_lossy().into_owned());
        }
        if let Some((_, query)) = self.0.split_once('?') {
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

fn parse_ssl_mode(value: &str) -> Result<SslMode, String> {
    match value {
        "disable" => Ok(SslMode::Disable),
        "prefer" => Ok(SslMode::Prefer),
        "require" => Ok(SslMode::Require),
        "verify-ca" => Ok(SslMode::VerifyCa),
        "verify-full" => Ok(SslMode::VerifyFull),
        other => Err(format!(
            "sslmode {other:?}: expected disable, prefer, require, verify-ca or verify-full"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> ConnectionUrl {
        ConnectionUrl(s.to_string())
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
    fn libpq_tls_parameters_are_taken_out() {
        let settings = url(
            "postgresql://qm:pw@db:5432/qm?sslmode=verify-full&sslrootcert=/etc/qm/ca%20x.pem&application_name=x",
        )
        .parse()
        .expect("parse");
        assert_eq!(settings.ssl_mode, SslMode::VerifyFull);
        assert_eq!(settings.root_cert, Some(PathBuf::from("/etc/qm/ca x.pem")));
        assert_eq!(settings.config.get_application_name(), Some("x"));
        assert_eq!(settings.config.get_dbname(), Some("qm"));
        assert_eq!(
            url("postgres://db/qm").parse().expect("parse").ssl_mode,
            SslMode::Prefer,
            "libpq's default"
        );
        for mode in ["disable", "prefer", "require"] {
            url(&format!("postgres://db/qm?sslmode={mode}"))
                .parse()
                .expect(mode);
        }
    }

    #[test]
    fn tokio_postgres_alone_refuses_what_we_accept() {
        // Why the parameters are parsed here: tokio-postgres rejects them.
        for query in ["sslmode=verify-full", "sslrootcert=/ca.pem"] {
            assert!(
                tokio_postgres::Config::from_str(&format!("postgres://db/qm?{query}")).is_err(),
                "{query}"
            );
        }
    }

    #[test]
    fn bad_urls_are_refused_without_the_password() {
        for bad in [
            "mysql://u:hunter2@db/qm",
            "postgres://u:hunter2@db/qm?sslmode=verify",
            "postgres://u:hunter2@db/qm?sslmode=verify-ca",
            "postgres://u:hunter2@db/qm?sslcert=/c.pem",
            "postgres://u:hunter2@db:notaport/qm",
            "postgres://u:hunter2@db/qm?nonsense=1",
        ] {
            let err = url(bad).parse().err().expect(bad);
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }
}
