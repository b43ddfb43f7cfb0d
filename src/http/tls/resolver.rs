//! The listener's certificate, swappable while serving: every handshake
//! asks [`Reloadable`] for the current pair, and a reload replaces it only
//! once the new files have parsed and their key matches their certificate,
//! so a half-written or wrong pair never reaches a client (as Vault keeps
//! its old certificate when a reload fails).

use super::pem;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::io::{Error, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

/// The current certificate and key, loaded from two PEM files.
///
/// A std `RwLock` rather than `arc-swap`: handshakes only clone an `Arc`
/// under the read lock, reloads are rare (SIGHUP), and it needs no new
/// dependency.
pub(super) struct Reloadable {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Reloadable {
    pub(super) fn load(
        cert_file: &Path,
        key_file: &Path,
        provider: Arc<CryptoProvider>,
    ) -> std::io::Result<Self> {
        let current = certified_key(cert_file, key_file, &provider)?;
        Ok(Self {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// The certificate chain served now.
    pub(super) fn chain(&self) -> Vec<rustls::pki_types::CertificateDer<'static>> {
        self.current().cert.clone()
    }

    /// Reads both files again and serves them from the next handshake on;
    /// on any error the old pair stays.
    pub(super) fn reload(&self) -> std::io::Result<()> {
        let fresh = Arc::new(certified_key(
            &self.cert_file,
            &self.key_file,
            &self.provider,
        )?);
        // A panic while holding the lock cannot leave a half-written Arc.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = fresh;
        Ok(())
    }

    fn current(&self) -> Arc<CertifiedKey> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// Parses the pair and checks that the key belongs to the certificate.
fn certified_key(
    cert_file: &Path,
    key_file: &Path,
    provider: &CryptoProvider,
) -> std::io::Result<CertifiedKey> {
    let certs = pem::certs(cert_file)?;
    let key = pem::private_key(key_file)?;
    let signing_key = provider.key_provider.load_private_key(key).map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!("{}: unusable private key: {e}", key_file.display()),
        )
    })?;
    let pair = CertifiedKey::new(certs, signing_key);
    // Unlike `CertifiedKey::from_der`, "cannot tell" is refused too: a
    // reload must prove the pair before it replaces a working one.
    pair.keys_match().map_err(|e| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "{} does not belong to {}: {e}",
                key_file.display(),
                cert_file.display()
            ),
        )
    })?;
    Ok(pair)
}

impl ResolvesServerCert for Reloadable {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Names the files only: the key stays out of every `Debug`.
impl std::fmt::Debug for Reloadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloadable")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}
