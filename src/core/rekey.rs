//! Rekey: new unseal keys (`sys/rekey/*`) or new recovery keys
//! (`sys/rekey-recovery-key/*`), authorized by a threshold of the current
//! ones, as Vault's. With `require_verification`, the new keys take effect
//! only once a threshold of them has been entered back (`.../verify`), so
//! a mistyped or lost handout never locks the store.
//!
//! Under an auto seal, a barrier rekey has no keys to hand out: the
//! recovery keys authorize a new KEK, wrapped by the seal.
//!
//! Each key change writes the new key and the seal configuration that
//! describes it in one atomic write. Attempts live in memory only.

use super::key_shares::{self, base64_all, hex_all, ShareProgress};
use super::lifecycle::check_shares;
use super::Core;
use crate::barrier::seal::{self, SealConfig, SealKind, RECOVERY_KEY_PATH};
use crate::barrier::Write;
use crate::error::ApiError;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// Which keys a rekey replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RekeyTarget {
    /// The unseal keys (under an auto seal: the KEK itself).
    Barrier,
    /// An auto seal's recovery keys.
    Recovery,
}

impl RekeyTarget {
    fn name(self) -> &'static str {
        match self {
            Self::Barrier => "barrier",
            Self::Recovery => "recovery",
        }
    }
}

/// A rekey in progress.
pub(super) struct RekeyAttempt {
    new_shares: u8,
    new_threshold: u8,
    require_verification: bool,
    /// The current keys entered so far.
    progress: ShareProgress,
    /// The new key, handed out and waiting for verification.
    pending: Option<PendingKey>,
}

struct PendingKey {
    key: Zeroizing<[u8; 32]>,
    /// The new keys entered back so far; its nonce is the verification nonce.
    verify: ShareProgress,
}

/// What `sys/rekey/init` asks for.
pub struct RekeyParams {
    pub secret_shares: u8,
    pub secret_threshold: u8,
    pub require_verification: bool,
}

impl Core {
    fn rekey_slot(&self, target: RekeyTarget) -> &tokio::sync::Mutex<Option<RekeyAttempt>> {
        match target {
            RekeyTarget::Barrier => &self.ceremonies.rekey_barrier,
            RekeyTarget::Recovery => &self.ceremonies.rekey_recovery,
        }
    }

    async fn rekey_config(&self, target: RekeyTarget) -> Result<SealConfig, ApiError> {
        if self.is_sealed() {
            return Err(ApiError::Sealed);
        }
        let config = self
            .seal_config()
            .await?
            .ok_or_else(|| ApiError::bad("server is not yet initialized"))?;
        match (target, config.kind) {
            (RekeyTarget::Recovery, kind) if !kind.is_auto() => {
                Err(ApiError::bad("recovery rekeying not supported"))
            }
            (RekeyTarget::Barrier, SealKind::Passphrase) => Err(ApiError::bad(
                "the passphrase seal has no key shares to rekey",
            )),
            _ => Ok(config),
        }
    }

    /// The attempt's status (`GET sys/rekey/init`).
    pub async fn rekey_status(&self, target: RekeyTarget) -> Result<Value, ApiError> {
        let config = self.rekey_config(target).await?;
        let attempt = self.rekey_slot(target).lock().await;
        Ok(rekey_status(attempt.as_ref(), &config))
    }

    /// Starts a rekey to `params` new shares.
    pub async fn rekey_start(
        &self,
        target: RekeyTarget,
        params: RekeyParams,
    ) -> Result<Value, ApiError> {
        let config = self.rekey_config(target).await?;
        let auto_barrier = target == RekeyTarget::Barrier && config.kind.is_auto();
        let (shares, threshold) = match auto_barrier {
            // Nothing to hand out: the seal wraps the new KEK.
            true if params.require_verification => {
                return Err(ApiError::bad(
                    "requiring verification not supported when rekeying the barrier key with recovery keys",
                ))
            }
            true => (0, 0),
            false => {
                check_shares(params.secret_shares, params.secret_threshold, "secret")?;
                (params.secret_shares, params.secret_threshold)
            }
        };
        let mut slot = self.rekey_slot(target).lock().await;
        if slot.is_some() {
            return Err(ApiError::bad("rekey already in progress"));
        }
        *slot = Some(RekeyAttempt {
            new_shares: shares,
            new_threshold: threshold,
            require_verification: params.require_verification,
            progress: ShareProgress {
                nonce: uuid::Uuid::new_v4().to_string(),
                shares: Vec::new(),
            },
            pending: None,
        });
        tracing::warn!(target = target.name(), "rekey: an attempt was started");
        Ok(rekey_status(slot.as_ref(), &config))
    }

