//! Auto-unseal: a seal that holds the key-encryption key (KEK) wrapped by a
//! key the operator keeps elsewhere (AWS KMS, or a static key on disk), so a
//! restarted node unseals itself. The wrapped KEK is stored unencrypted at
//! `core/seal-wrapped-key`: it is ciphertext only the outside key opens.
//!
//! With an auto seal, people hold *recovery keys* instead of unseal keys:
//! Shamir shares of a separate random key kept inside the barrier, which
//! authorize rekey and generate-root but cannot decrypt anything.

mod awskms;
mod static_key;

pub use awskms::AwsKmsSeal;
pub use static_key::StaticSeal;

use super::seal::SealKind;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Where the wrapped KEK is stored (plain: it is ciphertext).
pub const WRAPPED_KEY_PATH: &str = "core/seal-wrapped-key";

/// The KEK as the outside key wrapped it, and which key did.
#[derive(Clone, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The KMS key id or the static key's id.
    pub key_id: String,
    /// base64 of the ciphertext.
    pub ciphertext: String,
}

impl WrappedKey {
    /// The write that stores this wrapped key (outside the encryption).
    pub fn stored(&self) -> crate::storage::Change {
        crate::storage::Change::Put(
            WRAPPED_KEY_PATH.into(),
            serde_json::to_vec(self).unwrap_or_default(),
        )
    }
}

/// Why the outside key could not wrap or unwrap (the message names the
/// key and the cause, never key material).
#[derive(Debug, thiserror::Error)]
pub enum AutoSealError {
    #[error("{0}")]
    Config(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Refused(String),
}

/// A key outside the store that wraps and unwraps the KEK.
#[async_trait::async_trait]
pub trait AutoSeal: Send + Sync {
    fn kind(&self) -> SealKind;

    /// Wraps `kek`.
    async fn wrap(&self, kek: &[u8; 32]) -> Result<WrappedKey, AutoSealError>;

    /// Unwraps a KEK this seal (or its key under another id) wrapped.
    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<[u8; 32]>, AutoSealError>;
}

/// The AEAD's associated data: a wrapped key moved anywhere else fails.
const WRAP_AAD: &[u8] = b"quartermaster seal-wrapped-key";

fn into_key(bytes: &[u8], what: &str) -> Result<Zeroizing<[u8; 32]>, AutoSealError> {
    let mut key = Zeroizing::new([0u8; 32]);
    if bytes.len() != key.len() {
        return Err(AutoSealError::Refused(format!(
            "{what}: the unwrapped key is {} bytes, not 32",
            bytes.len()
        )));
    }
    key.copy_from_slice(bytes);
    Ok(key)
}
