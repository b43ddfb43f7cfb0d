//! The snapshot file, in the layout the `bao operator raft snapshot` CLI
//! reads: a gzip'd tar of `meta.json`, `state.bin`, `SHA256SUMS` and
//! `SHA256SUMS.sealed`.
//!
//! - `state.bin`: every stored entry as it is on disk (barrier ciphertext;
//!   the seal's plain configuration), each framed as
//!   `[key length: u32 BE][key][value length: u32 BE][value]`.
//! - `SHA256SUMS`: `sha256  name` lines for the two files above.
//! - `SHA256SUMS.sealed`: the same text encrypted by the barrier, so a
//!   restore can tell a snapshot of this store from anything else.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;

const META: &str = "meta.json";
const STATE: &str = "state.bin";
const SUMS: &str = "SHA256SUMS";
const SEALED_SUMS: &str = "SHA256SUMS.sealed";
/// The barrier associated data the sealed sums are bound to.
pub(super) const SEALED_SUMS_AAD: &str = "sys/snapshot/SHA256SUMS";

/// A snapshot's description.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Meta {
    pub(super) format: String,
    pub(super) version: u32,
    pub(super) created_at: i64,
    pub(super) entries: usize,
    pub(super) storage_type: String,
}

pub(super) const FORMAT: &str = "quartermaster-snapshot";

/// A snapshot read back: its description, entries and the sums to check.
pub(super) struct Archive {
    pub(super) meta: Meta,
    pub(super) entries: Vec<(String, Vec<u8>)>,
    pub(super) sums: Vec<u8>,
    pub(super) sealed_sums: Vec<u8>,
}

/// Why a file is not a snapshot this server can restore.
#[derive(Debug, thiserror::Error)]
pub(super) enum ArchiveError {
    #[error("not a snapshot: {0}")]
    Malformed(String),
    #[error("the snapshot is damaged: {0}")]
    Checksum(String),
}