    /// Ends the attempt (the current keys stay valid).
    pub async fn rekey_cancel(&self, target: RekeyTarget) -> Result<(), ApiError> {
        self.rekey_config(target).await?;
        *self.rekey_slot(target).lock().await = None;
        Ok(())
    }

    /// Adds one current key; at the threshold, makes the new key and
    /// hands out its shares (applied now, or after verification).
    pub async fn rekey_update(
        &self,
        target: RekeyTarget,
        key: &str,
        nonce: &str,
    ) -> Result<Value, ApiError> {
        let config = self.rekey_config(target).await?;
        self.shares_gate_open().await?;
        let share = key_shares::parse(&config, key)?;
        let mut slot = self.rekey_slot(target).lock().await;
        let attempt = slot
            .as_mut()
            .ok_or_else(|| ApiError::bad(format!("no {} rekey in progress", target.name())))?;
        if let Some(pending) = &attempt.pending {
            return Err(ApiError::bad(format!(
                "rekey operation already finished; verification must be performed; \
                 nonce for the verification operation is {:?}",
                pending.verify.nonce
            )));
        }
        attempt.progress.check(&share, nonce, "rekey")?;
        let Some(shares) = attempt.progress.add(share, key_shares::required(&config)) else {
            return Ok(rekey_status(Some(attempt), &config));
        };
        self.check_shares(&config, shares).await?;
        let new_key = Zeroizing::new(crate::barrier::seal_key());
        let new_keys = match attempt.new_shares {
            0 => Vec::new(),
            n => seal::split(&new_key, n, attempt.new_threshold),
        };
        let nonce = attempt.progress.nonce.clone();
        let mut done = json!({
            "nonce": nonce,
            "complete": true,
            "keys": hex_all(&new_keys),
            "keys_base64": base64_all(&new_keys),
            "pgp_fingerprints": null,
            "backup": false,
            "verification_required": attempt.require_verification,
        });
        if attempt.require_verification {
            let verification_nonce = uuid::Uuid::new_v4().to_string();
            if let Some(done) = done.as_object_mut() {
                done.insert("verification_nonce".into(), json!(verification_nonce));
            }
            attempt.pending = Some(PendingKey {
                key: new_key,
                verify: ShareProgress {
                    nonce: verification_nonce,
                    shares: Vec::new(),
                },
            });
            return Ok(done);
        }
        let (shares, threshold) = (attempt.new_shares, attempt.new_threshold);
        self.install_new_key(target, &config, &new_key, shares, threshold)
            .await?;
        *slot = None;
        Ok(done)
    }

    /// The verification's status (`GET sys/rekey/verify`).
    pub async fn rekey_verify_status(&self, target: RekeyTarget) -> Result<Value, ApiError> {
        self.rekey_config(target).await?;
        let slot = self.rekey_slot(target).lock().await;
        let attempt = slot
            .as_ref()
            .ok_or_else(|| ApiError::bad("no rekey configuration found"))?;
        Ok(verify_status(attempt))
    }

    /// Starts the verification over with a new nonce (`DELETE sys/rekey/verify`).
    pub async fn rekey_verify_restart(&self, target: RekeyTarget) -> Result<Value, ApiError> {
        self.rekey_config(target).await?;
        let mut slot = self.rekey_slot(target).lock().await;
        let attempt = slot
            .as_mut()
            .ok_or_else(|| ApiError::bad("no rekey in progress"))?;
        if let Some(pending) = attempt.pending.as_mut() {
            pending.verify = ShareProgress {
                nonce: uuid::Uuid::new_v4().to_string(),
                shares: Vec::new(),
            };
        }
        Ok(verify_status(attempt))
    }

