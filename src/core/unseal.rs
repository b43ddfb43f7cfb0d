//! Unsealing: unseal key shares (or the passphrase) collected until the
//! threshold, an auto seal that unwraps the key by itself, and seal
//! migration between Shamir and an auto seal (`sys/unseal` with
//! `migrate=true`, as Vault's `operator unseal -migrate`).
//!
//! Migration, as in Vault:
//! - Shamir to auto: the current unseal keys open the store; the key they
//!   rebuild becomes the recovery key (so the same shares are the recovery
//!   keys from then on) and the auto seal wraps the KEK.
//! - Auto to Shamir: the recovery keys are entered; the previous seal
//!   (`[previous_seal]`) unwraps the KEK, the recovery key is checked
//!   against the one stored in the barrier and becomes the new KEK (so the
//!   recovery shares are the unseal keys from then on).
//!
//! Each step writes the new seal configuration in the same atomic write as
//! the key it describes, so a crash leaves the old seal or the new one.

use super::{Core, ShareProgress};
use crate::barrier::autoseal::{AutoSeal, WrappedKey, WRAPPED_KEY_PATH};
use crate::barrier::seal::{self, SealConfig, SealKind, RECOVERY_KEY_PATH};
use crate::barrier::{BarrierError, Write};
use crate::error::ApiError;
use crate::storage::Change;
use std::sync::Arc;
use zeroize::Zeroizing;

/// A change of seal the configuration asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migration {
    /// From Shamir unseal keys to the configured auto seal.
    ToAuto,
    /// From the stored auto seal (`[previous_seal]`) to Shamir.
    FromAuto,
}

/// The outside keys this node was configured with.
#[derive(Default, Clone)]
pub struct Seals {
    /// The configured auto seal (`[seal]` of type awskms or static).
    pub current: Option<Arc<dyn AutoSeal>>,
    /// `[previous_seal]`: the auto seal being migrated away from.
    pub previous: Option<Arc<dyn AutoSeal>>,
}

fn unavailable(kind: SealKind, e: impl std::fmt::Display) -> ApiError {
    ApiError::BadGateway(format!("the {} seal: {e}", kind.as_str()))
}

impl Core {
    /// The configured auto seal.
    pub(super) fn auto_seal(&self) -> Result<Arc<dyn AutoSeal>, ApiError> {
        self.seals.current.clone().ok_or_else(|| {
            ApiError::Internal("the configuration names an auto seal that was not set up".into())
        })
    }

    /// The migration the configuration asks of a store sealed as `stored`.
    pub fn seal_migration(&self, stored: &SealConfig) -> Result<Option<Migration>, ApiError> {
        let configured = self.settings.seal_kind;
        match (stored.kind, configured) {
            (from, to) if from == to => Ok(None),
            (SealKind::Shamir, to) if to.is_auto() => Ok(Some(Migration::ToAuto)),
            (from, SealKind::Shamir) if from.is_auto() => Ok(Some(Migration::FromAuto)),
            (from, to) => Err(ApiError::bad(format!(
                "the store is sealed with the {} seal but the configuration names {}: \
                 only migrations between shamir and an auto seal (awskms, static) are supported",
                from.as_str(),
                to.as_str()
            ))),
        }
    }

