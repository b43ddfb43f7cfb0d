//! High availability on PostgreSQL storage: exactly one node of a cluster
//! is active (it holds the leadership term, see `storage::postgres::leader`);
//! the others are standbys that forward requests to it (`http::forward`)
//! and take over when it goes.
//!
//! A thread per node ("qm-ha") runs the election: while unsealed and not
//! active it tries to take the term every [`POLL`]; while active it extends
//! its lease every third of the TTL and steps down the moment the term is
//! lost or its lease lapses locally. Taking over opens the unsealed state
//! from storage as an unseal does (mounts, policies, the lease manager,
//! which resumes expiry from the due index and rolls back the pending
//! leases of every earlier activation); stepping down drops it.

use super::Core;
use crate::error::ApiError;
use crate::storage::{Acquired, Candidate, LeaderInfo, NodeInfo, PostgresStorage};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// How often a standby tries to take over, and the election loop wakes.
const POLL: Duration = Duration::from_millis(200);

/// How often a node says it is alive (`sys/ha-status`).
const HEARTBEAT: Duration = Duration::from_secs(2);

/// How long a node that stepped down leaves the term to the others.
const STEP_DOWN_PAUSE: Duration = Duration::from_secs(1);

/// Nodes silent for longer are not listed by `sys/ha-status`.
const NODE_SILENCE: Duration = Duration::from_secs(30);

/// Where the key that signs forwarded requests is kept (barrier-encrypted,
/// so every unsealed node can read it and nobody else can).
const FORWARDING_KEY_PATH: &str = "sys/ha/forwarding-key";

/// One node of a cluster.
pub struct HaNode {
    storage: Arc<PostgresStorage>,
    me: Candidate,
    lock_ttl: Duration,
    /// The term this node holds while active.
    term: Mutex<Option<i64>>,
    /// Unix seconds this node became active.
    active_since: Mutex<Option<i64>>,
    /// The leader row as last read.
    leader: RwLock<Option<LeaderInfo>>,
    /// Signs and checks forwarded requests (`http::forward`).
    forwarding_key: RwLock<Option<Zeroizing<Vec<u8>>>>,
    /// One takeover attempt at a time (the election thread's, an unseal's).
    election: tokio::sync::Mutex<()>,
    /// After stepping down, no takeover before this.
    paused_until: Mutex<Option<Instant>>,
}

/// When the election thread last did its periodic work.
struct Timers {
    heartbeat: Option<Instant>,
    renew: Instant,
}

/// What this node is to its cluster.
pub enum Role {
    /// Not part of a cluster (sled storage).
    Single,
    Active,
    /// A standby; the active node's address when one is known.
    Standby(Option<String>),
}

impl HaNode {
    pub fn new(storage: Arc<PostgresStorage>, api_addr: String, lock_ttl: Duration) -> Self {
        Self {
            storage,
            me: Candidate {
                node_id: uuid::Uuid::new_v4().to_string(),
                api_addr,
            },
            lock_ttl,
            term: Mutex::new(None),
            active_since: Mutex::new(None),
            leader: RwLock::new(None),
            forwarding_key: RwLock::new(None),
            election: tokio::sync::Mutex::new(()),
            paused_until: Mutex::new(None),
        }
    }

    fn held_term(&self) -> Option<i64> {
        self.term.lock().ok().and_then(|t| *t)
    }

    fn set_term(&self, term: Option<i64>) {
        if let Ok(mut held) = self.term.lock() {
            *held = term;
        }
    }

    /// The leader row as last read (refreshed every [`POLL`] on standbys).
    pub fn leader(&self) -> Option<LeaderInfo> {
        self.leader.read().ok().and_then(|l| l.clone())
    }

    /// Reads the leader row now.
    pub fn refresh_leader(&self) -> Option<LeaderInfo> {
        let leader = self.storage.leader().ok();
        self.remember_leader(leader.clone());
        leader
    }

