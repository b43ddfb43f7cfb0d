//! The process's memory allocator: jemalloc, and the two figures of it that
//! `sys/metrics` reports.
//!
//! Why not the system's: under the soak (scripts/faults/soak.sh) glibc's
//! malloc kept one arena per worker thread (16 here) and held on to what
//! each had freed, so RSS climbed 60 -> 102 MiB in ten minutes while the
//! heap in use stayed at 38-42 MiB (`malloc_stats()` sampled every minute;
//! docs/reliability.md). jemalloc hands freed pages back to the system
//! after a few seconds, so RSS follows what the program holds.

use tikv_jemalloc_ctl::{epoch, stats};

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// What the allocator holds, in bytes.
pub struct Usage {
    /// Handed to the program and not yet freed.
    pub allocated: u64,
    /// In physical memory on the allocator's behalf: `allocated` plus what
    /// it has not yet given back and its own bookkeeping.
    pub resident: u64,
}

/// The allocator's current figures (`None` if jemalloc cannot tell).
pub fn usage() -> Option<Usage> {
    // jemalloc's statistics are a snapshot refreshed by advancing the epoch.
    epoch::advance().ok()?;
    let allocated = stats::allocated::read().ok()?;
    let resident = stats::resident::read().ok()?;
    Some(Usage {
        allocated: u64::try_from(allocated).ok()?,
        resident: u64::try_from(resident).ok()?,
    })
}
