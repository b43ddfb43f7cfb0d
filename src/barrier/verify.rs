//! Walks the whole store and tries to open every encrypted entry: what
//! `sys/storage/verify` (`qm operator verify-storage`) reports. An entry
//! that does not open (a flipped byte, a value moved to another key, a
//! record of a keyring term that is gone) is named with its error; the
//! values themselves are never returned.

use super::{Barrier, BarrierError, KEYRING_PATH};
use crate::barrier::{autoseal::WRAPPED_KEY_PATH, seal};

/// Entries stored outside the keyring's encryption: the keyring itself
/// (sealed by the key-encryption key, so checked by every unseal) and the
/// seal's own configuration.
const PLAIN_KEYS: [&str; 4] = [
    KEYRING_PATH,
    seal::SEAL_CONFIG_PATH,
    WRAPPED_KEY_PATH,
    seal::RECOVERY_KEY_PATH,
];

/// How many entries are read from storage at a time.
const BATCH: usize = 512;

/// What a walk found.
pub struct Verification {
    /// Encrypted entries opened (or tried).
    pub checked: usize,
    /// `(key, why)` for each entry that did not open.
    pub unreadable: Vec<(String, String)>,
}

impl Barrier {
    /// Tries to open every encrypted entry of the store.
    pub async fn verify(&self) -> Result<Verification, BarrierError> {
        let keys: Vec<String> = self
            .keys("")
            .await?
            .into_iter()
            .filter(|k| !PLAIN_KEYS.contains(&k.as_str()))
            .collect();
        let mut found = Verification {
            checked: 0,
            unreadable: Vec::new(),
        };
        for batch in keys.chunks(BATCH) {
            let batch = batch.to_vec();
            let values = self
                .on_store(move |s| {
                    batch
                        .into_iter()
                        .map(|key| s.get(&key).map(|value| (key, value)))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await?;
            for (key, value) in values {
                // Gone since the listing: nothing to check.
                let Some(sealed) = value else { continue };
                found.checked = found.checked.saturating_add(1);
                if let Err(error) = self.decrypt(&key, &sealed) {
                    found.unreadable.push((key, error.to_string()));
                }
            }
        }
        Ok(found)
    }
}