    fn remember_leader(&self, leader: Option<LeaderInfo>) {
        if let Ok(mut cached) = self.leader.write() {
            *cached = leader;
        }
    }

    pub fn active_since(&self) -> Option<i64> {
        self.active_since.lock().ok().and_then(|s| *s)
    }

    /// The nodes heard from lately.
    pub fn nodes(&self) -> Result<Vec<NodeInfo>, ApiError> {
        self.storage
            .nodes(NODE_SILENCE)
            .map_err(|e| ApiError::Internal(e.to_string()))
    }

    pub fn node_id(&self) -> &str {
        &self.me.node_id
    }

    /// The key forwarded requests are signed with, once known.
    pub fn forwarding_key(&self) -> Option<Zeroizing<Vec<u8>>> {
        self.forwarding_key.read().ok().and_then(|k| k.clone())
    }

    fn set_forwarding_key(&self, key: Zeroizing<Vec<u8>>) {
        if let Ok(mut slot) = self.forwarding_key.write() {
            *slot = Some(key);
        }
    }

    /// Takes the term for a one-off write while sealed (`sys/init`).
    pub(super) fn acquire_for_init(&self) -> Result<i64, ApiError> {
        match self.storage.try_acquire(&self.me, self.lock_ttl) {
            Ok(Acquired::Won(term)) => Ok(term),
            Ok(Acquired::Held(_)) => Err(ApiError::Standby(
                "another node of this cluster is active or initializing".into(),
            )),
            Err(e) => Err(ApiError::Internal(e.to_string())),
        }
    }

    pub(super) fn release(&self, term: i64) {
        if let Err(e) = self.storage.release(term) {
            tracing::warn!(error = %e, "could not release the leadership term; it lapses by itself");
        }
    }
}

impl Core {
    /// What this node is to its cluster.
    pub fn role(&self) -> Role {
        let Some(ha) = &self.ha else {
            return Role::Single;
        };
        if ha.held_term().is_some() && self.active().is_ok() {
            return Role::Active;
        }
        let leader = ha
            .leader()
            .filter(|l| l.live && l.holder != ha.node_id() && !l.api_addr.is_empty());
        Role::Standby(leader.map(|l| l.api_addr))
    }

