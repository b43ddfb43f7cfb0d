//! TLS for a PostgreSQL connection, through rustls, with libpq's `sslmode`
//! meanings:
//!
//! | sslmode | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` | when the server offers it | no |
//! | `require` | always | only against `sslrootcert` when given (libpq: then as `verify-ca`) |
//! | `verify-ca` | always | chain to `sslrootcert`, any host name |
//! | `verify-full` | always | chain to `sslrootcert`, and the host name |
//!
//! With `sslcert` and `sslkey` the client presents that certificate when
//! the server asks for one (`cert` authentication, `clientcert=verify-*`).
//! Whether TLS is attempted at all is tokio-postgres's `SslMode` (set when
//! the string is parsed); what a certificate must prove is the verifier
//! from [`crate::verify`]. The files are read when the connector is made,
//! once per pool.

use crate::params::TlsSettings;
use crate::{pem, verify};
use rustls::ClientConfig;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

impl TlsSettings {
    /// The connector these settings ask for. Errors name the parameter and
    /// the file at fault, never a file's contents.
    pub fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = self.root_cert.as_deref().map(pem::roots).transpose()?;
        let verifier = verify::server_verifier(self.mode, roots, &provider)?;
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some(files) => {
                let chain = pem::certificates("sslcert", &files.cert)?;
                let key = pem::private_key(&files.key)?;
                builder.with_client_auth_cert(chain, key).map_err(|e| {
                    format!(
                        "sslcert {} with sslkey {}: {e}",
                        files.cert.display(),
                        files.key.display()
                    )
                })?
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }
}

#[cfg(all(test, unix))]
mod tests {
    use crate::{ClientCertFiles, SslMode, TlsSettings};
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    fn settings(mode: SslMode, root: Option<PathBuf>, cert: &Path, key: &Path) -> TlsSettings {
        TlsSettings {
            mode,
            root_cert: root,
            client_cert: Some(ClientCertFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            }),
        }
    }

    #[test]
    fn a_client_certificate_goes_with_its_own_key_only() {
        let dir = tempfile::tempdir().expect("dir");
        let mine = rcgen::generate_simple_self_signed(vec!["qm".into()]).expect("cert");
        let other = rcgen::generate_simple_self_signed(vec!["qm".into()]).expect("cert");
        let cert = write(dir.path(), "client.crt", &mine.cert.pem());
        let key = write(dir.path(), "client.key", &mine.key_pair.serialize_pem());
        let wrong_key = write(dir.path(), "other.key", &other.key_pair.serialize_pem());
        let root = Some(cert.clone());
        assert!(settings(SslMode::VerifyFull, root.clone(), &cert, &key)
            .connector()
            .is_ok());
        let err = settings(SslMode::Require, root, &cert, &wrong_key)
            .connector()
            .err()
            .expect("a key that is not the certificate's");
        assert!(
            err.contains("sslcert") && err.contains("client.crt") && err.contains("other.key"),
            "{err}"
        );
        assert!(!err.contains("PRIVATE"), "{err}");
    }

    #[test]
    fn a_missing_root_file_is_named() {
        let err = TlsSettings {
            mode: SslMode::VerifyCa,
            root_cert: Some("/nonexistent/qm-ca.pem".into()),
            client_cert: None,
        }
        .connector()
        .err()
        .expect("missing");
        assert!(
            err.starts_with("sslrootcert /nonexistent/qm-ca.pem:"),
            "{err}"
        );
    }
}
