//! The audit hash chain's values. Each line carries `prev_hash`, the link
//! to the line before it, and `seq`, its number in the device's sequence
//! (continuing across restarts and rotations).
//!
//! Links are `hmac-sha256:<hex>` of the previous line's bytes under the
//! device's chain key, which lives only in the barrier (the encrypted device
//! table): someone who can edit the file but does not hold the key cannot
//! recompute the links after an edit. The chain key is not the device's
//! HMAC key for secrets: `sys/audit-hash` computes that one for any input,
//! which would let its callers forge links.
//!
//! Lines written before links were keyed carry `sha256:<hex>` (unkeyed); a
//! keyed link after them covers them (see [`super::verify`]).
//!
//! The head (the last line's `seq` and link value) is kept in memory and
//! stored in the barrier (`core/audit-head/NAME`), so that a file whose
//! tail was cut off while the server was down is detected (the chain goes
//! on from the stored head, leaving a visible gap) and so that `qm audit
//! verify` can tell a truncated file from a complete one.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The prefix of a keyed link.
pub const KEYED: &str = "hmac-sha256:";
/// The prefix of an unkeyed (legacy) link.
pub const UNKEYED: &str = "sha256:";

/// The last line a device wrote: its sequence number and its link value
/// (what the next line carries as `prev_hash`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Head {
    pub seq: u64,
    pub hash: String,
}

/// The keyed link value of `line` (without its newline).
pub fn link(key: &[u8], line: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(line);
    format!("{KEYED}{}", hex::encode(mac.finalize().into_bytes()))
}

/// The unkeyed link value earlier versions wrote.
pub fn unkeyed_link(line: &[u8]) -> String {
    format!("{UNKEYED}{}", hex::encode(Sha256::digest(line)))
}

/// The `seq` field of a line, if it is a JSON object that has one.
pub fn seq_of(line: &[u8]) -> Option<u64> {
    serde_json::from_slice::<serde_json::Value>(line)
        .ok()?
        .get("seq")?
        .as_u64()
}