    /// Starts the election thread; it stops when the core is dropped.
    pub fn start_ha(self: &Arc<Self>, runtime: tokio::runtime::Handle) {
        if self.ha.is_none() {
            return;
        }
        let core = Arc::downgrade(self);
        let spawned = std::thread::Builder::new()
            .name("qm-ha".into())
            .spawn(move || {
                let mut timers = Timers {
                    heartbeat: None,
                    renew: Instant::now(),
                };
                loop {
                    std::thread::sleep(POLL);
                    let Some(core) = core.upgrade() else { break };
                    core.election_round(&runtime, &mut timers);
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the HA election thread");
        }
    }

    /// One wake-up of the election thread: heartbeat; then take over, or
    /// keep (or lose) the term.
    fn election_round(&self, runtime: &tokio::runtime::Handle, timers: &mut Timers) {
        let Some(ha) = self.ha.as_ref() else { return };
        if timers.heartbeat.is_none_or(|t| t.elapsed() >= HEARTBEAT) {
            timers.heartbeat = Some(Instant::now());
            if let Err(e) = ha.storage.heartbeat(&ha.me) {
                tracing::debug!(error = %e, "heartbeat failed");
            }
        }
        if self.barrier.is_sealed() {
            return;
        }
        let Some(term) = ha.held_term() else {
            runtime.block_on(self.try_take_over());
            timers.renew = Instant::now();
            return;
        };
        if ha.storage.fence().term().is_none() {
            runtime.block_on(self.step_down(term, "its lease lapsed"));
            return;
        }
        if timers.renew.elapsed() < ha.lock_ttl.div_f64(3.0) {
            return;
        }
        timers.renew = Instant::now();
        match ha.storage.renew(term, ha.lock_ttl) {
            Ok(true) => {}
            Ok(false) => runtime.block_on(self.step_down(term, "another node took over")),
            Err(e) => tracing::warn!(error = %e, "could not extend the leadership lease"),
        }
    }

    /// Takes the term if nobody holds it, and becomes active.
    pub(super) async fn try_take_over(&self) {
        let Some(ha) = &self.ha else { return };
        let _election = ha.election.lock().await;
        if ha.held_term().is_some() || self.barrier.is_sealed() {
            return;
        }
        let paused = ha
            .paused_until
            .lock()
            .ok()
            .and_then(|p| *p)
            .is_some_and(|until| Instant::now() < until);
        if paused {
            ha.refresh_leader();
            return;
        }
        let term = match ha.storage.try_acquire(&ha.me, ha.lock_ttl) {
            Ok(Acquired::Won(term)) => term,
            Ok(Acquired::Held(leader)) => {
                ha.remember_leader(Some(leader));
                self.load_forwarding_key(ha).await;
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read or take leadership");
                return;
            }
        };
        ha.set_term(Some(term));
        match self.activate(ha).await {
            Ok(()) => {
                if let Ok(mut since) = ha.active_since.lock() {
                    *since = Some(self.clock.now_unix());
                }
                ha.refresh_leader();
                tracing::info!(term, "this node is now the active node");
            }
            Err(e) => {
                tracing::error!(term, error = %e, "could not become active; giving the term up");
                ha.set_term(None);
                self.set_active(None);
                ha.release(term);
            }
        }
    }

    /// Opens the unsealed state (as an unseal does) and makes sure the
    /// forwarding key exists.
    async fn activate(&self, ha: &HaNode) -> Result<(), ApiError> {
        let _progress = self.lifecycle.lock().await;
        if self.barrier.is_sealed() {
            return Err(ApiError::Sealed);
        }
        let key = match self.barrier.get(FORWARDING_KEY_PATH).await? {
            Some(key) => Zeroizing::new(key),
            None => {
                let key = Zeroizing::new(crate::barrier::seal_key().to_vec());
                self.barrier
                    .write(vec![crate::barrier::Write::Put(
                        FORWARDING_KEY_PATH.into(),
                        key.to_vec(),
                    )])
                    .await?;
                key
            }
        };
        ha.set_forwarding_key(key);
        self.open_active().await?;
        Ok(())
    }

    async fn load_forwarding_key(&self, ha: &HaNode) {
        if ha.forwarding_key().is_some() {
            return;
        }
        if let Ok(Some(key)) = self.barrier.get(FORWARDING_KEY_PATH).await {
            ha.set_forwarding_key(Zeroizing::new(key));
        }
    }

    /// Stops being active: writes are refused from now on (the fence is
    /// cleared first), the unsealed state is dropped, the term given up.
    pub(super) async fn step_down(&self, term: i64, why: &str) {
        let Some(ha) = &self.ha else { return };
        ha.storage.fence().clear();
        ha.set_term(None);
        if let Ok(mut since) = ha.active_since.lock() {
            *since = None;
        }
        self.set_active(None);
        if let Ok(mut paused) = ha.paused_until.lock() {
            *paused = Instant::now().checked_add(STEP_DOWN_PAUSE);
        }
        ha.release(term);
        ha.refresh_leader();
        tracing::warn!(term, why, "this node stepped down; it is a standby now");
    }

    /// Hands leadership to a standby, if this node holds it
    /// (`sys/step-down`, seal, shutdown); `why` goes in the log.
    pub async fn hand_over(&self, why: &str) {
        if let Some(term) = self.ha.as_ref().and_then(|ha| ha.held_term()) {
            self.step_down(term, why).await;
        }
    }

    pub fn ha(&self) -> Option<&HaNode> {
        self.ha.as_deref()
    }
}
