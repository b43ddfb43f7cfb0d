//! Per-username login throttling, in memory (one table per userpass mount,
//! lost on restart or failover). Every login attempt counts as a failure
//! before its password is checked, and a success clears the count, so
//! concurrent guesses cannot all slip in before the first failure is
//! recorded. After [`FREE_FAILURES`] failures within [`WINDOW`] seconds the
//! name is refused for the rest of the window. Unknown names are counted
//! exactly like known ones, so the throttle never tells them apart. The
//! table holds at most [`CAPACITY`] names; past that, expired entries go
//! first, then the oldest.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures allowed within a window before the name is refused.
pub(super) const FREE_FAILURES: u32 = 5;
/// Seconds a failure counts, and a refusal lasts, from the first failure.
pub(super) const WINDOW: i64 = 15 * 60;
/// Names tracked at once.
const CAPACITY: usize = 10_000;

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    /// Unix seconds of the first failure of this window.
    since: i64,
}

#[derive(Default)]
pub(super) struct Throttle {
    // A std lock: held for a map update, never across an await.
    failures: Mutex<HashMap<String, Failures>>,
}

impl Throttle {
    /// Records an attempt for `name` at `now`; `false` when the name is
    /// refused for now (the attempt is not checked, nor counted).
    pub(super) fn attempt(&self, name: &str, now: i64) -> bool {
        let Ok(mut table) = self.failures.lock() else {
            return false;
        };
        let expired = |f: &Failures| now.saturating_sub(f.since) >= WINDOW;
        if table.len() >= CAPACITY && !table.contains_key(name) {
            table.retain(|_, f| !expired(f));
            if table.len() >= CAPACITY {
                let oldest = table
                    .iter()
                    .min_by_key(|(_, f)| f.since)
                    .map(|(n, _)| n.clone());
                if let Some(oldest) = oldest {
                    table.remove(&oldest);
                }
            }
        }
        let entry = table.entry(name.to_string()).or_insert(Failures {
            count: 0,
            since: now,
        });
        if expired(entry) {
            *entry = Failures {
                count: 0,
                since: now,
            };
        }
        if entry.count >= FREE_FAILURES {
            return false;
        }
        entry.count = entry.count.saturating_add(1);
        true
    }

    /// A successful login: the name's count is cleared.
    pub(super) fn succeeded(&self, name: &str) {
        if let Ok(mut table) = self.failures.lock() {
            table.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_free_failures_until_the_window_ends() {
        let throttle = Throttle::default();
        for _ in 0..FREE_FAILURES {
            assert!(throttle.attempt("alice", 100));
        }
        assert!(!throttle.attempt("alice", 101));
        assert!(throttle.attempt("bob", 101), "per name");
        assert!(!throttle.attempt("alice", 100 + WINDOW - 1));
        assert!(throttle.attempt("alice", 100 + WINDOW));
        throttle.succeeded("alice");
        for _ in 0..FREE_FAILURES {
            assert!(throttle.attempt("alice", 100 + WINDOW));
        }
    }

    #[test]
    fn the_table_is_bounded() {
        let throttle = Throttle::default();
        for i in 0..CAPACITY + 10 {
            throttle.attempt(&format!("user{i}"), 1);
        }
        assert!(throttle.failures.lock().unwrap().len() <= CAPACITY);
    }
}
