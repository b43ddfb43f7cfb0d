//! The seal: how operators hold the key-encryption key (KEK) that opens the
//! keyring. Shamir shares (any `threshold` of `shares` rebuild it), a
//! passphrase stretched by argon2id, or an auto seal (AWS KMS or a static
//! key, see [`super::autoseal`]) with Shamir *recovery* shares beside it.
//! The configuration is stored unencrypted at `core/seal-config`; it holds
//! no secret.
//!
//! Shamir sharing is `blahaj` (the maintained fork of `sharks` 0.5): the same
//! GF(256) arithmetic and the same share bytes (`[x][y_1..y_32]`), so keys
//! handed out before the switch still combine; unlike `sharks` 0.5 it draws
//! polynomial coefficients from all of GF(256) (zero included, RUSTSEC-2024-0398)
//! and zeroizes shares and field elements on drop.

use base64::Engine as _;
use blahaj::{Share, Sharks};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

pub const SEAL_CONFIG_PATH: &str = "core/seal-config";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SealKind {
    Shamir,
    Passphrase,
    Awskms,
    Static,
}

impl SealKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shamir => "shamir",
            Self::Passphrase => "passphrase",
            Self::Awskms => "awskms",
            Self::Static => "static",
        }
    }

    /// Whether the KEK is held by a key outside the store (the node
    /// unseals itself; people hold recovery keys).
    pub fn is_auto(self) -> bool {
        matches!(self, Self::Awskms | Self::Static)
    }
}

/// Where an auto seal's recovery key is kept (inside the barrier).
pub const RECOVERY_KEY_PATH: &str = "core/recovery-key";

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
    /// Auto seals: the recovery key's shares and threshold.
    #[serde(default)]
    pub recovery_shares: u8,
    #[serde(default)]
    pub recovery_threshold: u8,
}

impl SealConfig {
    /// The write that stores this configuration (outside the encryption).
    pub fn stored(&self) -> crate::storage::Change {
        crate::storage::Change::Put(
            SEAL_CONFIG_PATH.into(),
            serde_json::to_vec(self).unwrap_or_default(),
        )
    }
}

/// Whether two keys are equal, in time that does not depend on where
/// they differ.
pub fn keys_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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

/// A new random salt and the argon2id costs for new stores: 64 MiB, t=3,
/// p=1 (above OWASP's argon2id minimum of 19 MiB, t=2, which stores made
/// before keep: their costs are read from their own seal configuration).
pub fn new_kdf_params() -> KdfParams {
    let salt: [u8; 16] = rand::random();
    KdfParams {
        salt_hex: hex::encode(salt),
        memory_kib: 64 * 1024,
        iterations: 3,
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

    /// Shares that `sharks` 0.5 dealt (before the switch to `blahaj`) for a
    /// known key: any three of them still rebuild it.
    #[test]
    fn shares_dealt_by_sharks_0_5_still_combine() {
        let kek = hex::decode("0b30557a9fc4e90e33587da2c7ec11365b80a5caef14395e83a8cdf2173c6186")
            .unwrap();
        let old = [
            "017d7f60ad3d242a01df1e5479f40bae80f8018a570d391b794b5a15e20d72bfaf",
            "02508813b8692935e48b4baa4f8b249211370236b6e72c013d1c83afd8db3f587e",
            "0326c7266fcbc9f6eb670d8394b8c32da79483192b0501231ad47177c8c1718657",
            "045bc5693ae8c34d30b738e060f70dad3d5fd78d439cf1a42ce891128e557c49f9",
            "052d8a5ced4a238e3f5b7ec9bbc4ea128bfc56a2de7edc860b2063ca9e4f3297d0",
        ];
        let shares: Vec<_> = old.iter().map(|s| decode_share(s).unwrap()).collect();
        for picked in [[0, 1, 2], [4, 2, 0], [1, 3, 4]] {
            let subset: Vec<_> = picked.iter().map(|&i| shares[i].clone()).collect();
            assert_eq!(combine(&subset, 3).unwrap().as_slice(), kek.as_slice());
        }
    }

    /// `sharks` 0.5 never drew a zero coefficient, so with threshold 2 the
    /// share at x=1 (`a*1 + s`) never equalled the secret byte: a leak. A
    /// uniform draw gives a zero for about 1 byte in 256.
    #[test]
    fn coefficients_are_uniform_including_zero() {
        let kek = [0x5au8; 32];
        let equal = (0..256)
            .map(|_| {
                let shares = split(&kek, 2, 2);
                let first = &shares[0];
                assert_eq!(first[0], 1, "the first share is at x = 1");
                first[1..]
                    .iter()
                    .zip(kek)
                    .filter(|(y, s)| **y == *s)
                    .count()
            })
            .sum::<usize>();
        assert!(equal > 0, "no zero coefficient in 8192 draws");
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
    fn new_stores_get_at_least_64_mib_and_three_passes() {
        let params = new_kdf_params();
        assert!(params.memory_kib >= 64 * 1024);
        assert!(params.iterations >= 3);
    }

    /// A seal configuration written with the earlier costs (19 MiB, t=2)
    /// still derives with those costs, not the new defaults.
    #[test]
    fn earlier_seal_configs_keep_their_costs() {
        let stored = r#"{"type":"passphrase","secret_shares":1,"secret_threshold":1,
            "kdf":{"salt_hex":"000102030405060708090a0b0c0d0e0f","memory_kib":19456,
            "iterations":2,"parallelism":1}}"#;
        let config: SealConfig = serde_json::from_str(stored).unwrap();
        let kdf = config.kdf.unwrap();
        assert_eq!((kdf.memory_kib, kdf.iterations), (19 * 1024, 2));
        let kek = derive_from_passphrase("correct horse battery staple", &kdf).unwrap();
        assert_eq!(
            hex::encode(*kek),
            "818259b6310026a8e0dbac5d2e6927abcfdb07b32258fac4f61b18b80f929085"
        );
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
