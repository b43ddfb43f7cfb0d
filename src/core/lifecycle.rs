//! Initialization, unsealing and sealing.
//!
//! Init creates the key-encryption key (random, split into Shamir shares, or
//! derived from a passphrase), the keyring, the built-in mounts and policies
//! and a root token, then seals again, as Vault does. Unseal collects shares
//! until the threshold is reached, rebuilds the key and opens the keyring.

use super::mounts::Mounts;
use super::{Active, Core, UnsealProgress};
use crate::auth::token::store::{NewToken, TokenStore};
use crate::barrier::seal::{self, SealConfig, SealKind, SEAL_CONFIG_PATH};
use crate::barrier::{BarrierError, StorageView};
use crate::error::ApiError;
use crate::logical::MountEntry;
use crate::policy::PolicyStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// What `sys/init` asks for.
pub struct InitParams {
    pub secret_shares: u8,
    pub secret_threshold: u8,
    pub passphrase: Option<Zeroizing<String>>,
    /// Fixes the root token's id (dev mode).
    pub root_token_id: Option<String>,
}

/// What `sys/init` hands back, once.
pub struct InitResult {
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    pub root_token: Zeroizing<String>,
}

const MIN_PASSPHRASE_LEN: usize = 12;

/// A new seal: its configuration, its key-encryption key, and the unseal
/// key shares to hand out (none for the passphrase seal).
struct NewSeal {
    config: SealConfig,
    kek: Zeroizing<[u8; 32]>,
    keys: Vec<Zeroizing<Vec<u8>>>,
}

/// A random key split into `shares` Shamir shares, `threshold` of which
/// rebuild it.
fn shamir_seal(shares: u8, threshold: u8) -> Result<NewSeal, ApiError> {
    if shares == 0 || threshold == 0 {
        return Err(ApiError::bad(
            "secret_shares and secret_threshold must be at least 1",
        ));
    }
    if threshold > shares {
        return Err(ApiError::bad(
            "secret_threshold cannot be larger than secret_shares",
        ));
    }
    if shares > 1 && threshold < 2 {
        return Err(ApiError::bad(
            "secret_threshold must be greater than one for multiple shares",
        ));
    }
    let kek = Zeroizing::new(crate::barrier::seal_key());
    let keys = seal::split(&kek, shares, threshold);
    let config = SealConfig {
        kind: SealKind::Shamir,
        secret_shares: shares,
        secret_threshold: threshold,
        kdf: None,
    };
    Ok(NewSeal { config, kek, keys })
}

/// A key derived from the passphrase (at least `MIN_PASSPHRASE_LEN`
/// characters) with fresh KDF parameters.
fn passphrase_seal(passphrase: Option<Zeroizing<String>>) -> Result<NewSeal, ApiError> {
    let passphrase =
        passphrase.ok_or_else(|| ApiError::bad("passphrase: required by the passphrase seal"))?;
    if passphrase.chars().count() < MIN_PASSPHRASE_LEN {
        return Err(ApiError::bad(format!(
            "passphrase: must be at least {MIN_PASSPHRASE_LEN} characters"
        )));
    }
    let kdf = seal::new_kdf_params();
    let kek = seal::derive_from_passphrase(&passphrase, &kdf).map_err(ApiError::Internal)?;
    let config = SealConfig {
        kind: SealKind::Passphrase,
        secret_shares: 1,
        secret_threshold: 1,
        kdf: Some(kdf),
    };
    Ok(NewSeal {
        config,
        kek,
        keys: Vec::new(),
    })
}

/// The root token (with the given id in dev mode): no parent, no TTL.
async fn create_root_token(
    tokens: &TokenStore,
    id: Option<String>,
) -> Result<Zeroizing<String>, ApiError> {
    let (root, _) = tokens
        .create(NewToken {
            parent_hash: None,
            policies: vec!["root".into()],
            meta: BTreeMap::new(),
            display_name: "root".into(),
            num_uses: 0,
            ttl: 0,
            explicit_max_ttl: 0,
            period: 0,
            renewable: false,
            path: "auth/token/root".into(),
            role: None,
            id,
            bound_cidrs: Vec::new(),
        })
        .await?;
    Ok(root)
}

