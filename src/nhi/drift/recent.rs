//! The last 20 requests of each identity, for its page in the inventory
//! (`recent_requests` on `sys/nhi/identities/ID`): a workload's own
//! requests (its auth role's tokens, or the token itself) and the requests
//! that used a role to mint credentials. In memory only, for the same
//! 50,000 identities drift watches; the audit log is the full record.

use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Requests kept per identity.
const KEEP: usize = 20;
/// Identities kept at most; later ones are not recorded.
const MAX_IDENTITIES: usize = 50_000;

/// One request an identity made or was used by. The path only, never the
/// request's data or the answer's.
#[derive(Debug, Clone, Serialize)]
pub struct RecentRequest {
    pub time: String,
    pub operation: String,
    pub path: String,
    pub status: u16,
    pub remote_address: String,
}

#[derive(Default)]
pub struct RecentRequests {
    // A std lock: held for a list update only, never across an await.
    by_identity: Mutex<HashMap<String, VecDeque<RecentRequest>>>,
}

impl RecentRequests {
    pub fn record(&self, identity: &str, request: RecentRequest) {
        let Ok(mut by_identity) = self.by_identity.lock() else {
            return;
        };
        if by_identity.len() >= MAX_IDENTITIES && !by_identity.contains_key(identity) {
            return;
        }
        let kept = by_identity.entry(identity.to_string()).or_default();
        if kept.len() == KEEP {
            kept.pop_front();
        }
        kept.push_back(request);
    }

    /// An identity's recent requests, oldest first.
    pub fn of(&self, identity: &str) -> Vec<RecentRequest> {
        self.by_identity
            .lock()
            .ok()
            .and_then(|m| m.get(identity).map(|kept| kept.iter().cloned().collect()))
            .unwrap_or_default()
    }

    pub fn forget(&self, identity: &str) {
        if let Ok(mut by_identity) = self.by_identity.lock() {
            by_identity.remove(identity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(n: usize) -> RecentRequest {
        RecentRequest {
            time: n.to_string(),
            operation: "read".into(),
            path: format!("secret/data/{n}"),
            status: 200,
            remote_address: "127.0.0.1".into(),
        }
    }

    #[test]
    fn keeps_the_last_twenty_oldest_first() {
        let recent = RecentRequests::default();
        for n in 0..25 {
            recent.record("auth/approle/role/ci", request(n));
        }
        let kept = recent.of("auth/approle/role/ci");
        let times: Vec<&str> = kept.iter().map(|r| r.time.as_str()).collect();
        let want: Vec<String> = (5..25).map(|n| n.to_string()).collect();
        assert_eq!(times, want);
        recent.forget("auth/approle/role/ci");
        assert!(recent.of("auth/approle/role/ci").is_empty());
    }
}