fn malformed(e: impl std::fmt::Display) -> ArchiveError {
    ArchiveError::Malformed(e.to_string())
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The `SHA256SUMS` text of the two data files.
pub(super) fn sums(meta: &[u8], state: &[u8]) -> Vec<u8> {
    format!(
        "{}  {META}\n{}  {STATE}\n",
        sha256_hex(meta),
        sha256_hex(state)
    )
    .into_bytes()
}

/// Frames entries as `state.bin`.
pub(super) fn encode_state(entries: &[(String, Vec<u8>)]) -> Result<Vec<u8>, ArchiveError> {
    let size: usize = entries
        .iter()
        .map(|(k, v)| k.len().saturating_add(v.len()).saturating_add(8))
        .fold(0, usize::saturating_add);
    let mut out = Vec::with_capacity(size);
    for (key, value) in entries {
        for part in [key.as_bytes(), value.as_slice()] {
            let len = u32::try_from(part.len()).map_err(|_| malformed("an entry over 4 GiB"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    Ok(out)
}

fn decode_state(mut state: &[u8]) -> Result<Vec<(String, Vec<u8>)>, ArchiveError> {
    let take = |state: &mut &[u8]| -> Result<Vec<u8>, ArchiveError> {
        let (len, rest) = state
            .split_first_chunk::<4>()
            .ok_or_else(|| malformed("state.bin ends inside an entry"))?;
        let len = usize::try_from(u32::from_be_bytes(*len)).map_err(malformed)?;
        let (part, rest) = rest
            .split_at_checked(len)
            .ok_or_else(|| malformed("state.bin ends inside an entry"))?;
        *state = rest;
        Ok(part.to_vec())
    };
    let mut entries = Vec::new();
    while !state.is_empty() {
        let key = String::from_utf8(take(&mut state)?)
            .map_err(|_| malformed("a key in state.bin is not UTF-8"))?;
        let value = take(&mut state)?;
        entries.push((key, value));
    }
    Ok(entries)
}

/// Writes the archive.
pub(super) fn write(
    meta: &Meta,
    state: &[u8],
    sealed_sums: &[u8],
) -> Result<Vec<u8>, ArchiveError> {
    let meta_json = serde_json::to_vec(meta).map_err(malformed)?;
    let sums = sums(&meta_json, state);
    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gzip);
    for (name, bytes) in [
        (META, meta_json.as_slice()),
        (STATE, state),
        (SUMS, sums.as_slice()),
        (SEALED_SUMS, sealed_sums),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(u64::try_from(bytes.len()).map_err(malformed)?);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(meta.created_at).unwrap_or(0));
        header.set_cksum();
        tar.append_data(&mut header, name, bytes)
            .map_err(malformed)?;
    }
    let gzip = tar.into_inner().map_err(malformed)?;
    gzip.finish().map_err(malformed)
}

/// Reads an archive and checks its plain sums (the sealed ones are the
/// barrier's to check).
pub(super) fn read(bytes: &[u8]) -> Result<Archive, ArchiveError> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    let (mut meta, mut state, mut sums_file, mut sealed) = (None, None, None, None);
    for entry in tar.entries().map_err(malformed)? {
        let mut entry = entry.map_err(malformed)?;
        let name = entry
            .path()
            .map_err(malformed)?
            .to_string_lossy()
            .into_owned();
        let mut content = Vec::new();
        entry.read_to_end(&mut content).map_err(malformed)?;
        let slot = match name.as_str() {
            META => &mut meta,
            STATE => &mut state,
            SUMS => &mut sums_file,
            SEALED_SUMS => &mut sealed,
            other => return Err(malformed(format!("unexpected file {other:?} in snapshot"))),
        };
        *slot = Some(content);
    }
    // Read the gzip stream to its end, so its length and CRC trailer are
    // checked too (tar stops at its own end marker).
    let mut rest = Vec::new();
    tar.into_inner()
        .read_to_end(&mut rest)
        .map_err(|e| malformed(format!("the gzip stream is damaged: {e}")))?;
    let missing = |name: &str| malformed(format!("{name} is missing"));
    let meta_json = meta.ok_or_else(|| missing(META))?;
    let state = state.ok_or_else(|| missing(STATE))?;
    let sums_file = sums_file.ok_or_else(|| missing(SUMS))?;
    let sealed_sums = sealed.ok_or_else(|| missing(SEALED_SUMS))?;
    if sums(&meta_json, &state) != sums_file {
        return Err(ArchiveError::Checksum(
            "SHA256SUMS does not match meta.json and state.bin".into(),
        ));
    }
    let meta: Meta = serde_json::from_slice(&meta_json).map_err(malformed)?;
    if meta.format != FORMAT || meta.version != 1 {
        return Err(malformed(format!(
            "format {:?} version {} is not a Quartermaster snapshot this server reads",
            meta.format, meta.version
        )));
    }
    let entries = decode_state(&state)?;
    if entries.len() != meta.entries {
        return Err(ArchiveError::Checksum(format!(
            "{} entries where meta.json says {}",
            entries.len(),
            meta.entries
        )));
    }
    Ok(Archive {
        meta,
        entries,
        sums: sums_file,
        sealed_sums,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(entries: usize) -> Meta {
        Meta {
            format: FORMAT.into(),
            version: 1,
            created_at: 1_700_000_000,
            entries,
            storage_type: "sled".into(),
        }
    }

    #[test]
    fn archives_read_back_what_was_written() {
        let entries = vec![
            ("core/keyring".to_string(), vec![1, 2, 3]),
            ("sys/lease/id/x".to_string(), Vec::new()),
        ];
        let state = encode_state(&entries).unwrap();
        let bytes = write(&meta(2), &state, b"sealed").unwrap();
        let archive = read(&bytes).unwrap();
        assert_eq!(archive.entries, entries);
        assert_eq!(archive.sealed_sums, b"sealed");
        assert_eq!(
            archive.sums,
            sums(&serde_json::to_vec(&meta(2)).unwrap(), &state)
        );
    }

    #[test]
    fn damaged_or_foreign_files_are_refused_without_a_panic() {
        let state = encode_state(&[("k".into(), vec![9; 100])]).unwrap();
        let good = write(&meta(1), &state, b"s").unwrap();
        assert!(read(b"not gzip at all").is_err());
        assert!(read(&[]).is_err());
        let wrong_count = write(&meta(5), &state, b"s").unwrap();
        assert!(matches!(read(&wrong_count), Err(ArchiveError::Checksum(_))));
        for cut in [10, good.len() / 2, good.len() - 1] {
            assert!(read(&good[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_state(&[0, 0, 0, 9, b'a']).is_err());
    }
}
