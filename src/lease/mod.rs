//! Leases: the lease manager and the ledger beneath it.
//!
//! The [`LeaseManager`] owns everything a lease goes through: issuing a
//! plugin's credential crash-safely, recording a token's lease, renewing,
//! revoking (one lease, a prefix, a token with its children), the expiry
//! schedule and the retries of revocations that fail. The core holds one per
//! unseal and calls it; it reaches the plugins that issued leases through
//! [`Issuers`], which the core's mount table implements.
//!
//! The [`LeaseStore`] ledger beneath it keeps the records and their ordered
//! indexes (`ledger.rs` explains the crash-safe write order).

mod error;
mod expiry;
mod issue;
mod jobs;
mod ledger;
mod manager;
mod outage;
mod record;
mod revoke;

pub use error::LeaseError;
pub use issue::Asked;
pub use jobs::{JobStatus, Revocation};
pub use ledger::{LeaseStore, LedgerError};
pub use manager::{mount_ttls, Issuer, Issuers, LeaseManager, Limits, Parts};
pub use record::{LeaseKind, LeaseRecord, LeaseState};
