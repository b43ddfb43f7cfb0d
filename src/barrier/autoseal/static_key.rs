//! The static seal (as OpenBao's): a 32-byte key the operator provides, from
//! a file or an environment variable, wraps the KEK with XChaCha20-Poly1305.
//! For sites without a KMS; the key must be kept apart from the storage.
//!
//! ```toml
//! [seal]
//! type = "static"
//! current_key_id = "2026-12"
//! current_key = "file:///etc/qm/unseal.key"   # or "env://QM_STATIC_SEAL_KEY"
//! ```
//!
//! The key is 32 bytes: raw, 64 hex digits, or base64.

use super::{into_key, AutoSeal, AutoSealError, WrappedKey, WRAP_AAD};
use crate::barrier::aead;
use crate::barrier::seal::SealKind;
use base64::Engine as _;
use zeroize::Zeroizing;

pub struct StaticSeal {
    key_id: String,
    key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for StaticSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticSeal")
            .field("key_id", &self.key_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl StaticSeal {
    /// Reads the key named by `source` (`file://PATH` or `env://VAR`).
    pub fn load(key_id: &str, source: &str) -> Result<Self, AutoSealError> {
        if key_id.is_empty() {
            return Err(AutoSealError::Config(
                "seal.current_key_id: required by the static seal".into(),
            ));
        }
        let text = read_source(source)?;
        let key = decode_key(&text)?;
        Ok(Self {
            key_id: key_id.to_string(),
            key,
        })
    }
}

fn read_source(source: &str) -> Result<Zeroizing<Vec<u8>>, AutoSealError> {
    if let Some(path) = source.strip_prefix("file://") {
        return std::fs::read(path)
            .map(Zeroizing::new)
            .map_err(|e| AutoSealError::Config(format!("seal.current_key: reading {path}: {e}")));
    }
    if let Some(var) = source.strip_prefix("env://") {
        return std::env::var(var)
            .map(|v| Zeroizing::new(v.into_bytes()))
            .map_err(|_| {
                AutoSealError::Config(format!(
                    "seal.current_key: the environment variable {var} is not set"
                ))
            });
    }
    Err(AutoSealError::Config(
        "seal.current_key: must be file://PATH or env://VARIABLE (the key itself never goes in the config file)".into(),
    ))
}

/// 32 raw bytes, 64 hex digits or base64 of 32 bytes (surrounding
/// whitespace ignored).
fn decode_key(bytes: &[u8]) -> Result<Zeroizing<[u8; 32]>, AutoSealError> {
    if bytes.len() == 32 {
        return into_key(bytes, "the static seal key");
    }
    let text = std::str::from_utf8(bytes).unwrap_or("").trim();
    let decoded = hex::decode(text)
        .ok()
        .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
        .map(Zeroizing::new)
        .filter(|d| d.len() == 32)
        .ok_or_else(|| {
            AutoSealError::Config(
                "seal.current_key: the key must be 32 bytes (raw, 64 hex digits or base64)".into(),
            )
        })?;
    into_key(&decoded, "the static seal key")
}

#[async_trait::async_trait]
impl AutoSeal for StaticSeal {
    fn kind(&self) -> SealKind {
        SealKind::Static
    }

    async fn wrap(&self, kek: &[u8; 32]) -> Result<WrappedKey, AutoSealError> {
        let sealed = aead::seal(&self.key, WRAP_AAD, kek);
        Ok(WrappedKey {
            key_id: self.key_id.clone(),
            ciphertext: base64::engine::general_purpose::STANDARD.encode(sealed),
        })
    }

    async fn unwrap(&self, wrapped: &WrappedKey) -> Result<Zeroizing<[u8; 32]>, AutoSealError> {
        let sealed = base64::engine::general_purpose::STANDARD
            .decode(&wrapped.ciphertext)
            .map_err(|_| AutoSealError::Refused("the stored wrapped key is not base64".into()))?;
        let plain = aead::open(&self.key, WRAP_AAD, &sealed)
            .map(Zeroizing::new)
            .ok_or_else(|| {
                AutoSealError::Refused(format!(
                    "the static seal key {:?} does not open the stored key (wrapped by key {:?})",
                    self.key_id, wrapped.key_id
                ))
            })?;
        into_key(&plain, "the static seal")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seal_from_env(var: &str, value: &str) -> StaticSeal {
        std::env::set_var(var, value);
        StaticSeal::load("k1", &format!("env://{var}")).unwrap()
    }

    #[tokio::test]
    async fn wraps_and_unwraps_with_the_same_key_only() {
        let seal = seal_from_env("QM_TEST_STATIC_A", &"ab".repeat(32));
        let kek = [7u8; 32];
        let wrapped = seal.wrap(&kek).await.unwrap();
        assert_eq!(*seal.unwrap(&wrapped).await.unwrap(), kek);
        let other = seal_from_env("QM_TEST_STATIC_B", &"cd".repeat(32));
        let err = other.unwrap(&wrapped).await.err().unwrap().to_string();
        assert!(err.contains("does not open"), "{err}");
    }

    #[test]
    fn keys_decode_from_hex_base64_and_raw_and_nothing_else() {
        let b64 = base64::engine::general_purpose::STANDARD.encode([1u8; 32]);
        assert_eq!(*decode_key(b64.as_bytes()).unwrap(), [1u8; 32]);
        assert_eq!(*decode_key(&[2u8; 32]).unwrap(), [2u8; 32]);
        assert_eq!(
            *decode_key(format!("{}\n", "03".repeat(32)).as_bytes()).unwrap(),
            [3u8; 32]
        );
        assert!(decode_key(b"too short").is_err());
        assert!(StaticSeal::load("k", "/etc/key").is_err());
        assert!(StaticSeal::load("", "env://X").is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let seal = seal_from_env("QM_TEST_STATIC_C", &"ef".repeat(32));
        let shown = format!("{seal:?}");
        assert!(!shown.contains("239") && !shown.contains("efef"), "{shown}");
        assert!(shown.contains("redacted"));
    }
}
