//! Throttling of failed unseal attempts. The first few failures are free
//! (typos happen); after that each failure closes `sys/unseal` for a delay
//! that doubles, up to a cap, and attempts inside the delay are refused with
//! 429 before any key material is looked at. A success clears the count.
//!
//! Kept in memory: a restart clears it, but a restart also costs the
//! attacker far more than the delay. Every unseal attempt passes through
//! one gate (a tokio mutex around this state), so parallel guesses cannot
//! slip in before earlier failures are counted, and only one argon2
//! derivation runs at a time.

use std::time::{Duration, Instant};

/// Failures allowed before any delay.
const FREE_FAILURES: u32 = 3;
/// The delay after the first failure past the free ones; it doubles after each further one.
const BASE_DELAY: Duration = Duration::from_secs(1);
/// The longest delay.
const MAX_DELAY: Duration = Duration::from_secs(300);

#[derive(Default)]
pub(super) struct UnsealThrottle {
    failures: u32,
    closed_until: Option<Instant>,
}

impl UnsealThrottle {
    /// How long an attempt must still wait, if it must.
    pub(super) fn wait(&self, now: Instant) -> Option<Duration> {
        self.closed_until
            .and_then(|until| until.checked_duration_since(now))
            .filter(|left| !left.is_zero())
    }

    /// Counts a failed attempt and closes the gate if it is past the free ones.
    pub(super) fn failed(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if let Some(over) = self.failures.checked_sub(FREE_FAILURES) {
            let delay = BASE_DELAY
                .checked_mul(1u32.checked_shl(over).unwrap_or(u32::MAX))
                .unwrap_or(MAX_DELAY)
                .min(MAX_DELAY);
            self.closed_until = now.checked_add(delay);
        }
    }

    pub(super) fn succeeded(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_and_double_to_the_cap() {
        let now = Instant::now();
        let mut throttle = UnsealThrottle::default();
        for _ in 0..FREE_FAILURES - 1 {
            throttle.failed(now);
            assert_eq!(throttle.wait(now), None);
        }
        throttle.failed(now);
        assert_eq!(throttle.wait(now), Some(BASE_DELAY));
        assert_eq!(throttle.wait(now + BASE_DELAY), None);
        throttle.failed(now);
        assert_eq!(throttle.wait(now), Some(BASE_DELAY * 2));
        for _ in 0..64 {
            throttle.failed(now);
        }
        assert_eq!(throttle.wait(now), Some(MAX_DELAY));
        throttle.succeeded();
        assert_eq!(throttle.wait(now), None);
    }
}