    /// Adds one of the new keys; at the new threshold, checks they rebuild
    /// the new key and installs it.
    pub async fn rekey_verify(
        &self,
        target: RekeyTarget,
        key: &str,
        nonce: &str,
    ) -> Result<Value, ApiError> {
        let config = self.rekey_config(target).await?;
        let share = seal::decode_share(key).map_err(ApiError::BadRequest)?;
        let mut slot = self.rekey_slot(target).lock().await;
        let attempt = slot
            .as_mut()
            .ok_or_else(|| ApiError::bad("no rekey in progress"))?;
        let threshold = attempt.new_threshold;
        let pending = attempt
            .pending
            .as_mut()
            .ok_or_else(|| ApiError::bad("no rekey verification in progress"))?;
        pending.verify.check(&share, nonce, "verify")?;
        let Some(shares) = pending.verify.add(share, threshold) else {
            return Ok(verify_status(attempt));
        };
        let rebuilt = seal::combine(&shares, threshold).ok();
        if !rebuilt.is_some_and(|k| seal::keys_equal(k.as_slice(), pending.key.as_slice())) {
            pending.verify.nonce = uuid::Uuid::new_v4().to_string();
            return Err(ApiError::bad(
                "rekey verification failed; incorrect key shares supplied",
            ));
        }
        let verification_nonce = pending.verify.nonce.clone();
        let new_key = pending.key.clone();
        let (shares, threshold) = (attempt.new_shares, attempt.new_threshold);
        self.install_new_key(target, &config, &new_key, shares, threshold)
            .await?;
        *slot = None;
        Ok(json!({ "nonce": verification_nonce, "complete": true }))
    }

    /// Makes `new_key` the KEK (or the recovery key), with the seal
    /// configuration that describes it in the same atomic write.
    async fn install_new_key(
        &self,
        target: RekeyTarget,
        config: &SealConfig,
        new_key: &[u8; 32],
        shares: u8,
        threshold: u8,
    ) -> Result<(), ApiError> {
        match target {
            RekeyTarget::Barrier if config.kind.is_auto() => {
                let auto = self.auto_seal()?;
                let wrapped = auto.wrap(new_key).await.map_err(|e| {
                    ApiError::BadGateway(format!("the {} seal: {e}", auto.kind().as_str()))
                })?;
                self.barrier.rekey(new_key, vec![wrapped.stored()]).await?;
            }
            RekeyTarget::Barrier => {
                let mut new_config = config.clone();
                new_config.secret_shares = shares;
                new_config.secret_threshold = threshold;
                self.barrier
                    .rekey(new_key, vec![new_config.stored()])
                    .await?;
            }
            RekeyTarget::Recovery => {
                let mut new_config = config.clone();
                new_config.recovery_shares = shares;
                new_config.recovery_threshold = threshold;
                self.barrier
                    .write_with_plain(
                        vec![Write::Put(RECOVERY_KEY_PATH.into(), new_key.to_vec())],
                        vec![new_config.stored()],
                    )
                    .await?;
            }
        }
        tracing::warn!(
            target = target.name(),
            shares,
            threshold,
            "rekey: new keys are in effect"
        );
        Ok(())
    }
}

fn rekey_status(attempt: Option<&RekeyAttempt>, config: &SealConfig) -> Value {
    let mut status = json!({
        "nonce": attempt.map(|a| a.progress.nonce.clone()).unwrap_or_default(),
        "started": attempt.is_some(),
        "t": attempt.map_or(0, |a| a.new_threshold),
        "n": attempt.map_or(0, |a| a.new_shares),
        "progress": attempt.map_or(0, |a| match a.pending {
            Some(_) => usize::from(key_shares::required(config)),
            None => a.progress.shares.len(),
        }),
        "required": key_shares::required(config),
        "pgp_fingerprints": null,
        "backup": false,
        "verification_required": attempt.is_some_and(|a| a.require_verification),
    });
    if let (Some(pending), Some(status)) = (
        attempt.and_then(|a| a.pending.as_ref()),
        status.as_object_mut(),
    ) {
        status.insert("verification_nonce".into(), json!(pending.verify.nonce));
    }
    status
}

fn verify_status(attempt: &RekeyAttempt) -> Value {
    json!({
        "nonce": attempt.pending.as_ref().map(|p| p.verify.nonce.clone()).unwrap_or_default(),
        "started": attempt.pending.is_some(),
        "t": attempt.new_threshold,
        "n": attempt.new_shares,
        "progress": attempt.pending.as_ref().map_or(0, |p| p.verify.shares.len()),
    })
}
