//! The libpq TLS parameters (`sslmode`, `sslrootcert`, `sslcert`,
//! `sslkey`), taken out of a connection string before tokio-postgres sees
//! the rest: it refuses the `verify-*` modes and the file parameters, which
//! [`crate::tls`] implements instead.

use std::path::PathBuf;

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

/// A client certificate and its private key, both PEM files
/// (`sslcert=FILE&sslkey=FILE`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertFiles {
    /// The certificate, optionally followed by its intermediates.
    pub cert: PathBuf,
    /// The unencrypted private key (PKCS#8, PKCS#1 or SEC1), readable only
    /// by its owner as libpq demands.
    pub key: PathBuf,
}

/// What a connection string asks of TLS. Holds paths, never key material.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// CA certificates the server's chain must lead to (`sslrootcert`).
    pub root_cert: Option<PathBuf>,
    /// The certificate this client presents (`sslcert` and `sslkey`).
    pub client_cert: Option<ClientCertFiles>,
}

impl TlsSettings {
    /// Whether tokio-postgres tries TLS, and whether it must succeed.
    pub(crate) fn tokio_ssl_mode(&self) -> tokio_postgres::config::SslMode {
        match self.mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        }
    }
}

/// Why a verifying mode without a root file is refused.
pub(crate) const VERIFY_NEEDS_ROOT: &str =
    "sslmode=verify-ca and verify-full need sslrootcert=FILE";

/// The TLS parameters seen so far in one connection string.
#[derive(Default)]
pub(crate) struct TlsParams {
    mode: Option<SslMode>,
    root_cert: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl TlsParams {
    /// Takes `key=value` (the value decoded) if it is a TLS parameter;
    /// `Ok(false)` leaves it to tokio-postgres. Errors name the parameter,
    /// never a value that is not a known keyword.
    pub(crate) fn take(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "sslmode" => self.mode = Some(parse_ssl_mode(value)?),
            "sslrootcert" => self.root_cert = Some(PathBuf::from(value)),
            "sslcert" => self.cert = Some(PathBuf::from(value)),
            "sslkey" => self.key = Some(PathBuf::from(value)),
            "sslpassword" => {
                return Err("parameter sslpassword is not supported: give sslkey \
                            an unencrypted key file readable only by its owner"
                    .into())
            }
            "sslcrl" | "sslcrldir" => {
                return Err(format!(
                    "parameter {key} is not supported: certificate revocation lists are not checked"
                ))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The settings, once every parameter is seen: libpq's default mode
    /// (`prefer`), and the combinations libpq refuses refused.
    pub(crate) fn finish(self) -> Result<TlsSettings, String> {
        let mode = self.mode.unwrap_or(SslMode::Prefer);
        if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && self.root_cert.is_none() {
            return Err(VERIFY_NEEDS_ROOT.into());
        }
        let client_cert = match (self.cert, self.key) {
            (Some(cert), Some(key)) => Some(ClientCertFiles { cert, key }),
            (None, None) => None,
            // libpq would look in ~/.postgresql/ for the other half; a
            // server should not depend on its home directory.
            (Some(_), None) => return Err("sslcert needs sslkey=FILE with its private key".into()),
            (None, Some(_)) => return Err("sslkey needs sslcert=FILE with its certificate".into()),
        };
        Ok(TlsSettings {
            mode,
            root_cert: self.root_cert,
            client_cert,
        })
    }
}

fn parse_ssl_mode(value: &str) -> Result<SslMode, String> {
    match value {
        "disable" => Ok(SslMode::Disable),
        "prefer" => Ok(SslMode::Prefer),
        "require" => Ok(SslMode::Require),
        "verify-ca" => Ok(SslMode::VerifyCa),
        "verify-full" => Ok(SslMode::VerifyFull),
        _ => Err(
            "parameter sslmode: expected disable, prefer, require, verify-ca or verify-full".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<TlsSettings, String> {
        let mut params = TlsParams::default();
        for (key, value) in pairs {
            assert!(params.take(key, value)?, "{key} is a TLS parameter");
        }
        params.finish()
    }

    #[test]
    fn a_client_certificate_needs_both_files() {
        let both = settings(&[("sslcert", "/c.pem"), ("sslkey", "/k.pem")]).expect("both");
        assert_eq!(
            both.client_cert,
            Some(ClientCertFiles {
                cert: "/c.pem".into(),
                key: "/k.pem".into()
            })
        );
        assert_eq!(both.mode, SslMode::Prefer, "libpq's default");
        let err = settings(&[("sslcert", "/c.pem")]).expect_err("no key");
        assert!(err.contains("sslkey"), "{err}");
        let err = settings(&[("sslkey", "/k.pem")]).expect_err("no cert");
        assert!(err.contains("sslcert"), "{err}");
    }

    #[test]
    fn what_is_not_supported_says_so() {
        let mut params = TlsParams::default();
        let err = params.take("sslpassword", "hunter2").expect_err("refused");
        assert!(
            err.contains("sslpassword") && !err.contains("hunter2"),
            "{err}"
        );
        let err = params.take("sslcrl", "/crl.pem").expect_err("refused");
        assert!(err.contains("sslcrl"), "{err}");
        let err = params.take("sslmode", "hunter2").expect_err("refused");
        assert!(err.contains("sslmode") && !err.contains("hunter2"), "{err}");
        assert_eq!(params.take("application_name", "x"), Ok(false));
        let err = settings(&[("sslmode", "verify-ca")]).expect_err("no root");
        assert!(err.contains("sslrootcert"), "{err}");
    }
}
