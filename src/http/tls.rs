//! TLS for the listener, through rustls, from PEM certificate and key files.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufReader, Error, ErrorKind};
use std::path::Path;

pub(super) fn server_config(
    cert_path: &Path,
    key_path: &Path,
) -> std::io::Result<rustls::ServerConfig> {
    let open = |path: &Path| {
        std::fs::File::open(path)
            .map(BufReader::new)
            .map_err(|e| Error::new(e.kind(), format!("opening {}: {e}", path.display())))
    };
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut open(cert_path)?)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidData,
                format!("reading {}: {e}", cert_path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("{} holds no PEM certificate", cert_path.display()),
        ));
    }
    let key: PrivateKeyDer<'static> = rustls_pemfile::private_key(&mut open(key_path)?)
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidData,
                format!("reading {}: {e}", key_path.display()),
            )
        })?
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidData,
                format!("{} holds no PEM private key", key_path.display()),
            )
        })?;
    rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!("TLS certificate or key rejected: {e}"),
        )
    })
}
