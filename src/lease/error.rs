//! What can go wrong managing a lease: the client's mistake, a quota, the
//! backend that issued it, the stores beneath, or a background task.

use super::LedgerError;
use crate::auth::token::store::TokenError;
use qm_plugin_sdk::PluginError;

#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// The request cannot be served as asked (a 400).
    #[error("{0}")]
    Invalid(String),
    /// A role's `max_active_leases` is reached (a 429).
    #[error("{0}")]
    QuotaReached(String),
    /// The plugin that issues or revokes the credential failed.
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Barrier(#[from] crate::barrier::BarrierError),
    /// A background task that did not finish (it panicked or was cancelled).
    #[error("revocation task failed: {0}")]
    Task(String),
}
