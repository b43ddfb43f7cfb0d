//! TLS for the listener, through rustls, from PEM files: the certificate
//! and key (reloaded on SIGHUP, see [`resolver`]), the lowest protocol
//! version, and optionally client certificates checked against a CA, as
//! Vault's tcp listener does.

mod pem;
mod resolver;

use resolver::Reloadable;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use std::io::{Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The lowest TLS version the listener accepts. rustls speaks no older
/// one than 1.2.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MinVersion {
    #[default]
    Tls12,
    Tls13,
}

/// What the `[listener]` says about TLS.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    pub min_version: MinVersion,
    /// Client certificates are requested and, when sent, verified
    /// against the CAs in this file.
    pub client_ca_file: Option<PathBuf>,
    /// With `client_ca_file`: a client without a valid certificate fails
    /// the handshake.
    pub require_client_cert: bool,
}

/// The listener's TLS state, shared by the server (every handshake) and
/// the SIGHUP handler (reloads).
#[derive(Debug)]
pub struct ListenerTls {
    certs: Arc<Reloadable>,
    config: rustls::ServerConfig,
}

impl ListenerTls {
    /// Reads every file; an error names the file and the cause.
    pub fn load(settings: &TlsSettings) -> std::io::Result<Arc<Self>> {
        // Named explicitly: the process-wide default is ambiguous when
        // dependencies enable more than one provider.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs = Arc::new(Reloadable::load(
            &settings.cert_file,
            &settings.key_file,
            Arc::clone(&provider),
        )?);
        let versions: &[&rustls::SupportedProtocolVersion] = match settings.min_version {
            MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            MinVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(versions)
            .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        let builder = match &settings.client_ca_file {
            Some(ca_file) => builder.with_client_cert_verifier(client_verifier(
                ca_file,
                settings.require_client_cert,
                provider,
            )?),
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_cert_resolver(Arc::clone(&certs) as _);
        Ok(Arc::new(Self { certs, config }))
    }

    /// The server config for the listener; its certificate follows reloads.
    pub(super) fn server_config(&self) -> rustls::ServerConfig {
        self.config.clone()
    }

    /// The certificates of the pair served now (as loaded, not read again).
    pub(super) fn chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.certs.chain()
    }

    /// Reads the certificate and key files again; new handshakes get them,
    /// open connections keep theirs. On error the old pair stays in use.
    pub fn reload(&self) -> std::io::Result<()> {
        self.certs.reload()
    }
}

fn client_verifier(
    ca_file: &Path,
    require: bool,
    provider: Arc<CryptoProvider>,
) -> std::io::Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for cert in pem::certs(ca_file)? {
        roots.add(cert).map_err(|e| {
            Error::new(
                ErrorKind::InvalidData,
                format!("{}: not a usable CA certificate: {e}", ca_file.display()),
            )
        })?;
    }
    let builder = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
    let builder = if require {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder.build().map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{}: {e}", ca_file.display()),
        )
    })
}
