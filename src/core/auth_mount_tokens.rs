//! Tokens end with the auth method that issued them: disabling an auth
//! mount revokes every token that logged in through it (found by the
//! mount's accessor recorded with each login token, so a mount enabled
//! again under the same path never inherits or revives them), with their
//! children and leases, whether or not the tokens have a TTL.

use super::{Active, Core};
use crate::error::ApiError;
use crate::logical::MountEntry;

/// Which tokens to look for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweep {
    /// The mount's recorded tokens, and tokens issued before mounts were
    /// recorded (by creation path; reads every token entry).
    Full,
    /// Only the recorded ones: the pass after the mount is gone, for logins
    /// that were in flight during the first.
    Recorded,
}

impl Core {
    /// Revokes every token issued through the auth mount `mount`; returns
    /// how many. An error leaves the rest for the next attempt.
    pub(crate) async fn revoke_auth_mount_tokens(
        &self,
        active: &Active,
        mount: &MountEntry,
        sweep: Sweep,
    ) -> Result<usize, ApiError> {
        if !mount.is_auth() || mount.kind == "token" {
            return Ok(0);
        }
        let mut hashes = active.tokens.issued_through(&mount.accessor).await?;
        if sweep == Sweep::Full {
            hashes.extend(active.tokens.created_under(&mount.path).await?);
        }
        hashes.sort();
        hashes.dedup();
        active.leases.revoke_tokens(&hashes).await?;
        if sweep == Sweep::Recorded {
            active.tokens.forget_mount(&mount.accessor).await?;
        }
        if !hashes.is_empty() {
            tracing::info!(mount = %mount.path, tokens = hashes.len(), "tokens of a disabled auth method revoked");
        }
        Ok(hashes.len())
    }
}
