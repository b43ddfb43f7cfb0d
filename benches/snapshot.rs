//! Snapshots at the storage level on sled: how long `snapshot` (every entry
//! as of one moment, writers held off) and `replace_all` (a restore's one
//! atomic write) take for N entries of lease-record size, next to the
//! physical limits measured in the same run on the same store:
//!   - a plain scan of every entry (what a snapshot can never beat), and
//!   - writing the same entries over themselves as one batch and flushing
//!     it (what a restore, which also finds and deletes what the snapshot
//!     lacks, can never beat).
//!
//! Run: `cargo bench --bench snapshot` (`QM_BENCH_ENTRIES`, default 200000).

// A benchmark indexes its own fixtures and sums its own timings.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use quartermaster::storage::{Change, SledStorage, Storage};
use std::time::Instant;

fn main() {
    let entries: usize = std::env::var("QM_BENCH_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SledStorage::open(&dir.path().join("data")).expect("open");
    // ~330 bytes: a lease record's ciphertext.
    let value = vec![0x5au8; 330];
    for chunk in (0..entries).collect::<Vec<_>>().chunks(10_000) {
        let changes = chunk
            .iter()
            .map(|i| {
                Change::Put(
                    format!("sys/lease/id/database/creds/app/{i:024}"),
                    value.clone(),
                )
            })
            .collect();
        store.apply(changes).expect("load");
    }
    store.flush().expect("flush");

    let started = Instant::now();
    let copy = store.snapshot().expect("snapshot");
    let snapshot = started.elapsed();
    assert_eq!(copy.len(), entries);

    let started = Instant::now();
    let scanned = store.keys_with_prefix("").expect("scan").len();
    let scan = started.elapsed();
    assert_eq!(scanned, entries);

    let started = Instant::now();
    store.replace_all(copy.clone()).expect("replace");
    let restore = started.elapsed();

    let started = Instant::now();
    store
        .apply(copy.into_iter().map(|(k, v)| Change::Put(k, v)).collect())
        .expect("raw batch");
    store.flush().expect("flush");
    let raw_write = started.elapsed();

    println!("snapshot of {entries} entries (sled, one machine)");
    println!(
        "  save:    {:>8.1} ms   limit (scan of every key):        {:>8.1} ms   {:.2}x",
        snapshot.as_secs_f64() * 1e3,
        scan.as_secs_f64() * 1e3,
        snapshot.as_secs_f64() / scan.as_secs_f64()
    );
    println!(
        "  restore: {:>8.1} ms   limit (one batch of puts + flush): {:>8.1} ms   {:.2}x",
        restore.as_secs_f64() * 1e3,
        raw_write.as_secs_f64() * 1e3,
        restore.as_secs_f64() / raw_write.as_secs_f64()
    );
}
