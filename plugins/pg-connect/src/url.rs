//! The connection string: a URL, `postgres://user:password@host:5432/db?sslmode=...`,
//! or libpq's key/value form, `host=db user=qm sslmode=verify-full ...`.
//!
//! tokio-postgres parses both itself but refuses the libpq TLS parameters it
//! does not implement (`sslmode=verify-ca|verify-full`, `sslrootcert`,
//! `sslcert`, `sslkey`), so those are taken out here first
//! ([`crate::params`]) and handled by [`crate::tls`]. The string carries a
//! password: [`ConnectionUrl`] never prints it ([`crate::redact`]), and
//! parse errors name the parameter, never the string.

use crate::dsn;
use crate::params::{TlsParams, TlsSettings};
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use std::str::FromStr;

/// A PostgreSQL connection string that may hold a password. Its `Debug`
/// shows it redacted.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct ConnectionUrl(pub(crate) String);

impl From<String> for ConnectionUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

/// What [`ConnectionUrl::parse`] yields: the tokio-postgres config (its
/// `ssl_mode` already set) and the TLS settings it could not hold.
pub struct ConnectionSettings {
    pub config: tokio_postgres::Config,
    pub tls: TlsSettings,
}

/// Whether `text` is the URL form, by tokio-postgres's rule; anything else
/// is the key/value form.
pub(crate) fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

impl ConnectionUrl {
    /// `template` with each placeholder (`{{password}}`, say) replaced by
    /// its value, encoded for where it lands: percent-encoded in a URL,
    /// escaped in key/value pairs. So a password with `@` or a space in it
    /// stays one value.
    pub fn from_template(template: &str, values: &[(&str, &str)]) -> Self {
        let url = is_url(template);
        let mut filled = template.to_string();
        for (placeholder, value) in values {
            let encoded = if url {
                utf8_percent_encode(value, NON_ALPHANUMERIC).to_string()
            } else {
                dsn::escape(value)
            };
            filled = filled.replace(placeholder, &encoded);
        }
        Self(filled)
    }

    /// The string itself, for the connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Splits the string into a tokio-postgres config and the TLS settings.
    pub fn parse(&self) -> Result<ConnectionSettings, String> {
        let text = self.0.as_str();
        let mut tls = TlsParams::default();
        let rest = if is_url(text) {
            url_without_tls(text, &mut tls)?
        } else if text.contains("://") {
            return Err(
                "must be a postgres:// or postgresql:// URL, or libpq key=value pairs".into(),
            );
        } else {
            key_value_without_tls(text, &mut tls)?
        };
        let tls = tls.finish()?;
        let mut config = tokio_postgres::Config::from_str(&rest)
            .map_err(|e| self.scrub(&format!("invalid connection string: {e}")))?;
        config.ssl_mode(tls.tokio_ssl_mode());
        Ok(ConnectionSettings { config, tls })
    }
}

/// The URL with the TLS parameters taken out of its query into `tls`.
fn url_without_tls(url: &str, tls: &mut TlsParams) -> Result<String, String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| format!("parameter {key}: not UTF-8 once percent-decoded"))?;
        if !tls.take(key, &value)? {
            kept.push(pair);
        }
    }
    Ok(if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    })
}

