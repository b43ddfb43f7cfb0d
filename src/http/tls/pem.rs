//! Reading the listener's PEM files. Errors name the file and the cause,
//! never its contents: a key file's bytes must not reach a log.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufReader, Error, ErrorKind};
use std::path::Path;

fn open(path: &Path) -> std::io::Result<BufReader<std::fs::File>> {
    std::fs::File::open(path)
        .map(BufReader::new)
        .map_err(|e| Error::new(e.kind(), format!("opening {}: {e}", path.display())))
}

fn invalid(path: &Path, cause: impl std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidData,
        format!("reading {}: {cause}", path.display()),
    )
}

/// Every certificate in `path`, in order; at least one.
pub(super) fn certs(path: &Path) -> std::io::Result<Vec<CertificateDer<'static>>> {
    let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<_, _>>()
        .map_err(|e| invalid(path, e))?;
    if certs.is_empty() {
        return Err(invalid(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

/// The first private key in `path`.
pub(super) fn private_key(path: &Path) -> std::io::Result<PrivateKeyDer<'static>> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|e| invalid(path, e))?
        .ok_or_else(|| invalid(path, "no PEM private key in it"))
}
