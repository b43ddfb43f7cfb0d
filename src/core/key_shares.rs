//! Key shares entered one at a time toward a threshold (unseal,
//! generate-root, rekey), and the check that a full set is this store's:
//! the unseal keys (or the passphrase) must rebuild the KEK the barrier is
//! open with; under an auto seal, the recovery keys must rebuild the stored
//! recovery key.

use super::Core;
use crate::barrier::seal::{self, SealConfig, SealKind};
use crate::error::ApiError;
use zeroize::Zeroizing;

/// Shares entered so far in one attempt, and the attempt's nonce.
#[derive(Default)]
pub(super) struct ShareProgress {
    pub(super) nonce: String,
    pub(super) shares: Vec<Zeroizing<Vec<u8>>>,
}

impl ShareProgress {
    /// Adds `share` and returns every share once `threshold` are in
    /// (clearing the shares, keeping the nonce). A share entered twice
    /// counts once.
    pub(super) fn add(
        &mut self,
        share: Zeroizing<Vec<u8>>,
        threshold: u8,
    ) -> Option<Vec<Zeroizing<Vec<u8>>>> {
        if !self.contains(&share) {
            self.shares.push(share);
        }
        if self.nonce.is_empty() {
            self.nonce = uuid::Uuid::new_v4().to_string();
        }
        if self.shares.len() < usize::from(threshold) {
            return None;
        }
        Some(std::mem::take(&mut self.shares))
    }

    fn contains(&self, share: &[u8]) -> bool {
        self.shares.iter().any(|s| s.as_slice() == share)
    }

    /// Refuses, with Vault's messages, a share offered under another
    /// attempt's nonce or offered twice.
    pub(super) fn check(&self, share: &[u8], nonce: &str, operation: &str) -> Result<(), ApiError> {
        if nonce != self.nonce {
            return Err(ApiError::bad(format!(
                "incorrect nonce supplied; nonce for this {operation} operation is {:?}",
                self.nonce
            )));
        }
        if self.contains(share) {
            return Err(ApiError::bad(format!(
                "given key has already been provided during this {operation} operation"
            )));
        }
        Ok(())
    }
}

/// How many shares authorize an operation on a store sealed as `config`.
pub(super) fn required(config: &SealConfig) -> u8 {
    match config.kind {
        kind if kind.is_auto() => config.recovery_threshold,
        SealKind::Passphrase => 1,
        _ => config.secret_threshold,
    }
}

/// One key as an operator pastes it: a share in hex or base64, or under
/// the passphrase seal the passphrase itself.
pub(super) fn parse(config: &SealConfig, key: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad(
            "'key' must be specified in request body as JSON",
        ));
    }
    match config.kind {
        SealKind::Passphrase => Ok(Zeroizing::new(key.as_bytes().to_vec())),
        _ => seal::decode_share(key).map_err(ApiError::BadRequest),
    }
}

/// Shares as Vault prints them: hex.
pub(super) fn hex_all(keys: &[Zeroizing<Vec<u8>>]) -> Vec<String> {
    keys.iter().map(|k| hex::encode(k.as_slice())).collect()
}

/// Shares as Vault prints them: standard base64.
pub(super) fn base64_all(keys: &[Zeroizing<Vec<u8>>]) -> Vec<String> {
    use base64::Engine as _;
    keys.iter()
        .map(|k| base64::engine::general_purpose::STANDARD.encode(k.as_slice()))
        .collect()
}

impl Core {
    /// Checks that `shares` (a full set) are this store's unseal keys, or
    /// its recovery keys under an auto seal. A failure counts against the
    /// unseal gate, as a wrong unseal key does.
    pub(super) async fn check_shares(
        &self,
        config: &SealConfig,
        shares: Vec<Zeroizing<Vec<u8>>>,
    ) -> Result<(), ApiError> {
        let mut gate = self.unseal_gate.lock().await;
        let checked = self.shares_match(config, shares).await;
        match &checked {
            Ok(()) => gate.succeeded(),
            Err(_) => gate.failed(std::time::Instant::now()),
        }
        checked
    }

    /// Refuses (429) while failed attempts have the unseal gate closed.
    pub(super) async fn shares_gate_open(&self) -> Result<(), ApiError> {
        let gate = self.unseal_gate.lock().await;
        match gate.wait(std::time::Instant::now()) {
            Some(wait) => Err(ApiError::TooManyRequests(format!(
                "too many failed key attempts: try again in {} s",
                wait.as_secs().max(1)
            ))),
            None => Ok(()),
        }
    }

    async fn shares_match(
        &self,
        config: &SealConfig,
        shares: Vec<Zeroizing<Vec<u8>>>,
    ) -> Result<(), ApiError> {
        let threshold = required(config);
        match config.kind {
            SealKind::Passphrase => {
                let kdf = config.kdf.clone().ok_or_else(|| {
                    ApiError::Internal("seal configuration lacks its KDF salt".into())
                })?;
                let passphrase = shares
                    .into_iter()
                    .next()
                    .map(|p| Zeroizing::new(String::from_utf8_lossy(&p).into_owned()))
                    .unwrap_or_default();
                let kek = tokio::task::spawn_blocking(move || {
                    seal::derive_from_passphrase(&passphrase, &kdf)
                })
                .await
                .map_err(|_| ApiError::Internal("the key derivation did not finish".into()))?
                .map_err(ApiError::Internal)?;
                self.kek_is_current(&kek)
            }
            kind if kind.is_auto() => {
                let key = seal::combine(&shares, threshold).map_err(ApiError::BadRequest)?;
                self.check_recovery_key(&key).await
            }
            _ => {
                let kek = seal::combine(&shares, threshold).map_err(ApiError::BadRequest)?;
                self.kek_is_current(&kek)
            }
        }
    }

    fn kek_is_current(&self, kek: &[u8; 32]) -> Result<(), ApiError> {
        match self.barrier.kek_matches(kek) {
            true => Ok(()),
            false => Err(ApiError::bad(
                "root key verification failed: the key(s) are not this store's unseal keys",
            )),
        }
    }
}
