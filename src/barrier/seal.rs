//! The seal: how operators hold the key-encryption key (KEK) that opens the
//! keyring. Either Shamir shares (any `threshold` of `shares` rebuild it) or a
//! passphrase stretched by argon2id. The configuration is stored unencrypted
//! at `core/seal-config`; it holds no secret.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sharks::{Share, Sharks};
use zeroize::Zeroizing;

pub const SEAL_CONFIG_PATH: &str = "core/seal-config";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKind {
    Shamir,
    Passphrase,
}

impl SealKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shamir => "shamir",
            Self::Passphrase => "passphrase",
        }
    }
}

/// argon2id cost parameters, kept with the salt so they can change later.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KdfParams {
    pub salt_hex: String,
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealConfig {
    #[serde(rename = "type")]
    pub kind: SealKind,
    pub secret_shares: u8,
    pub secret_threshold: u8,
    #[serde(default)]
    pub kdf: Option<KdfParams>,
}

/// Splits `kek` into `shares` Shamir shares; any `threshold` rebuild it.
pub fn split(kek: &[u8; 32], shares: u8, threshold: u8) -> Vec<Zeroizing<Vec<u8>>> {
    Sharks(threshold)
        .dealer(kek)
        .take(usize::from(shares))
        .map(|share| Zeroizing::new(Vec::from(&share)))
        .collect()
}

/// Rebuilds the KEK from shares. Wrong shares give a wrong key, which the
/// keyring's authentication then rejects.
pub fn combine(
    shares: &[Zeroizing<Vec<u8>>],
    threshold: u8,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let parsed: Result<Vec<Share>, _> = shares
        .iter()
        .map(|bytes| Share::try_from(bytes.as_slice()))
        .collect();
    let parsed = parsed.map_err(|_| "an unseal key is malformed".to_string())?;
    let secret = Zeroizing::new(
        Sharks(threshold)
            .recover(&parsed)
            .map_err(|e| format!("could not combine unseal keys: {e}"))?,
    );
    let mut kek = Zeroizing::new([0u8; 32]);
    if secret.len() != kek.len() {
        return Err("unseal keys are of the wrong length".into());
    }
    kek.copy_from_slice(&secret);
    Ok(kek)
}

/// A new random salt and the default argon2id costs.
pub fn new_kdf_params() -> KdfParams {
    let salt: [u8; 16] = rand::random();
    KdfParams {
        salt_hex: hex::encode(salt),
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    }
}

/// Stretches a passphrase into a KEK with argon2id.
pub fn derive_from_passphrase(
    passphrase: &str,
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let salt = hex::decode(&params.salt_hex).map_err(|_| "seal salt is corrupt".to_string())?;
    let argon_params = argon2::Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|e| format!("seal KDF parameters are invalid: {e}"))?;
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon_params,
    );
    let mut kek = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(passphrase.as_bytes(), &salt, kek.as_mut())
        .map_err(|e| format!("deriving the key from the passphrase failed: {e}"))?;
    Ok(kek)
}

/// Reads an unseal key as operators paste it: hex or base64.
pub fn decode_share(text: &str) -> Result<Zeroizing<Vec<u8>>, String> {
    let text = text.trim();
    if let Ok(bytes) = hex::decode(text) {
        return Ok(Zeroizing::new(bytes));
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map(Zeroizing::new)
        .map_err(|_| "'key' must be a valid hex or base64 string".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_threshold_of_shares_rebuilds_the_key() {
        let kek = [42u8; 32];
        let shares = split(&kek, 5, 3);
        assert_eq!(shares.len(), 5);
        let picked = vec![shares[4].clone(), shares[0].clone(), shares[2].clone()];
        assert_eq!(*combine(&picked, 3).unwrap(), kek);
        let too_few = vec![shares[0].clone(), shares[1].clone()];
        assert_ne!(combine(&too_few, 3).map(|k| *k).ok(), Some(kek));
    }

    #[test]
    fn one_share_is_enough_when_threshold_is_one() {
        let kek = [9u8; 32];
        let shares = split(&kek, 1, 1);
        assert_eq!(*combine(&shares, 1).unwrap(), kek);
    }

    #[test]
    fn shares_decode_from_hex_and_base64() {
        let share = Zeroizing::new(vec![1u8, 2, 3]);
        let b64 = base64::engine::general_purpose::STANDARD.encode(share.as_slice());
        assert_eq!(
            *decode_share(&hex::encode(share.as_slice())).unwrap(),
            *share
        );
        assert_eq!(*decode_share(&b64).unwrap(), *share);
        assert!(decode_share("not a key!").is_err());
    }

    #[test]
    fn passphrase_derivation_is_deterministic_per_salt() {
        let mut params = new_kdf_params();
        params.memory_kib = 64;
        params.iterations = 1;
        let a = derive_from_passphrase("correct horse", &params).unwrap();
        let b = derive_from_passphrase("correct horse", &params).unwrap();
        let c = derive_from_passphrase("wrong horse", &params).unwrap();
        assert_eq!(*a, *b);
        assert_ne!(*a, *c);
    }
}
