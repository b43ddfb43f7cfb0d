//! Room on the filesystem under the sled store, and what a full disk looks
//! like from sled.
//!
//! sled 0.34 meets ENOSPC as an I/O error in its log writer and keeps it:
//! from then on every write of that open database fails, and so do the few
//! reads that walk into a node split or a delta chain sled wants to
//! consolidate (they write too); only a close and reopen clears it, and a
//! reopen writes a recovery snapshot, which needs room itself. So the
//! store refuses writes while less than [`RESERVE_BYTES`] are free, before
//! sled can run out, and reopens a database that ran out anyway once
//! there is room again (see `SledStorage`).

use std::path::Path;

/// Free bytes below which the store refuses writes ("storage is full").
pub(super) const RESERVE_BYTES: u64 = 16 * 1024 * 1024;

/// Bytes that an unprivileged writer can still use on the filesystem that
/// holds `dir`; `None` if the filesystem cannot say.
pub(super) fn available(dir: &Path) -> Option<u64> {
    let stat = nix::sys::statvfs::statvfs(dir).ok()?;
    stat.blocks_available().checked_mul(stat.fragment_size())
}

/// Whether fewer than `needed` bytes are free under `dir` (false when the
/// filesystem cannot say: then sled's own error decides).
pub(super) fn short_of(dir: &Path, needed: u64) -> bool {
    available(dir).is_some_and(|free| free < needed)
}

/// The room a reopen needs: `reserve` and a new recovery snapshot as
/// large as the ones sled keeps now (`snap.*` in `dir`).
pub(super) fn needed_to_reopen(dir: &Path, reserve: u64) -> u64 {
    let snapshots: u64 = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with("snap."))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .fold(0u64, u64::saturating_add)
        })
        .unwrap_or(0);
    reserve.saturating_add(snapshots)
}

/// Whether sled failed because the disk (or the user's quota) is full.
pub(super) fn is_full(e: &sled::Error) -> bool {
    use std::io::ErrorKind;
    matches!(e, sled::Error::Io(io)
        if matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded))
}
