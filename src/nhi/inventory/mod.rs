//! The identity inventory: one record per identity with its owner, what it
//! can reach, when it was created, last used and ends, its active leases,
//! and a risk score (0-100) whose every point has a reason:
//!
//! | reason | `[nhi.risk_weights]` key | default points |
//! |---|---|---|
//! | no owner | `no_owner` | 25 |
//! | owner offboarded | `owner_offboarded` | 30 |
//! | a policy grants `*` paths, `sudo`, or is `root` | `broad_policy` | 25 |
//! | a token that never expires | `never_expires` | 20 |
//! | a token with more than 30 days left | `long_ttl` | 10 |
//! | unused for 30 days or more (or never used, 30 days after creation) | `unused` | 15 |
//! | more than 100 active leases | `many_leases` | 10 |
//! | a static user not rotated within its period | `rotation_overdue` | 20 |
//! | an AppRole whose secret IDs work from any network | `unbound_secret_ids` | 10 |
//! | an AWS role whose policy allows `*` actions | `aws_wildcard` | 20 |
//! | a role whose database connection is gone | `backend_gone` | 10 |
//! | policies allow writes, but 10+ requests since start were all reads | `unused_write` | 10 |
//! | a lease whose token is gone | `token_gone` | 30 |
//! | found outside the broker with superuser-like attributes | `privileged` | 25 |
//! | its secret (or key id) was found in files | `exposed_in_files` | 30 |
//! | a discovered credential created 90 days ago or more | `old_credential` | 10 |
//!
//! Orphaned: the owner was offboarded, or a role's backend connection is
//! gone (`db_name` names no config).
//!
//! Identities come in source order (mounts in table order, each one's
//! roles by name, then tokens by accessor, then discovered identities by
//! source and name), and a listing stops reading as
//! soon as its page is full, so the first page costs the same with 100 or
//! 100,000 identities. Active leases are counted up to 10,000.
//!
//! The modules: `listing` walks the sources in order and stops when a page
//! is full; `roles`, `tokens` and `leases` make one kind of identity each;
//! `context` holds the facts a listing gathers once (offboarded owners,
//! policies); `risk` adds the reasons every identity shares and scores it.

mod context;
mod discovered;
mod leases;
mod listing;
mod risk;
mod roles;
mod tokens;

use crate::auth::token::store::TokenStore;
use crate::error::ApiError;
use crate::lease::LeaseStore;
use crate::logical::MountEntry;
use crate::policy::PolicyStore;
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub use listing::{collect, one, scores};

/// A listing: which identities to keep, and how many are wanted.
pub struct Scan<'f> {
    pub keep: &'f (dyn Fn(&Identity) -> bool + Sync),
    /// Stop after this many kept identities; `None` reads everything.
    pub want: Option<usize>,
    /// Also read the leases (each an identity; there are many).
    pub leases: bool,
    /// Only this owner's roles and tokens are read (through the owner
    /// indexes); `keep` must still check the owner.
    pub owner: Option<&'f str>,
}

impl Scan<'_> {
    fn full(&self, found: &[Identity]) -> bool {
        self.want.is_some_and(|want| found.len() >= want)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub id: String,
    pub identity_type: &'static str,
    pub name: String,
    pub mount: String,
    pub owner: String,
    pub purpose: String,
    pub environment: String,
    pub labels: BTreeMap<String, String>,
    pub creation_date: Option<String>,
    pub last_accessed: Option<String>,
    pub permissions: Vec<String>,
    pub active_leases: usize,
    pub expiration: Option<String>,
    pub risk_score: u32,
    pub risk_reasons: Vec<String>,
    pub disabled: Option<String>,
    pub orphaned: bool,
    /// False for an identity found outside the broker (discovery).
    pub managed: bool,
    /// Where it lives: its mount, or the discovery source that found it.
    pub source: String,
    #[serde(skip)]
    pub last_used_unix: Option<i64>,
    #[serde(skip)]
    pub expire_unix: Option<i64>,
}

/// The mounted backends as the inventory reads them: which are mounted, and
/// a LIST or a read on one, on the broker's own behalf (the core serves it).
#[async_trait::async_trait]
pub trait Backends: Sync {
    fn mounts(&self) -> Vec<MountEntry>;
    async fn list(&self, mount: &MountEntry, path: &str) -> Result<Vec<String>, ApiError>;
    /// `None` when nothing is stored at `path`.
    async fn read(
        &self,
        mount: &MountEntry,
        path: &str,
    ) -> Result<Option<Map<String, Value>>, ApiError>;
}

/// Everything a listing reads.
pub struct Sources<'a> {
    pub backends: &'a dyn Backends,
    pub nhi: &'a super::NhiStore,
    pub tokens: &'a TokenStore,
    pub leases: &'a LeaseStore,
    pub policies: &'a PolicyStore,
    pub now: i64,
    pub weights: &'a super::RiskWeights,
    pub discovered: &'a crate::discover::DiscoverStore,
}
