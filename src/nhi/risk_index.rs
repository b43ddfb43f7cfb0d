//! The risk index: every role and token identity's risk score, kept in
//! memory in rank order, so `sort=risk` walks identities from the riskiest
//! down and stops when its page is full instead of scoring everything.
//!
//! How it stays true:
//! - built in full in the background after unseal, and again every 10
//!   minutes (what time alone changes: "unused for 30 days", days left);
//! - an identity a request touches (the role it writes or uses, the caller's
//!   workload, a token it creates) is marked and re-scored within a second,
//!   and before any `sort=risk` read;
//! - a write that can change many scores at once (a policy, a mount, a
//!   database connection, an offboarding) asks for a full rebuild.
//!
//! A read re-scores every identity it returns, so a page never shows a
//! stale score; the order between pages can lag by what the paragraph above
//! allows. Until the first build is done, `sort=risk` scans as before.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;

/// Seconds between full rebuilds.
pub const REBUILD_EVERY: i64 = 600;

#[derive(Default)]
struct Ranked {
    scores: HashMap<String, u32>,
    order: BTreeSet<(Reverse<u32>, String)>,
}

impl Ranked {
    fn set(&mut self, id: &str, score: Option<u32>) {
        if let Some(old) = self.scores.remove(id) {
            self.order.remove(&(Reverse(old), id.to_string()));
        }
        if let Some(score) = score {
            self.scores.insert(id.to_string(), score);
            self.order.insert((Reverse(score), id.to_string()));
        }
    }
}

#[derive(Default)]
pub struct RiskIndex {
    // std locks: held for map updates only, never across an await.
    ranked: Mutex<Option<Ranked>>,
    marked: Mutex<HashSet<String>>,
    rebuild_wanted: AtomicBool,
    building: AtomicBool,
    built_at: AtomicI64,
}

impl RiskIndex {
    /// Whether the first build is done.
    pub fn ready(&self) -> bool {
        self.ranked.lock().is_ok_and(|r| r.is_some())
    }

    /// Marks an identity for re-scoring.
    pub fn mark(&self, id: &str) {
        if let Ok(mut marked) = self.marked.lock() {
            if !marked.contains(id) {
                marked.insert(id.to_string());
            }
        }
    }

    /// Asks for a full rebuild (a write that may change many scores).
    pub fn want_rebuild(&self) {
        self.rebuild_wanted.store(true, Ordering::Relaxed);
    }

    /// Whether a full rebuild is due at `now`; if so, claims it (one at a
    /// time) and the caller must call [`RiskIndex::rebuilt`] or
    /// [`RiskIndex::rebuild_failed`].
    pub fn claim_rebuild(&self, now: i64) -> bool {
        let due = !self.ready()
            || self.rebuild_wanted.load(Ordering::Relaxed)
            || now.saturating_sub(self.built_at.load(Ordering::Relaxed)) >= REBUILD_EVERY;
        due && !self.building.swap(true, Ordering::AcqRel)
    }

    /// Replaces every score (a full build that started at `started`).
    /// Identities marked meanwhile stay marked, to be re-scored again.
    pub fn rebuilt(&self, scores: Vec<(String, u32)>, started: i64) {
        let mut ranked = Ranked::default();
        for (id, score) in scores {
            ranked.set(&id, Some(score));
        }
        if let Ok(mut current) = self.ranked.lock() {
            *current = Some(ranked);
        }
        self.rebuild_wanted.store(false, Ordering::Relaxed);
        self.built_at.store(started, Ordering::Relaxed);
        self.building.store(false, Ordering::Release);
    }

    pub fn rebuild_failed(&self) {
        self.building.store(false, Ordering::Release);
    }

    /// Takes the marked identities, to re-score.
    pub fn take_marked(&self) -> Vec<String> {
        self.marked
            .lock()
            .map(|mut m| m.drain().collect())
            .unwrap_or_default()
    }

    /// Sets one identity's score; `None` removes it (it is gone).
    pub fn set(&self, id: &str, score: Option<u32>) {
        if let Ok(mut ranked) = self.ranked.lock() {
            if let Some(ranked) = ranked.as_mut() {
                ranked.set(id, score);
            }
        }
    }

    /// Up to `count` ids in rank order (riskiest first, then by id),
    /// starting at rank `from`.
    pub fn ranked_ids(&self, from: usize, count: usize) -> Vec<String> {
        self.ranked
            .lock()
            .ok()
            .and_then(|r| {
                r.as_ref().map(|r| {
                    r.order
                        .iter()
                        .skip(from)
                        .take(count)
                        .map(|(_, id)| id.clone())
                        .collect()
                })
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_riskiest_first_and_follows_updates() {
        let index = RiskIndex::default();
        assert!(!index.ready());
        assert!(index.claim_rebuild(0));
        assert!(!index.claim_rebuild(0), "one build at a time");
        index.rebuilt(
            vec![("a".into(), 10), ("b".into(), 70), ("c".into(), 10)],
            0,
        );
        assert_eq!(index.ranked_ids(0, 10), ["b", "a", "c"]);
        index.set("c", Some(90));
        index.set("b", None);
        assert_eq!(index.ranked_ids(0, 10), ["c", "a"]);
        assert_eq!(index.ranked_ids(1, 1), ["a"]);
        assert!(!index.claim_rebuild(10));
        index.want_rebuild();
        assert!(index.claim_rebuild(10));
        index.rebuild_failed();
        assert!(index.claim_rebuild(REBUILD_EVERY));
    }
}
