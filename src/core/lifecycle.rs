//! Initialization, unsealing and sealing.
//!
//! Init creates the key-encryption key (random, split into Shamir shares,
//! derived from a passphrase, or random and wrapped by an auto seal with
//! recovery shares beside it), the keyring, the built-in mounts and policies
//! and a root token, then seals again, as Vault does (an auto seal then
//! unseals itself). Unsealing is in `unseal`.

use super::mounts::Mounts;
use super::{Active, Core, ShareProgress};
use crate::auth::token::store::{NewToken, TokenStore};
use crate::barrier::autoseal::WrappedKey;
use crate::barrier::seal::{self, SealConfig, SealKind, RECOVERY_KEY_PATH, SEAL_CONFIG_PATH};
use crate::barrier::{StorageView, Write};
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
    /// Auto seals: the recovery key's shares and threshold.
    pub recovery_shares: u8,
    pub recovery_threshold: u8,
    /// Fixes the root token's id (dev mode).
    pub root_token_id: Option<String>,
}

/// What `sys/init` hands back, once.
pub struct InitResult {
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    /// Auto seals: the recovery key shares.
    pub recovery_keys: Vec<Zeroizing<Vec<u8>>>,
    pub root_token: Zeroizing<String>,
}

const MIN_PASSPHRASE_LEN: usize = 12;

/// A new seal: its configuration, its key-encryption key, and the unseal
/// key shares to hand out (none for the passphrase seal).
struct NewSeal {
    config: SealConfig,
    kek: Zeroizing<[u8; 32]>,
    keys: Vec<Zeroizing<Vec<u8>>>,
    /// Auto seals: the recovery key and its shares.
    recovery: Option<Recovery>,
}

/// An auto seal's recovery key and the shares handed out for it.
type Recovery = (Zeroizing<[u8; 32]>, Vec<Zeroizing<Vec<u8>>>);

/// Vault's rules for a share count and threshold.
pub(super) fn check_shares(shares: u8, threshold: u8, what: &str) -> Result<(), ApiError> {
    if shares == 0 || threshold == 0 {
        return Err(ApiError::bad(format!(
            "{what}_shares and {what}_threshold must be at least 1"
        )));
    }
    if threshold > shares {
        return Err(ApiError::bad(format!(
            "{what}_threshold cannot be larger than {what}_shares"
        )));
    }
    if shares > 1 && threshold < 2 {
        return Err(ApiError::bad(format!(
            "{what}_threshold must be greater than one for multiple shares"
        )));
    }
    Ok(())
}

/// A random KEK for an auto seal to wrap, and a random recovery key split
/// into `shares` Shamir shares.
fn auto_seal(kind: SealKind, shares: u8, threshold: u8) -> Result<NewSeal, ApiError> {
    check_shares(shares, threshold, "recovery")?;
    let kek = Zeroizing::new(crate::barrier::seal_key());
    let recovery_key = Zeroizing::new(crate::barrier::seal_key());
    let recovery_keys = seal::split(&recovery_key, shares, threshold);
    let config = SealConfig {
        kind,
        secret_shares: 1,
        secret_threshold: 1,
        kdf: None,
        recovery_shares: shares,
        recovery_threshold: threshold,
    };
    Ok(NewSeal {
        config,
        kek,
        keys: Vec::new(),
        recovery: Some((recovery_key, recovery_keys)),
    })
}

/// A random key split into `shares` Shamir shares, `threshold` of which
/// rebuild it.
fn shamir_seal(shares: u8, threshold: u8) -> Result<NewSeal, ApiError> {
    check_shares(shares, threshold, "secret")?;
    let kek = Zeroizing::new(crate::barrier::seal_key());
    let keys = seal::split(&kek, shares, threshold);
    let config = SealConfig {
        kind: SealKind::Shamir,
        secret_shares: shares,
        secret_threshold: threshold,
        kdf: None,
        recovery_shares: 0,
        recovery_threshold: 0,
    };
    Ok(NewSeal {
        config,
        kek,
        keys,
        recovery: None,
    })
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
        recovery_shares: 0,
        recovery_threshold: 0,
    };
    Ok(NewSeal {
        config,
        kek,
        keys: Vec::new(),
        recovery: None,
    })
}

