//! The server-certificate check behind each `sslmode` (see the table in
//! [`crate::tls`]): webpki's full check for `verify-full`, the chain
//! without the host name for `verify-ca` (and `require` with a root file),
//! and for `prefer` and `require` without one, none (encrypted, not
//! authenticated, as libpq). The handshake's own signatures are always
//! checked. One verifier type for all of them, so the signature checks
//! are written once.

use crate::params::{SslMode, VERIFY_NEEDS_ROOT};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::sync::Arc;

/// The verifier for `mode`, trusting `roots` (from `sslrootcert`) if given.
pub(crate) fn server_verifier(
    mode: SslMode,
    roots: Option<RootCertStore>,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, String> {
    let check = match (mode, roots) {
        (SslMode::Disable | SslMode::Prefer, _) | (SslMode::Require, None) => Check::Nothing,
        (SslMode::Require | SslMode::VerifyCa, Some(roots)) => {
            Check::Chain(webpki(roots, provider)?)
        }
        (SslMode::VerifyFull, Some(roots)) => Check::ChainAndName(webpki(roots, provider)?),
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => return Err(VERIFY_NEEDS_ROOT.into()),
    };
    Ok(Arc::new(LibpqVerifier {
        check,
        provider: Arc::clone(provider),
    }))
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, String> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|e| format!("sslrootcert: {e}"))
}

/// What the server's certificate must prove.
#[derive(Debug)]
enum Check {
    /// Nothing: encrypted, not authenticated (libpq's `prefer`, `require`).
    Nothing,
    /// A chain to the roots, for any host name (`verify-ca`).
    Chain(Arc<WebPkiServerVerifier>),
    /// A chain to the roots, naming the host (`verify-full`).
    ChainAndName(Arc<WebPkiServerVerifier>),
}

#[derive(Debug)]
struct LibpqVerifier {
    check: Check,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for LibpqVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.check {
            Check::Nothing => Ok(ServerCertVerified::assertion()),
            Check::ChainAndName(webpki) => webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
            // webpki checks the chain first and the name last: a name error
            // means the chain (validity, signatures, usage) was good.
            Check::Chain(webpki) => match webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            },
        }
    }

    // The handshake's signatures, in every mode, as webpki's verifier checks them.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
