//! The core: the seal state, and the request pipeline
//! (authenticate → authorize → route → respond). Everything that exists only
//! while unsealed (mounts, tokens, policies) lives in [`Active`].

mod audit_trail;
pub(crate) mod auth_mount_tokens;
mod backend_reads;
#[cfg(test)]
mod clock_jumps;
pub mod ctx;
mod cubbyhole;
mod discover_scan;
mod expiry;
mod generate_root;
pub mod ha;
mod help;
pub(crate) mod inventory;
mod key_shares;
mod lifecycle;
mod login;
pub mod mounts;
pub mod pipeline;
mod rekey;
mod snapshot;
mod sys;
mod token_api;
mod unseal;
mod unseal_throttle;
mod wrapping;

pub use generate_root::RootStatus;
pub use lifecycle::{InitParams, InitResult};
pub use rekey::{RekeyParams, RekeyTarget};
pub use snapshot::Restored;
pub use unseal::{Migration, Seals};

use crate::auth::token::store::TokenStore;
use crate::barrier::Barrier;
use crate::clock::Clock;
use crate::error::ApiError;
use crate::policy::PolicyStore;
use key_shares::ShareProgress;
use mounts::Mounts;
use std::sync::{Arc, RwLock};

/// System-wide lease limits, in seconds (Vault's defaults: 32 days).
#[derive(Debug, Clone)]
pub struct Settings {
    pub default_lease_ttl: i64,
    pub max_lease_ttl: i64,
    /// The seal used when the store is initialized.
    pub seal_kind: crate::barrier::seal::SealKind,
    pub cluster_name: String,
    pub nhi: crate::nhi::NhiSettings,
    /// `sys/metrics` answers without a token, sealed or not.
    pub unauthenticated_metrics: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_lease_ttl: 768 * 3600,
            max_lease_ttl: 768 * 3600,
            seal_kind: crate::barrier::seal::SealKind::Shamir,
            cluster_name: "quartermaster".into(),
            nhi: crate::nhi::NhiSettings::default(),
            unauthenticated_metrics: false,
        }
    }
}

/// What exists only while unsealed.
pub struct Active {
    pub mounts: Arc<Mounts>,
    pub tokens: Arc<TokenStore>,
    pub policies: PolicyStore,
    /// Every lease: issuing, renewing, revoking, expiry.
    pub leases: Arc<crate::lease::LeaseManager>,
    pub audit: crate::audit::AuditBroker,
    pub nhi: crate::nhi::NhiStore,
    /// The identities found outside the broker.
    pub discover: crate::discover::DiscoverStore,
}

pub struct Core {
    pub barrier: Arc<Barrier>,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    pub cluster_id: String,
    /// Marks pending leases written by this process, so only earlier boots'
    /// pending leases are rolled back.
    pub boot_id: String,
    // A tokio mutex: init, unseal and seal await storage while holding it.
    lifecycle: tokio::sync::Mutex<ShareProgress>,
    /// Every unseal attempt passes here first (taken before `lifecycle`).
    unseal_gate: tokio::sync::Mutex<unseal_throttle::UnsealThrottle>,
    // A std lock: read on every request to clone an Arc, never held across an await.
    active: RwLock<Option<Arc<Active>>>,
    /// The runtime background and bulk revocation work runs on.
    background: std::sync::OnceLock<tokio::runtime::Handle>,
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Set when this node is one of a cluster (PostgreSQL storage).
    ha: Option<Arc<ha::HaNode>>,
    /// The configured auto seals, if any.
    seals: Seals,
    /// Generate-root and rekey attempts in progress.
    ceremonies: Ceremonies,
}

/// The key ceremonies in progress, one of each kind at a time (tokio
/// mutexes: a step awaits storage while holding its attempt).
#[derive(Default)]
struct Ceremonies {
    generate_root: tokio::sync::Mutex<Option<generate_root::RootAttempt>>,
    rekey_barrier: tokio::sync::Mutex<Option<rekey::RekeyAttempt>>,
    rekey_recovery: tokio::sync::Mutex<Option<rekey::RekeyAttempt>>,
}

impl Core {
    pub fn new(barrier: Arc<Barrier>, clock: Arc<dyn Clock>, settings: Settings) -> Self {
        Self {
            barrier,
            clock,
            settings,
            cluster_id: uuid::Uuid::new_v4().to_string(),
            boot_id: uuid::Uuid::new_v4().to_string(),
            lifecycle: tokio::sync::Mutex::new(ShareProgress::default()),
            unseal_gate: tokio::sync::Mutex::new(Default::default()),
            active: RwLock::new(None),
            background: std::sync::OnceLock::new(),
            metrics: Arc::new(crate::metrics::Metrics::new()),
            ha: None,
            seals: Seals::default(),
            ceremonies: Ceremonies::default(),
        }
    }

    /// Sets the auto seals this node was configured with.
    pub fn with_seals(mut self, seals: Seals) -> Self {
        self.seals = seals;
        self
    }

    /// Makes this node one of a cluster: it serves only while it holds
    /// leadership and is a standby otherwise (see [`ha`]).
    pub fn with_ha(mut self, node: ha::HaNode) -> Self {
        self.ha = Some(Arc::new(node));
        self
    }

    /// The runtime background work runs on, when one was set.
    pub(crate) fn background_handle(&self) -> Option<tokio::runtime::Handle> {
        self.background.get().cloned()
    }

    /// The system-wide lease limits.
    pub fn limits(&self) -> crate::lease::Limits {
        crate::lease::Limits {
            default_ttl: self.settings.default_lease_ttl,
            max_ttl: self.settings.max_lease_ttl,
        }
    }

    /// The unsealed state, or why there is none (sealed, or a standby).
    pub fn active(&self) -> Result<Arc<Active>, ApiError> {
        if let Some(active) = self.active.read().ok().and_then(|a| a.clone()) {
            return Ok(active);
        }
        if self.ha.is_some() && !self.barrier.is_sealed() {
            return Err(ApiError::Standby(
                "this node is a standby and no active node could be reached".into(),
            ));
        }
        Err(ApiError::Sealed)
    }

    fn set_active(&self, active: Option<Arc<Active>>) {
        if let Ok(mut slot) = self.active.write() {
            *slot = active;
        }
    }

    pub fn is_sealed(&self) -> bool {
        match self.ha {
            Some(_) => self.barrier.is_sealed(),
            None => self.active().is_err(),
        }
    }
}