/// The root token (with the given id in dev mode): no parent, no TTL.
pub(super) async fn create_root_token(
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

    /// Initializes a new store. Leaves it sealed, except under an auto
    /// seal, which unseals it at once (as Vault does).
    pub async fn initialize(&self, params: InitParams) -> Result<InitResult, ApiError> {
        let mut progress = self.lifecycle.lock().await;
        if self.seal_config().await?.is_some() {
            return Err(ApiError::bad("Vault is already initialized"));
        }
        let kind = self.settings.seal_kind;
        let new_seal = match kind {
            SealKind::Shamir => shamir_seal(params.secret_shares, params.secret_threshold)?,
            SealKind::Passphrase => passphrase_seal(params.passphrase)?,
            SealKind::Awskms | SealKind::Static => {
                auto_seal(kind, params.recovery_shares, params.recovery_threshold)?
            }
        };
        // Wrapped before anything is written: a KMS that cannot be reached
        // fails the init with nothing to clean up.
        let wrapped = match kind.is_auto() {
            true => Some(self.auto_seal()?.wrap(&new_seal.kek).await.map_err(|e| {
                ApiError::BadGateway(format!(
                    "the {} seal could not wrap the key: {e}",
                    kind.as_str()
                ))
            })?),
            false => None,
        };
        let term = match &self.ha {
            Some(ha) => Some(ha.acquire_for_init()?),
            None => None,
        };
        let result = self
            .write_new_store(&new_seal, wrapped.as_ref(), params.root_token_id)
            .await;
        self.set_active(None);
        self.barrier.seal();
        if let (Some(ha), Some(term)) = (&self.ha, term) {
            ha.release(term);
        }
        *progress = ShareProgress::default();
        drop(progress);
        let root_token = result?;
        if kind.is_auto() {
            self.auto_unseal().await?;
        }
        let NewSeal { keys, recovery, .. } = new_seal;
        Ok(InitResult {
            keys,
            recovery_keys: recovery.map(|(_, shares)| shares).unwrap_or_default(),
            root_token,
        })
    }

    /// The keyring, the built-ins and the root token (and an auto seal's
    /// recovery key and wrapped key), then the seal configuration. Leaves
    /// the barrier unsealed.
    async fn write_new_store(
        &self,
        new_seal: &NewSeal,
        wrapped: Option<&WrappedKey>,
        root_token_id: Option<String>,
    ) -> Result<Zeroizing<String>, ApiError> {
        self.barrier.initialize(&new_seal.kek).await?;
        let active = self.open_active().await?;
        let root = create_root_token(&active.tokens, root_token_id).await?;
        if let Some((recovery_key, _)) = &new_seal.recovery {
            self.barrier
                .write(vec![Write::Put(
                    RECOVERY_KEY_PATH.into(),
                    recovery_key.to_vec(),
                )])
                .await?;
        }
        // The seal configuration is written last: a crash before this point
        // leaves an uninitialized store that can simply be initialized again.
        let mut plain = Vec::new();
        if let Some(wrapped) = wrapped {
            plain.push(wrapped.stored());
        }
        plain.push(new_seal.config.stored());
        self.barrier.apply_plain(plain).await?;
        Ok(root)
    }

    /// What is kept in memory and stored now and then, stored now (seal,
    /// shutdown): the drift baselines, then the audit chain heads.
    pub async fn store_before_stop(&self) {
        if let Ok(active) = self.active() {
            active.nhi.store_drift().await;
        }
        self.store_audit_heads().await;
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
        *self.lifecycle.lock().await = ShareProgress::default();
    }

    /// Unseal keys entered so far, and the attempt's nonce.
    pub async fn unseal_progress(&self) -> (usize, String) {
        let progress = self.lifecycle.lock().await;
        (progress.shares.len(), progress.nonce.clone())
    }

    /// Drops all key material and the unsealed state (storing the drift
    /// baselines and the audit chain heads first).
    pub async fn seal(&self) {
        self.store_before_stop().await;
        self.hand_over("sealed").await;
        let _progress = self.lifecycle.lock().await;
        self.set_active(None);
        self.barrier.seal();
        // Key ceremonies do not outlive the keys they were checked against.
        *self.ceremonies.generate_root.lock().await = None;
        *self.ceremonies.rekey_barrier.lock().await = None;
        *self.ceremonies.rekey_recovery.lock().await = None;
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
            discover: crate::discover::DiscoverStore::new(StorageView::new(
                Arc::clone(&self.barrier),
                "sys/discover/",
            )),
        });
        // A restore's fence runs before anything is served.
        self.run_restore_fence(&active).await?;
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
                recovery_shares: 0,
                recovery_threshold: 0,
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
        self.submit_unseal_key(&key, false).await?;
        let active = self.active()?;
        if active.mounts.get("secret/").is_none() {
            let mut entry = MountEntry::new("secret/", "kv", "key/value secret storage");
            entry.options.insert("version".into(), "2".into());
            active.mounts.mount(entry).await?;
        }
        Ok(result)
    }
}