impl Core {
    pub async fn seal_config(&self) -> Result<Option<SealConfig>, ApiError> {
        match self.barrier.get_plain(SEAL_CONFIG_PATH).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| ApiError::Internal(format!("seal configuration is corrupt: {e}"))),
        }
    }

    /// Initializes a new store. Leaves it sealed.
    pub async fn initialize(&self, params: InitParams) -> Result<InitResult, ApiError> {
        let mut progress = self.lifecycle.lock().await;
        if self.seal_config().await?.is_some() {
            return Err(ApiError::bad("Vault is already initialized"));
        }
        let NewSeal { config, kek, keys } = match self.settings.seal_kind {
            SealKind::Shamir => shamir_seal(params.secret_shares, params.secret_threshold)?,
            SealKind::Passphrase => passphrase_seal(params.passphrase)?,
        };
        let term = match &self.ha {
            Some(ha) => Some(ha.acquire_for_init()?),
            None => None,
        };
        let result = self
            .write_new_store(&kek, &config, params.root_token_id)
            .await;
        self.set_active(None);
        self.barrier.seal();
        if let (Some(ha), Some(term)) = (&self.ha, term) {
            ha.release(term);
        }
        *progress = UnsealProgress::default();
        Ok(InitResult {
            keys,
            root_token: result?,
        })
    }

    /// The keyring, the built-ins and the root token, then the seal
    /// configuration. Leaves the barrier unsealed.
    async fn write_new_store(
        &self,
        kek: &[u8; 32],
        config: &SealConfig,
        root_token_id: Option<String>,
    ) -> Result<Zeroizing<String>, ApiError> {
        self.barrier.initialize(kek).await?;
        let active = self.open_active().await?;
        let root = create_root_token(&active.tokens, root_token_id).await?;
        // The seal configuration is written last: a crash before this point
        // leaves an uninitialized store that can simply be initialized again.
        let config_bytes = serde_json::to_vec(config).unwrap_or_default();
        self.barrier
            .put_plain(SEAL_CONFIG_PATH, config_bytes)
            .await?;
        Ok(root)
    }

    /// Adds one unseal key (or the passphrase). Returns whether the server is
    /// now unsealed.
    ///
    /// Attempts go through the unseal gate one at a time, and are refused
    /// (429) while failed ones have it closed (see `unseal_throttle`). The
    /// passphrase's argon2 runs on the blocking pool without the lifecycle
    /// lock, so `sys/seal-status` and the workers are not held up by it.
    pub async fn submit_unseal_key(&self, key: &str) -> Result<bool, ApiError> {
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
        let config = self
            .seal_config()
            .await?
            .ok_or_else(|| ApiError::bad("Vault is not initialized"))?;
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
            SealKind::Shamir => {
                let mut progress = self.lifecycle.lock().await;
                let share = seal::decode_share(key).map_err(ApiError::BadRequest)?;
                if !progress.shares.iter().any(|s| **s == *share) {
                    progress.shares.push(share);
                }
                if progress.nonce.is_empty() {
                    progress.nonce = uuid::Uuid::new_v4().to_string();
                }
                if progress.shares.len() < usize::from(config.secret_threshold) {
                    return Ok(false);
                }
                let shares = std::mem::take(&mut *progress).shares;
                match seal::combine(&shares, config.secret_threshold) {
                    Ok(kek) => (progress, kek),
                    Err(message) => {
                        gate.failed(std::time::Instant::now());
                        return Err(ApiError::BadRequest(message));
                    }
                }
            }
        };
        if !self.is_sealed() {
            return Ok(true);
        }
        match self.barrier.unseal(&kek).await {
            Ok(()) => gate.succeeded(),
            Err(BarrierError::WrongKey) => {
                gate.failed(std::time::Instant::now());
                *progress = UnsealProgress::default();
                return Err(ApiError::bad(
                    "unseal failed: the key(s) do not open this store; progress was reset",
                ));
            }
            Err(other) => return Err(other.into()),
        }
        tracing::info!("unsealed");
        // A cluster's node becomes active only by taking leadership; if
        // another node holds it, this one is a standby.
        if self.ha.is_some() {
            drop(progress);
            drop(gate);
            self.try_take_over().await;
        } else {
            self.open_active().await?;
        }
        Ok(true)
    }

    /// Stores every audit device's chain head durably (rotation, seal,
    /// shutdown); a failure is logged, not fatal.
    pub async fn store_audit_heads(&self) {
        if let Ok(active) = self.active() {
            if let Err(e) = active.audit.store_heads().await {
                tracing::warn!(error = %e, "could not store the audit chain heads");
            }
        }
    }

    /// Forgets the unseal keys entered so far.
    pub async fn reset_unseal(&self) {
        *self.lifecycle.lock().await = UnsealProgress::default();
    }

    /// Unseal keys entered so far, and the attempt's nonce.
    pub async fn unseal_progress(&self) -> (usize, String) {
        let progress = self.lifecycle.lock().await;
        (progress.shares.len(), progress.nonce.clone())
    }

    /// Drops all key material and the unsealed state (storing the audit
    /// chain heads first).
    pub async fn seal(&self) {
        self.store_audit_heads().await;
        self.hand_over("sealed").await;
        let _progress = self.lifecycle.lock().await;
        self.set_active(None);
        self.barrier.seal();
        tracing::info!("sealed");
    }

    /// Builds the unsealed state from storage (first time: built-ins).
    pub(super) async fn open_active(&self) -> Result<Arc<Active>, ApiError> {
        let barrier = Arc::clone(&self.barrier);
        let tokens = TokenStore::open(
            StorageView::new(Arc::clone(&barrier), "sys/token/"),
            Arc::clone(&self.clock),
        )
        .await?;
        let policies = PolicyStore::new(StorageView::new(Arc::clone(&barrier), "sys/policy/"));
        policies.ensure_default().await?;
        let mounts = Arc::new(Mounts::load(Arc::clone(&barrier)).await?);
        let tokens = Arc::new(tokens);
        let leases = Arc::new(crate::lease::LeaseManager::new(crate::lease::Parts {
            ledger: crate::lease::LeaseStore::new(StorageView::new(
                Arc::clone(&barrier),
                "sys/lease/",
            )),
            tokens: Arc::clone(&tokens),
            issuers: Arc::new(super::mounts::MountIssuers {
                mounts: Arc::clone(&mounts),
                barrier: Arc::clone(&barrier),
            }),
            barrier: Arc::clone(&barrier),
            clock: Arc::clone(&self.clock),
            metrics: Arc::clone(&self.metrics),
            // In a cluster each activation is its own "boot": the pending
            // leases of every earlier one (another node's, or this node's
            // before it stepped down, whose writes the fence now refuses)
            // are rolled back.
            boot_id: match self.ha {
                Some(_) => uuid::Uuid::new_v4().to_string(),
                None => self.boot_id.clone(),
            },
            limits: self.limits(),
            background: self.background.get().cloned(),
        }));
        let active = Arc::new(Active {
            mounts,
            tokens,
            policies,
            leases,
            audit: crate::audit::AuditBroker::load(Arc::clone(&self.barrier)).await?,
            nhi: crate::nhi::NhiStore::load(StorageView::new(
                Arc::clone(&self.barrier),
                "sys/nhi/",
            ))
            .await?,
        });
        self.set_active(Some(Arc::clone(&active)));
        Ok(active)
    }

    /// Dev mode: initialize with one share, unseal, mount `secret/` as KV v2.
    /// Returns the unseal key and the root token to print.
    pub async fn dev_setup(&self, root_token_id: Option<String>) -> Result<InitResult, ApiError> {
        let result = self
            .initialize(InitParams {
                secret_shares: 1,
                secret_threshold: 1,
                passphrase: None,
                root_token_id,
            })
            .await?;
        let key = hex::encode(
            result
                .keys
                .first()
                .map(|k| k.as_slice())
                .unwrap_or_default(),
        );
        self.submit_unseal_key(&key).await?;
        let active = self.active()?;
        if active.mounts.get("secret/").is_none() {
            let mut entry = MountEntry::new("secret/", "kv", "key/value secret storage");
            entry.options.insert("version".into(), "2".into());
            active.mounts.mount(entry).await?;
        }
        Ok(result)
    }
}