    /// Adds one unseal key (or the passphrase; under migration from an auto
    /// seal, a recovery key). Returns whether the server is now unsealed.
    /// Under an auto seal (no migration) the key is not needed: the seal
    /// unwraps the KEK itself.
    ///
    /// Attempts go through the unseal gate one at a time, and are refused
    /// (429) while failed ones have it closed (see `unseal_throttle`). The
    /// passphrase's argon2 runs on the blocking pool without the lifecycle
    /// lock, so `sys/seal-status` and the workers are not held up by it.
    pub async fn submit_unseal_key(&self, key: &str, migrate: bool) -> Result<bool, ApiError> {
        let config = self
            .seal_config()
            .await?
            .ok_or_else(|| ApiError::bad("Vault is not initialized"))?;
        let migration = self.seal_migration(&config)?;
        match (migration, migrate) {
            (Some(_), false) if !self.is_sealed() => return Ok(true),
            (Some(m), false) => {
                return Err(ApiError::bad(format!(
                    "seal migration is pending ({}): unseal with migrate=true \
                     (qm operator unseal -migrate) and the {}",
                    match m {
                        Migration::ToAuto => "from shamir to the configured auto seal",
                        Migration::FromAuto => "from the auto seal to shamir",
                    },
                    match m {
                        Migration::ToAuto => "current unseal keys",
                        Migration::FromAuto => "recovery keys",
                    }
                )))
            }
            (None, true) => {
                return Err(ApiError::bad(
                    "migrate: no seal migration is pending (the store uses the configured seal)",
                ))
            }
            _ => {}
        }
        if config.kind.is_auto() && migration.is_none() {
            return self.auto_unseal().await;
        }
        let mut gate = self.unseal_gate.lock().await;
        if !self.is_sealed() {
            return Ok(true);
        }
        if let Some(wait) = gate.wait(std::time::Instant::now()) {
            return Err(ApiError::TooManyRequests(format!(
                "too many failed unseal attempts: try again in {} s",
                wait.as_secs().max(1)
            )));
        }
        let mut recovery_key = None;
        let (mut progress, kek) = match config.kind {
            SealKind::Passphrase => {
                let kdf = config.kdf.clone().ok_or_else(|| {
                    ApiError::Internal("seal configuration lacks its KDF salt".into())
                })?;
                let passphrase = Zeroizing::new(key.to_string());
                let kek = tokio::task::spawn_blocking(move || {
                    seal::derive_from_passphrase(&passphrase, &kdf)
                })
                .await
                .map_err(|_| ApiError::Internal("the key derivation did not finish".into()))?
                .map_err(ApiError::Internal)?;
                (self.lifecycle.lock().await, kek)
            }
            kind => {
                let mut progress = self.lifecycle.lock().await;
                let share = seal::decode_share(key).map_err(ApiError::BadRequest)?;
                let threshold = match kind.is_auto() {
                    true => config.recovery_threshold,
                    false => config.secret_threshold,
                };
                let Some(shares) = progress.add(share, threshold) else {
                    return Ok(false);
                };
                *progress = ShareProgress::default();
                let combined = match seal::combine(&shares, threshold) {
                    Ok(key) => key,
                    Err(message) => {
                        gate.failed(std::time::Instant::now());
                        return Err(ApiError::BadRequest(message));
                    }
                };
                if kind.is_auto() {
                    recovery_key = Some(combined);
                    (progress, self.unwrap_stored_key(&config, true).await?)
                } else {
                    (progress, combined)
                }
            }
        };
        if !self.is_sealed() {
            return Ok(true);
        }
        match self.barrier.unseal(&kek).await {
            Ok(()) => {}
            Err(BarrierError::WrongKey) => {
                gate.failed(std::time::Instant::now());
                *progress = ShareProgress::default();
                return Err(ApiError::bad(
                    "unseal failed: the key(s) do not open this store (wrong keys, or its stored keyring was altered); progress was reset",
                ));
            }
            Err(other) => return Err(other.into()),
        }
        if let Some(migration) = migration {
            let migrated = self
                .migrate_seal(migration, &config, &kek, recovery_key.as_deref())
                .await;
            if let Err(e) = migrated {
                // Nothing of the new seal was kept: sealed as before.
                self.barrier.seal();
                if matches!(e, ApiError::BadRequest(_)) {
                    gate.failed(std::time::Instant::now());
                }
                return Err(e);
            }
        }
        gate.succeeded();
        tracing::info!("unsealed");
        drop(progress);
        drop(gate);
        self.activate_unsealed().await?;
        Ok(true)
    }

