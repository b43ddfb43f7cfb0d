//! The keyring: every data-encryption key the barrier has ever used, by term.
//! New writes use the newest term; old values keep decrypting with theirs, so
//! rotation never rewrites data. Key bytes are zeroized on drop and never
//! printed.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// One data-encryption key and the term that names it.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct TermKey {
    pub(crate) term: u32,
    pub(crate) installed_at: i64,
    #[serde(with = "hex_key")]
    pub(crate) key: [u8; 32],
}

impl std::fmt::Debug for TermKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermKey")
            .field("term", &self.term)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// All terms, oldest first. Never empty once created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Keyring {
    pub(crate) keys: Vec<TermKey>,
}

/// A fresh random 256-bit key.
pub(crate) fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

impl Keyring {
    pub(crate) fn new(now: i64) -> Self {
        Self {
            keys: vec![TermKey {
                term: 1,
                installed_at: now,
                key: random_key(),
            }],
        }
    }

    pub(crate) fn active(&self) -> Option<&TermKey> {
        self.keys.last()
    }

    pub(crate) fn by_term(&self, term: u32) -> Option<&TermKey> {
        self.keys.iter().find(|k| k.term == term)
    }

    /// Adds a new term and makes it the active one.
    pub(crate) fn rotate(&mut self, now: i64) -> u32 {
        let term = self.active().map_or(1, |k| k.term.saturating_add(1));
        self.keys.push(TermKey {
            term,
            installed_at: now,
            key: random_key(),
        });
        term
    }
}

mod hex_key {
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub(super) fn serialize<S: Serializer>(key: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(hex::encode(key)))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = Zeroizing::new(String::deserialize(d)?);
        let mut key = [0u8; 32];
        hex::decode_to_slice(text.as_bytes(), &mut key).map_err(serde::de::Error::custom)?;
        Ok(key)
    }
}