/// The key/value string with the TLS parameters taken out into `tls`.
fn key_value_without_tls(text: &str, tls: &mut TlsParams) -> Result<String, String> {
    let pairs = dsn::split(text)?;
    let mut kept = Vec::new();
    for pair in &pairs {
        if !tls.take(pair.key, &pair.value)? {
            kept.push((pair.key, pair.value.as_str()));
        }
    }
    Ok(dsn::join(kept))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{ClientCertFiles, SslMode};
    use std::path::PathBuf;

    fn url(s: &str) -> ConnectionUrl {
        ConnectionUrl(s.to_string())
    }

    #[test]
    fn libpq_tls_parameters_are_taken_out() {
        let settings = url(
            "postgresql://qm:pw@db:5432/qm?sslmode=verify-full&sslrootcert=/etc/qm/ca%20x.pem&application_name=x",
        )
        .parse()
        .expect("parse");
        assert_eq!(settings.tls.mode, SslMode::VerifyFull);
        assert_eq!(
            settings.tls.root_cert,
            Some(PathBuf::from("/etc/qm/ca x.pem"))
        );
        assert_eq!(settings.config.get_application_name(), Some("x"));
        assert_eq!(settings.config.get_dbname(), Some("qm"));
        assert_eq!(
            settings.config.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
        assert_eq!(
            url("postgres://db/qm").parse().expect("parse").tls.mode,
            SslMode::Prefer,
            "libpq's default"
        );
        for mode in ["disable", "prefer", "require"] {
            url(&format!("postgres://db/qm?sslmode={mode}"))
                .parse()
                .expect(mode);
        }
        let settings = url("postgres://qm@db/qm?sslcert=/c.pem&sslkey=/k%20x.pem")
            .parse()
            .expect("client certificate");
        assert_eq!(
            settings.tls.client_cert,
            Some(ClientCertFiles {
                cert: "/c.pem".into(),
                key: "/k x.pem".into()
            })
        );
    }

    #[test]
    fn the_key_value_form_takes_the_same_parameters() {
        let settings = url(
            "host=db port=5433 user=qm password='p w' dbname=qm sslmode=verify-ca \
             sslrootcert='/etc/qm/ca x.pem' sslcert=/c.pem sslkey=/k.pem",
        )
        .parse()
        .expect("parse");
        assert_eq!(settings.tls.mode, SslMode::VerifyCa);
        assert_eq!(
            settings.tls.root_cert,
            Some(PathBuf::from("/etc/qm/ca x.pem"))
        );
        assert!(settings.tls.client_cert.is_some());
        assert_eq!(settings.config.get_user(), Some("qm"));
        assert_eq!(settings.config.get_password(), Some(&b"p w"[..]));
        assert_eq!(settings.config.get_ports(), [5433]);
        assert!(url("").parse().is_ok(), "libpq's defaults throughout");
    }

    #[test]
    fn tokio_postgres_alone_refuses_what_we_accept() {
        // Why the parameters are parsed here: tokio-postgres rejects them.
        for query in [
            "sslmode=verify-full",
            "sslrootcert=/ca.pem",
            "sslcert=/c.pem",
            "sslkey=/k.pem",
        ] {
            assert!(
                tokio_postgres::Config::from_str(&format!("postgres://db/qm?{query}")).is_err(),
                "{query}"
            );
        }
    }

    #[test]
    fn templates_are_filled_encoded_for_the_form() {
        let values = [("{{username}}", "v-app"), ("{{password}}", "p@ss w'rd/?&")];
        let filled = ConnectionUrl::from_template(
            "postgresql://{{username}}:{{password}}@db/qm?sslmode=require",
            &values,
        );
        let config = filled.parse().expect("URL").config;
        assert_eq!(config.get_user(), Some("v-app"));
        assert_eq!(config.get_password(), Some(&b"p@ss w'rd/?&"[..]));
        let filled = ConnectionUrl::from_template(
            "host=db user={{username}} password='{{password}}' sslmode=require",
            &values,
        );
        let config = filled.parse().expect("key/value, quoted").config;
        assert_eq!(config.get_password(), Some(&b"p@ss w'rd/?&"[..]));
        let filled = ConnectionUrl::from_template("host=db password={{password}}", &values);
        let config = filled.parse().expect("key/value, bare").config;
        assert_eq!(config.get_password(), Some(&b"p@ss w'rd/?&"[..]));
    }

    #[test]
    fn bad_strings_are_refused_without_the_password() {
        for bad in [
            "mysql://u:hunter2@db/qm",
            "postgres://u:hunter2@db/qm?sslmode=verify",
            "postgres://u:hunter2@db/qm?sslmode=verify-ca",
            "postgres://u:hunter2@db/qm?sslcert=/c.pem",
            "postgres://u:hunter2@db/qm?sslpassword=hunter2",
            "postgres://u:hunter2@db:notaport/qm",
            "postgres://u:hunter2@db/qm?nonsense=1",
            "host=db password=hunter2 port=notaport",
            "host=db password='hunter2",
            "host=db password=hunter2 sslmode=hunter2",
        ] {
            let err = url(bad).parse().err().expect(bad);
            assert!(!err.contains("hunter2"), "{bad}: {err}");
        }
    }
}
