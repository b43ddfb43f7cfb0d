//! Keyed fingerprints: what discovery keeps of a secret instead of the
//! secret. HMAC-SHA-256 under a key of this store's (random, kept in the
//! barrier), cut to 128 bits: the same secret found by two connectors
//! gives the same fingerprint, and no one without the key can test a guess
//! against a fingerprint.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The fingerprint key. No `Debug`: it is key material.
pub struct FingerprintKey(Zeroizing<[u8; 32]>);

impl FingerprintKey {
    pub fn generate() -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, key.as_mut_slice());
        Self(key)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let bytes = Zeroizing::new(hex::decode(text).ok()?);
        let key: [u8; 32] = bytes.as_slice().try_into().ok()?;
        Some(Self(Zeroizing::new(key)))
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_slice())
    }

    /// The fingerprint of `secret` (32 hex digits).
    pub fn of(&self, secret: &str) -> String {
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(self.0.as_slice()) else {
            return String::new();
        };
        mac.update(secret.as_bytes());
        let digest = mac.finalize().into_bytes();
        hex::encode(digest.get(..16).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_secret_same_fingerprint_other_key_other_fingerprint() {
        let key = FingerprintKey::generate();
        let again = FingerprintKey::from_hex(&key.to_hex()).expect("round trip");
        assert_eq!(key.of("AKIAQ"), again.of("AKIAQ"));
        assert_eq!(key.of("AKIAQ").len(), 32);
        assert_ne!(key.of("AKIAQ"), key.of("AKIAR"));
        assert_ne!(key.of("AKIAQ"), FingerprintKey::generate().of("AKIAQ"));
        assert!(FingerprintKey::from_hex("zz").is_none());
        assert!(!key.of("AKIAQ").contains("AKIAQ"));
    }
}
