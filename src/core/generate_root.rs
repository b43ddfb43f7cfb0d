//! Generate-root: a new root token from a threshold of unseal keys (or
//! recovery keys under an auto seal), for when the root token was revoked
//! or lost. As in Vault, the token never crosses the wire in the clear: it
//! is XORed with a one-time pad (OTP) the operator holds, and handed out
//! as `encoded_token` (standard base64 without padding), which
//! `bao operator generate-root -decode=... -otp=...` turns back into the
//! token.
//!
//! One attempt at a time, kept in memory only: a restart or a seal ends it.

use super::key_shares::{self, ShareProgress};
use super::Core;
use crate::auth::token::store::TOKEN_LEN;
use crate::error::ApiError;
use base64::Engine as _;
use rand::distributions::{Alphanumeric, DistString};
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// A root generation in progress.
pub(super) struct RootAttempt {
    otp: Zeroizing<String>,
    progress: ShareProgress,
}

/// What a status answer says (the same fields for every call).
pub struct RootStatus {
    pub started: bool,
    pub nonce: String,
    pub progress: usize,
    pub required: u8,
    pub complete: bool,
    pub encoded_token: String,
    /// Set only by the call that generated the OTP.
    pub otp: Zeroizing<String>,
}

impl RootStatus {
    pub fn to_json(&self) -> Value {
        json!({
            "started": self.started,
            "nonce": self.nonce,
            "progress": self.progress,
            "required": self.required,
            "complete": self.complete,
            "encoded_token": self.encoded_token,
            "encoded_root_token": self.encoded_token,
            "pgp_fingerprint": "",
            "otp": self.otp.as_str(),
            "otp_length": TOKEN_LEN,
        })
    }
}

/// XORs the token with the OTP, as Vault's `roottoken.EncodeToken`.
fn encode_token(token: &str, otp: &str) -> Result<String, ApiError> {
    if token.len() != otp.len() {
        return Err(ApiError::Internal(
            "the root token and the OTP differ in length".into(),
        ));
    }
    let xored: Zeroizing<Vec<u8>> =
        Zeroizing::new(token.bytes().zip(otp.bytes()).map(|(t, o)| t ^ o).collect());
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(xored.as_slice()))
}

impl Core {
    async fn initialized_config(&self) -> Result<crate::barrier::seal::SealConfig, ApiError> {
        if self.is_sealed() {
            return Err(ApiError::Sealed);
        }
        self.seal_config()
            .await?
            .ok_or_else(|| ApiError::bad("server is not yet initialized"))
    }

    /// The attempt's status.
    pub async fn generate_root_status(&self) -> Result<RootStatus, ApiError> {
        let config = self.initialized_config().await?;
        let attempt = self.ceremonies.generate_root.lock().await;
        Ok(status(attempt.as_ref(), key_shares::required(&config)))
    }

    /// Starts an attempt with the operator's OTP, or one made here (and
    /// returned once) when `otp` is empty.
    pub async fn generate_root_start(
        &self,
        otp: Option<&str>,
        pgp_key: Option<&str>,
    ) -> Result<RootStatus, ApiError> {
        let config = self.initialized_config().await?;
        if pgp_key.is_some_and(|k| !k.is_empty()) {
            return Err(ApiError::bad(
                "pgp_key: PGP encryption of the root token is not supported; use an OTP",
            ));
        }
        let mut attempt = self.ceremonies.generate_root.lock().await;
        if attempt.is_some() {
            return Err(ApiError::bad(
                "root generation already in progress for this namespace",
            ));
        }
        let (otp, generated) = match otp.filter(|o| !o.is_empty()) {
            Some(otp) if otp.len() != TOKEN_LEN => {
                return Err(ApiError::bad("OTP string has incorrect length"))
            }
            Some(otp) => (Zeroizing::new(otp.to_string()), false),
            None => (
                Zeroizing::new(Alphanumeric.sample_string(&mut rand::rngs::OsRng, TOKEN_LEN)),
                true,
            ),
        };
        let new = RootAttempt {
            otp: otp.clone(),
            progress: ShareProgress {
                nonce: uuid::Uuid::new_v4().to_string(),
                shares: Vec::new(),
            },
        };
        let mut answer = status(Some(&new), key_shares::required(&config));
        if generated {
            answer.otp = otp;
        }
        *attempt = Some(new);
        tracing::warn!("generate-root: an attempt was started");
        Ok(answer)
    }

    /// Ends the attempt, if any.
    pub async fn generate_root_cancel(&self) -> Result<(), ApiError> {
        self.initialized_config().await?;
        *self.ceremonies.generate_root.lock().await = None;
        Ok(())
    }

    /// Adds one key; at the threshold, checks the keys and mints the root
    /// token, encoded with the OTP.
    pub async fn generate_root_update(
        &self,
        key: &str,
        nonce: &str,
    ) -> Result<RootStatus, ApiError> {
        let config = self.initialized_config().await?;
        self.shares_gate_open().await?;
        let share = key_shares::parse(&config, key)?;
        let required = key_shares::required(&config);
        let mut slot = self.ceremonies.generate_root.lock().await;
        let attempt = slot
            .as_mut()
            .ok_or_else(|| ApiError::bad("no root generation in progress"))?;
        attempt.progress.check(&share, nonce, "root generation")?;
        let Some(shares) = attempt.progress.add(share, required) else {
            return Ok(status(Some(attempt), required));
        };
        self.check_shares(&config, shares).await.map_err(|e| {
            ApiError::bad(format!(
                "root generation aborted: unable to authenticate: {}",
                e.messages().join("; ")
            ))
        })?;
        let tokens = self.active()?.tokens.clone();
        let root = super::lifecycle::create_root_token(&tokens, None).await?;
        let encoded_token = encode_token(&root, &attempt.otp)?;
        let mut done = status(Some(attempt), required);
        done.progress = usize::from(required);
        done.complete = true;
        done.encoded_token = encoded_token;
        *slot = None;
        tracing::warn!("generate-root: a new root token was generated");
        Ok(done)
    }
}

fn status(attempt: Option<&RootAttempt>, required: u8) -> RootStatus {
    RootStatus {
        started: attempt.is_some(),
        nonce: attempt
            .map(|a| a.progress.nonce.clone())
            .unwrap_or_default(),
        progress: attempt.map_or(0, |a| a.progress.shares.len()),
        required,
        complete: false,
        encoded_token: String::new(),
        otp: Zeroizing::new(String::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The XOR and base64 as Vault's `roottoken.DecodeToken` undoes them.
    #[test]
    fn encoded_tokens_decode_with_the_otp() {
        let token = "hvs.abcdefghijklmnopqrstuvwx";
        let otp = "0123456789ABCDEFGHIJKLMNOPQR";
        let encoded = encode_token(token, otp).unwrap();
        assert!(!encoded.ends_with('='));
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(&encoded)
            .unwrap();
        let decoded: Vec<u8> = bytes.iter().zip(otp.bytes()).map(|(e, o)| e ^ o).collect();
        assert_eq!(decoded, token.as_bytes());
        assert!(encode_token(token, "short").is_err());
    }
}
