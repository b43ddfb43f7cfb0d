//! XChaCha20-Poly1305 with a random 24-byte nonce per message and the storage
//! key as associated data, so a ciphertext moved to another key fails to open.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

const NONCE_LEN: usize = 24;

/// Encrypts `plaintext` under `key`, binding it to `aad`. Output: nonce || ciphertext.
pub(crate) fn seal(key: &[u8; 32], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut out = nonce.to_vec();
    // Encryption only fails for messages beyond the cipher's length limit (256 GiB).
    let ciphertext = cipher
        .encrypt(
            XNonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .unwrap_or_default();
    out.extend_from_slice(&ciphertext);
    out
}

/// Decrypts nonce || ciphertext; `None` when the data was altered, moved to
/// another key, or encrypted under another key.
pub(crate) fn open(key: &[u8; 32], aad: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    XChaCha20Poly1305::new(key.into())
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_tampering_and_moves() {
        let key = [7u8; 32];
        let sealed = seal(&key, b"secret/a", b"marker");
        assert_eq!(
            open(&key, b"secret/a", &sealed).as_deref(),
            Some(&b"marker"[..])
        );
        assert!(
            open(&key, b"secret/b", &sealed).is_none(),
            "moved value must not open"
        );
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(
            open(&key, b"secret/a", &flipped).is_none(),
            "flipped byte must not open"
        );
        assert!(open(&[8u8; 32], b"secret/a", &sealed).is_none());
        assert!(open(&key, b"secret/a", &sealed[..5]).is_none());
        assert_ne!(
            seal(&key, b"k", b"same"),
            seal(&key, b"k", b"same"),
            "fresh nonce per write"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1000))]

        /// Arbitrary bytes never open, and neither does a sealed record
        /// with any one byte flipped: a tampered record is an error, never
        /// a wrong value or a panic.
        #[test]
        fn arbitrary_or_flipped_records_never_open(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            plain in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..100),
            at in proptest::prelude::any::<usize>(),
            bit in 0u8..8,
        ) {
            let key = [7u8; 32];
            proptest::prop_assert!(open(&key, b"sys/x", &bytes).is_none());
            let mut sealed = seal(&key, b"sys/x", &plain);
            let at = at.checked_rem(sealed.len()).unwrap_or(0);
            sealed[at] ^= 1 << bit;
            proptest::prop_assert!(open(&key, b"sys/x", &sealed).is_none());
        }
    }
}