    /// Unseals with the configured auto seal. `Ok(false)` when there is
    /// nothing to do that way (not initialized, not an auto seal, or a
    /// migration pending).
    pub async fn auto_unseal(&self) -> Result<bool, ApiError> {
        let gate = self.unseal_gate.lock().await;
        if !self.is_sealed() {
            return Ok(true);
        }
        let Some(config) = self.seal_config().await? else {
            return Ok(false);
        };
        if !config.kind.is_auto() || self.seal_migration(&config)?.is_some() {
            return Ok(false);
        }
        let kek = self.unwrap_stored_key(&config, false).await?;
        match self.barrier.unseal(&kek).await {
            Ok(()) => {}
            Err(BarrierError::WrongKey) => {
                return Err(ApiError::Internal(format!(
                    "the {} seal unwrapped a key that does not open this store's keyring",
                    config.kind.as_str()
                )))
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!(seal = config.kind.as_str(), "unsealed by the auto seal");
        drop(gate);
        self.activate_unsealed().await?;
        Ok(true)
    }

    /// Keeps trying the auto seal until the node is unsealed (the KMS may
    /// not answer yet at boot): every 1 s, backing off to 30 s.
    pub fn start_auto_unseal(self: &Arc<Self>) {
        let core = Arc::clone(self);
        actix_web::rt::spawn(async move {
            let mut delay = std::time::Duration::from_secs(1);
            loop {
                match core.auto_unseal().await {
                    Ok(_) => return,
                    Err(e) => tracing::warn!(
                        error = %e,
                        retry_in_s = delay.as_secs(),
                        "auto-unseal failed; retrying"
                    ),
                }
                tokio::time::sleep(delay).await;
                delay = delay
                    .saturating_mul(2)
                    .min(std::time::Duration::from_secs(30));
            }
        });
    }

    /// The KEK, unwrapped by the current auto seal (or by the previous one
    /// when migrating away from it).
    async fn unwrap_stored_key(
        &self,
        config: &SealConfig,
        previous: bool,
    ) -> Result<Zeroizing<[u8; 32]>, ApiError> {
        let seal = match previous {
            true => self.seals.previous.clone().ok_or_else(|| {
                ApiError::bad(format!(
                    "migrating away from the {} seal needs it configured as [previous_seal]",
                    config.kind.as_str()
                ))
            })?,
            false => self.auto_seal()?,
        };
        if seal.kind() != config.kind {
            return Err(ApiError::bad(format!(
                "the store is sealed with the {} seal, not {}",
                config.kind.as_str(),
                seal.kind().as_str()
            )));
        }
        let bytes = self
            .barrier
            .get_plain(WRAPPED_KEY_PATH)
            .await?
            .ok_or_else(|| ApiError::Internal("the auto seal's wrapped key is missing".into()))?;
        let wrapped: WrappedKey = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Internal(format!("the wrapped key is corrupt: {e}")))?;
        seal.unwrap(&wrapped)
            .await
            .map_err(|e| unavailable(config.kind, e))
    }

    /// Moves the unsealed store to the configured seal (see the module doc).
    async fn migrate_seal(
        &self,
        migration: Migration,
        stored: &SealConfig,
        kek: &[u8; 32],
        recovery_key: Option<&[u8; 32]>,
    ) -> Result<(), ApiError> {
        match migration {
            Migration::ToAuto => {
                let auto = self.auto_seal()?;
                let wrapped = auto
                    .wrap(kek)
                    .await
                    .map_err(|e| unavailable(auto.kind(), e))?;
                self.barrier
                    .write(vec![Write::Put(RECOVERY_KEY_PATH.into(), kek.to_vec())])
                    .await?;
                let config = SealConfig {
                    kind: auto.kind(),
                    secret_shares: 1,
                    secret_threshold: 1,
                    kdf: None,
                    recovery_shares: stored.secret_shares,
                    recovery_threshold: stored.secret_threshold,
                };
                self.barrier
                    .apply_plain(vec![wrapped.stored(), config.stored()])
                    .await?;
                tracing::info!(
                    seal = auto.kind().as_str(),
                    "seal migrated from shamir: the unseal keys are now the recovery keys"
                );
            }
            Migration::FromAuto => {
                let recovery_key = recovery_key
                    .ok_or_else(|| ApiError::Internal("no recovery key was entered".into()))?;
                self.check_recovery_key(recovery_key).await?;
                let config = SealConfig {
                    kind: SealKind::Shamir,
                    secret_shares: stored.recovery_shares,
                    secret_threshold: stored.recovery_threshold,
                    kdf: None,
                    recovery_shares: 0,
                    recovery_threshold: 0,
                };
                self.barrier
                    .rekey(
                        recovery_key,
                        vec![config.stored(), Change::Delete(WRAPPED_KEY_PATH.into())],
                    )
                    .await?;
                self.barrier.delete(RECOVERY_KEY_PATH).await?;
                tracing::info!(
                    "seal migrated to shamir: the recovery keys are now the unseal keys"
                );
            }
        }
        Ok(())
    }

    /// Whether `key` is the stored recovery key (400 if not).
    pub(super) async fn check_recovery_key(&self, key: &[u8; 32]) -> Result<(), ApiError> {
        let stored = self
            .barrier
            .get(RECOVERY_KEY_PATH)
            .await?
            .map(Zeroizing::new)
            .ok_or_else(|| ApiError::Internal("the recovery key is missing".into()))?;
        if seal::keys_equal(&stored, key) {
            Ok(())
        } else {
            Err(ApiError::bad("the recovery key(s) are not this store's"))
        }
    }

    /// After the barrier opened: a cluster's node becomes active only by
    /// taking leadership (a standby otherwise); a single node opens its
    /// state.
    async fn activate_unsealed(&self) -> Result<(), ApiError> {
        if self.ha.is_some() {
            self.try_take_over().await;
        } else {
            self.open_active().await?;
        }
        Ok(())
    }
}
