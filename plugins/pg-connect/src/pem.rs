//! Reading the PEM files the TLS parameters name: CA certificates
//! (`sslrootcert`), the client's certificate chain (`sslcert`) and its
//! private key (`sslkey`). Errors name the parameter and the file, never
//! what is in it (a PEM parser's message can quote the bytes it choked
//! on); the key file's bytes are wiped once parsed.

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::RootCertStore;
use std::path::Path;
use zeroize::Zeroizing;

/// The CA certificates in `path` (`sslrootcert`).
pub(crate) fn roots(path: &Path) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in certificates("sslrootcert", path)? {
        roots
            .add(cert)
            .map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    }
    Ok(roots)
}

/// The certificates in `path`, in order, at least one; `param` names the
/// file in errors.
pub(crate) fn certificates(
    param: &str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(param, path)?;
    let certs = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("{param} {}: not a valid PEM file", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{param} {}: no PEM certificate in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The private key in `path` (`sslkey`): unencrypted, and with libpq's
/// permissions.
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    check_private("sslkey", path)?;
    let pem = read("sslkey", path)?;
    let key = rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|_| format!("sslkey {}: not a valid PEM file", path.display()))?;
    match key {
        Some(key) => Ok(key),
        // PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's `Proc-Type: 4,ENCRYPTED`.
        None if contains(&pem, b"ENCRYPTED") => Err(format!(
            "sslkey {}: the key is encrypted, and sslpassword is not supported; \
             give an unencrypted key readable only by its owner",
            path.display()
        )),
        None => Err(format!(
            "sslkey {}: no PEM private key (PKCS#8, PKCS#1 or SEC1) in it",
            path.display()
        )),
    }
}

fn read(param: &str, path: &Path) -> Result<Zeroizing<Vec<u8>>, String> {
    std::fs::read(path)
        .map(Zeroizing::new)
        .map_err(|e| format!("{param} {}: {e}", path.display()))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// libpq's rule for a key file: a regular file, no access for others, and
/// none for the group unless root owns it (then the group may read it, so
/// a service's group can share a key root manages).
#[cfg(unix)]
fn check_private(param: &str, path: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).map_err(|e| format!("{param} {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{param} {}: not a regular file", path.display()));
    }
    let forbidden = if meta.uid() == 0 { 0o037 } else { 0o077 };
    if meta.mode() & forbidden != 0 {
        return Err(format!(
            "{param} {}: has group or world access; it must be u=rw (0600) or less, \
             or u=rw,g=r (0640) or less if root owns it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_param: &str, _path: &Path) -> Result<(), String> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    #[test]
    fn a_key_is_read_and_its_contents_never_shown() {
        let dir = tempfile::tempdir().expect("dir");
        let cert = rcgen::generate_simple_self_signed(vec!["qm".into()]).expect("cert");
        let key_pem = cert.key_pair.serialize_pem();
        let good = write(dir.path(), "good.key", &key_pem, 0o600);
        assert!(private_key(&good).is_ok());
        let chain = write(dir.path(), "c.pem", &cert.cert.pem(), 0o600);
        assert_eq!(certificates("sslcert", &chain).expect("chain").len(), 1);

        // Broken base64 inside a key: the message names the file only.
        let secret_line = "SECRETSECRETSECRET!!!";
        let broken = key_pem.replacen('\n', &format!("\n{secret_line}\n"), 1);
        let broken = write(dir.path(), "broken.key", &broken, 0o600);
        let err = private_key(&broken).expect_err("broken");
        assert!(
            err.contains("sslkey") && err.contains("broken.key"),
            "{err}"
        );
        assert!(!err.contains("SECRET"), "{err}");

        let encrypted = write(
            dir.path(),
            "enc.key",
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n",
            0o600,
        );
        let err = private_key(&encrypted).expect_err("encrypted");
        assert!(
            err.contains("encrypted") && err.contains("sslpassword"),
            "{err}"
        );
        assert!(!err.contains("MIIB"), "{err}");

        let err = private_key(&chain).expect_err("a certificate is no key");
        assert!(err.contains("no PEM private key"), "{err}");
        let err = private_key(&dir.path().join("missing.key")).expect_err("missing");
        assert!(
            err.contains("sslkey") && err.contains("missing.key"),
            "{err}"
        );
        let err = certificates("sslcert", &good).expect_err("a key is no certificate");
        assert!(err.contains("sslcert") && !err.contains("PRIVATE"), "{err}");
    }

    #[test]
    fn a_key_others_can_read_is_refused_as_libpq_does() {
        let dir = tempfile::tempdir().expect("dir");
        let cert = rcgen::generate_simple_self_signed(vec!["qm".into()]).expect("cert");
        let key = write(
            dir.path(),
            "open.key",
            &cert.key_pair.serialize_pem(),
            0o644,
        );
        let err = private_key(&key).expect_err("world-readable");
        assert!(err.contains("0600"), "{err}");
        // Group-readable is allowed only when root owns the file.
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let owned_by_root = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&key).expect("meta").uid() == 0
        };
        assert_eq!(private_key(&key).is_ok(), owned_by_root);
        let err = private_key(dir.path()).expect_err("a directory");
        assert!(err.contains("regular file"), "{err}");
    }
}
