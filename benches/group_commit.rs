//! Group commit, measured below HTTP: durable (fsync'd) barrier writes per
//! second with 1 and 64 concurrent writers, next to the two physical limits
//! measured in the same run on the same disk:
//!   - raw sled insert+flush in a loop (one fsync per write: what a single
//!     writer can ever reach), and
//!   - the same barrier writes without waiting for the disk (the CPU ceiling
//!     of encrypting and applying, which 64 writers cannot exceed).
//!
//! Run: `cargo bench --bench group_commit`.

// A benchmark indexes its own fixtures and sums its own timings.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

use quartermaster::barrier::{Barrier, Write};
use quartermaster::clock::SystemClock;
use quartermaster::storage::{Change, SledStorage, Storage};
use std::sync::Arc;
use std::time::{Duration, Instant};

const RUN: Duration = Duration::from_secs(3);

fn raw_sled_fsync_rate(dir: &std::path::Path) -> f64 {
    let storage = SledStorage::open(&dir.join("raw")).expect("open");
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < RUN {
        storage
            .apply(vec![Change::Put(format!("k/{n}"), vec![7u8; 64])])
            .expect("apply");
        storage.flush().expect("flush");
        n += 1;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn barrier_rate(barrier: Arc<Barrier>, writers: usize, durable: bool) -> f64 {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while started.elapsed() < RUN {
                let write = Write::Put(format!("bench/{w}/{}", n % 1000), vec![7u8; 64]);
                if durable {
                    barrier.write(vec![write]).await.expect("write");
                } else {
                    barrier.write_relaxed(vec![write]).expect("write");
                    tokio::task::yield_now().await;
                }
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let raw = raw_sled_fsync_rate(dir.path());
    let (one, many, ceiling) = runtime.block_on(async {
        let storage: Arc<dyn Storage> =
            Arc::new(SledStorage::open(&dir.path().join("barrier")).expect("open"));
        let clock = Arc::new(SystemClock);
        let barrier = Barrier::new(storage, clock);
        barrier.initialize(&[1u8; 32]).await.expect("init");
        let one = barrier_rate(Arc::clone(&barrier), 1, true).await;
        let many = barrier_rate(Arc::clone(&barrier), 64, true).await;
        let ceiling = barrier_rate(Arc::clone(&barrier), 64, false).await;
        (one, many, ceiling)
    });
    println!("{:<52} {:>10}", "measurement", "writes/s");
    println!(
        "{:<52} {:>10.0}",
        "limit: raw sled insert+fsync, 1 writer", raw
    );
    println!("{:<52} {:>10.0}", "barrier write, durable, 1 writer", one);
    println!(
        "{:<52} {:>10.0}",
        "barrier write, durable, 64 writers (group commit)", many
    );
    println!(
        "{:<52} {:>10.0}",
        "limit: barrier write, not flushed, 64 writers (CPU)", ceiling
    );
    println!();
    println!("64 writers / 1 writer: {:.1}x (target >= 5x)", many / one);
    println!("64 writers / CPU ceiling: {:.2}", many / ceiling);
}
