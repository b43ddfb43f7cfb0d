//! A lease record: what was issued, to whom, until when, and how its
//! revocation is going.

use qm_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseState {
    /// Recorded; the credential may or may not exist yet.
    Pending,
    Active,
    /// Revocation failed past the retry bound; still retried, slowly.
    Irrevocable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaseKind {
    /// A credential issued by a secrets plugin.
    Secret,
    /// A token with a TTL (lease id `auth/token/create/<hash>`).
    Token,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaseRecord {
    pub lease_id: String,
    pub kind: LeaseKind,
    /// The mount that issued it, with its trailing slash.
    pub mount: String,
    pub role: String,
    /// The plugin's revocation data (never the secret).
    pub internal: Value,
    /// The token that asked for it; its revocation revokes this lease.
    pub token_hash: Option<String>,
    pub issued_at: i64,
    pub expire_at: i64,
    /// Renewals never move `expire_at` past this.
    pub max_expire_at: i64,
    pub renewable: bool,
    pub state: LeaseState,
    /// When the lease next needs attention: `expire_at`, or the next retry.
    pub due_at: i64,
    pub revoke_attempts: u32,
    pub last_error: Option<String>,
    /// Whether the last revocation failed because the backend could not be
    /// reached: such leases are retried as soon as it answers again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backend_unreachable: bool,
    pub last_renewal: Option<i64>,
}

/// Revocation retries back off exponentially up to this delay.
pub(crate) const MAX_RETRY_DELAY: i64 = 3600;
/// After this many failed attempts a lease is marked irrevocable.
pub(crate) const IRREVOCABLE_AFTER: u32 = 8;

impl LeaseRecord {
    /// Records a failed revocation and schedules the next attempt, with
    /// exponential backoff and jitter.
    pub fn schedule_retry(&mut self, now: i64, error: &PluginError) {
        self.revoke_attempts = self.revoke_attempts.saturating_add(1);
        let exponent = self.revoke_attempts.min(12);
        let base = (1i64 << exponent).min(MAX_RETRY_DELAY);
        let spread = u32::try_from(base.saturating_div(4).saturating_add(1)).unwrap_or(1);
        let jitter = rand::random::<u32>().checked_rem(spread).unwrap_or(0);
        self.due_at = now.saturating_add(base).saturating_add(i64::from(jitter));
        self.last_error = Some(error.to_string());
        self.backend_unreachable = matches!(error, PluginError::Unreachable(_));
        if self.revoke_attempts >= IRREVOCABLE_AFTER && self.state != LeaseState::Pending {
            self.state = LeaseState::Irrevocable;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> LeaseRecord {
        LeaseRecord {
            lease_id: "database/creds/r/1".into(),
            kind: LeaseKind::Secret,
            mount: "database/".into(),
            role: "r".into(),
            internal: Value::Null,
            token_hash: None,
            issued_at: 0,
            expire_at: 10,
            max_expire_at: 100,
            renewable: true,
            state: LeaseState::Active,
            due_at: 10,
            revoke_attempts: 0,
            last_error: None,
            backend_unreachable: false,
            last_renewal: None,
        }
    }

    #[test]
    fn retries_back_off_then_mark_irrevocable() {
        let mut lease = record();
        let refused = PluginError::Unreachable("connection refused".into());
        lease.schedule_retry(1000, &refused);
        assert!(lease.backend_unreachable);
        assert!(
            lease.due_at >= 1002 && lease.due_at <= 1003,
            "{}",
            lease.due_at
        );
        for _ in 1..IRREVOCABLE_AFTER {
            lease.schedule_retry(1000, &refused);
        }
        assert_eq!(lease.state, LeaseState::Irrevocable);
        for _ in 0..20 {
            lease.schedule_retry(1000, &PluginError::Backend("still failing".into()));
        }
        assert!(lease.due_at <= 1000 + MAX_RETRY_DELAY + MAX_RETRY_DELAY / 4 + 1);
        assert_eq!(lease.last_error.as_deref(), Some("still failing"));
        assert!(
            !lease.backend_unreachable,
            "a failure of another kind keeps its backoff"
        );
    }
}
