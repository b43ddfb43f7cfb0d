//! Revoking: one lease, a prefix, or a token with its children and every
//! lease any of them holds. A revocation that fails is kept and scheduled
//! for retry (never dropped); `force` removes a record without asking the
//! backend, and says so in the log. Token leases' records are deleted in one
//! place: with their token, in `release_token`.

use super::manager::{info, token_lease_id};
use super::{LeaseError, LeaseKind, LeaseManager, LeaseRecord, LeaseState};
use futures::StreamExt;
use serde_json::Value;

/// Whether a revocation's bookkeeping is fsync'd before it returns, or left
/// for one sync at the end of a batch. Batching is safe because revocation is
/// idempotent: a deletion lost in a crash only means the lease is revoked
/// again (the user is already gone, which counts as success), and nobody is
/// told "revoked" before the batch's sync.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pace {
    Durable,
    Batched,
}

/// How many revocations run at once in revoke-prefix.
const REVOKE_CONCURRENCY: usize = 16;

impl LeaseManager {
    /// Revokes one lease. Returns the plugin's warnings. On failure the lease
    /// is kept and its next attempt scheduled.
    pub async fn revoke(&self, lease_id: &str) -> Result<Vec<String>, LeaseError> {
        self.revoke_paced(lease_id, None, Pace::Durable).await
    }

    /// `due_entry`: the due time of the `due/` entry that led here, if any.
    /// A lease already gone counts as revoked; its leftover entries go.
    pub(super) async fn revoke_paced(
        &self,
        lease_id: &str,
        due_entry: Option<i64>,
        pace: Pace,
    ) -> Result<Vec<String>, LeaseError> {
        let Some(record) = self.ledger.get(lease_id).await? else {
            self.ledger
                .forget_entries(lease_id, due_entry, None)
                .await?;
            return Ok(Vec::new());
        };
        match record.kind {
            LeaseKind::Token => {
                let hash = record
                    .internal
                    .get("id_hash")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                self.revoke_token_paced(&hash, pace).await?;
                // A token lease recorded under another id than its token's
                // own (seeded, imported) is not found through the token.
                if record.lease_id != token_lease_id(&hash) {
                    self.delete(&record, pace).await?;
                }
                Ok(Vec::new())
            }
            LeaseKind::Secret => self.revoke_secret(record, pace).await,
        }
    }

    async fn delete(&self, record: &LeaseRecord, pace: Pace) -> Result<(), LeaseError> {
        match pace {
            Pace::Durable => self.ledger.delete(record).await?,
            Pace::Batched => self.ledger.delete_relaxed(record).await?,
        }
        Ok(())
    }

    async fn revoke_secret(
        &self,
        record: LeaseRecord,
        pace: Pace,
    ) -> Result<Vec<String>, LeaseError> {
        // A deposed node leaves the lease to the new active node.
        self.still_writable()?;
        let outcome = match self.issuers.issuer(&record.mount) {
            Some(issuer) => {
                let storage = issuer.storage.as_ref();
                if record.state == LeaseState::Pending {
                    issuer
                        .engine
                        .rollback(&info(&record), storage)
                        .await
                        .map(|()| Vec::new())
                } else {
                    issuer.engine.revoke(&info(&record), storage).await
                }
            }
            None => Err(qm_plugin_sdk::PluginError::Backend(format!(
                "the mount {} that issued this lease no longer exists",
                record.mount
            ))),
        };
        match outcome {
            Ok(warnings) => {
                self.delete(&record, pace).await?;
                self.metrics.lease_revoked();
                tracing::info!(lease_id = %record.lease_id, "lease revoked");
                Ok(warnings)
            }
            Err(error) => {
                self.metrics.revocation_failed();
                let retry = self.reschedule(&record, &error).await?;
                tracing::warn!(
                    lease_id = %record.lease_id,
                    attempts = retry.revoke_attempts,
                    irrevocable = retry.state == LeaseState::Irrevocable,
                    unreachable = retry.backend_unreachable,
                    error = %error,
                    "lease revocation failed; will retry"
                );
                Err(error.into())
            }
        }
    }

    /// Removes a lease record without asking the backend. Says so in the log.
    pub(super) async fn force_forget(&self, lease_id: &str) -> Result<(), LeaseError> {
        if let Some(record) = self.ledger.get(lease_id).await? {
            self.ledger.delete_relaxed(&record).await?;
            tracing::warn!(lease_id = %lease_id, "lease removed by revoke-force; the backend was not asked");
        }
        Ok(())
    }

    /// Removes a lease whose credential is already gone (the restore
    /// fence), durably, without a backend call.
    pub async fn close_gone(&self, lease_id: &str) -> Result<(), LeaseError> {
        if let Some(record) = self.ledger.get(lease_id).await? {
            self.ledger.delete(&record).await?;
            tracing::warn!(lease_id = %lease_id, "lease closed: its credential no longer exists");
        }
        Ok(())
    }

    /// Whether the lease's credential still exists at its backend (`None`:
    /// the engine cannot tell, or the lease or its mount is gone).
    pub async fn credential_exists(&self, lease_id: &str) -> Result<Option<bool>, LeaseError> {
        let Some(record) = self.ledger.get(lease_id).await? else {
            return Ok(None);
        };
        if record.kind != LeaseKind::Secret {
            return Ok(None);
        }
        let Some(issuer) = self.issuers.issuer(&record.mount) else {
            return Ok(None);
        };
        Ok(issuer
            .engine
            .credential_exists(&info(&record), issuer.storage.as_ref())
            .await?)
    }

    /// Revokes a token, its children, and every lease any of them holds.
    /// A lease that fails to revoke stays scheduled for retry.
    pub async fn revoke_token(&self, id_hash: &str) -> Result<(), LeaseError> {
        self.revoke_token_paced(id_hash, Pace::Durable).await
    }

    pub(super) async fn revoke_token_paced(
        &self,
        id_hash: &str,
        pace: Pace,
    ) -> Result<(), LeaseError> {
        for hash in self.tokens.tree(id_hash).await? {
            self.release_token(&hash, pace).await?;
            match pace {
                Pace::Durable => self.tokens.delete(&hash).await?,
                Pace::Batched => self.tokens.delete_relaxed(&hash).await?,
            }
        }
        Ok(())
    }

    /// Revokes many tokens (with their children and leases) and syncs once at
    /// the end, before anyone hears they are gone.
    pub async fn revoke_tokens(&self, hashes: &[String]) -> Result<(), LeaseError> {
        for hash in hashes {
            self.revoke_token_paced(hash, Pace::Batched).await?;
        }
        Ok(self.barrier.sync().await?)
    }

    /// Revokes a token and its leases, leaving its children as orphans.
    pub async fn revoke_token_orphan(&self, id_hash: &str) -> Result<(), LeaseError> {
        self.release_token(id_hash, Pace::Durable).await?;
        Ok(self.tokens.revoke_orphan(id_hash).await?)
    }

    /// Revokes the leases a token holds and deletes its own lease record:
    /// the one place a token lease's record goes.
    async fn release_token(&self, hash: &str, pace: Pace) -> Result<(), LeaseError> {
        for lease_id in self.ledger.of_token(hash).await? {
            match self.ledger.get(&lease_id).await? {
                Some(record) => {
                    // A failure stays scheduled for retry inside.
                    let _ = self.revoke_secret(record, pace).await;
                }
                None => {
                    self.ledger
                        .forget_entries(&lease_id, None, Some(hash))
                        .await?
                }
            }
        }
        if let Some(own) = self.ledger.get(&token_lease_id(hash)).await? {
            // Durable with the token's deletion, which always follows.
            self.ledger.delete_relaxed(&own).await?;
        }
        Ok(())
    }

    /// Revokes (or with `force`, forgets) every lease under `prefix`, with
    /// bounded concurrency. Returns (revoked, failed).
    pub async fn revoke_prefix(
        &self,
        prefix: &str,
        force: bool,
        job: Option<&str>,
    ) -> Result<(usize, usize), LeaseError> {
        let ids = self.prefix_ids(prefix).await?;
        self.revoke_ids(ids, force, job).await
    }

    /// How many leases a revoke-prefix of `prefix` would cover (the same
    /// rule as [`Self::prefix_ids`]), counted up to `limit`.
    pub async fn count_prefix(&self, prefix: &str, limit: usize) -> Result<usize, LeaseError> {
        if prefix.is_empty() || prefix.ends_with('/') {
            return Ok(self.ledger.count_with_prefix(prefix, limit).await?);
        }
        if self.ledger.get(prefix).await?.is_some() {
            return Ok(1);
        }
        Ok(self
            .ledger
            .count_with_prefix(&format!("{prefix}/"), limit)
            .await?)
    }

    /// The leases a revoke-prefix of `prefix` covers, as Vault decides: a
    /// prefix that is itself a lease id is that lease alone; any other prefix
    /// ends at a segment boundary, so `database/creds/app` covers
    /// `database/creds/app/...` and never `database/creds/app-admin/...`.
    async fn prefix_ids(&self, prefix: &str) -> Result<Vec<String>, LeaseError> {
        if prefix.is_empty() || prefix.ends_with('/') {
            return Ok(self.ledger.ids_with_prefix(prefix).await?);
        }
        if self.ledger.get(prefix).await?.is_some() {
            return Ok(vec![prefix.to_string()]);
        }
        Ok(self.ledger.ids_with_prefix(&format!("{prefix}/")).await?)
    }

    pub(super) async fn revoke_ids(
        &self,
        ids: Vec<String>,
        force: bool,
        job: Option<&str>,
    ) -> Result<(usize, usize), LeaseError> {
        if let Some(job) = job {
            self.jobs.update(job, |j| j.total = ids.len());
        }
        let results: Vec<bool> = futures::stream::iter(ids)
            .map(|id| async move {
                let ok = if force {
                    self.force_forget(&id).await.is_ok()
                } else {
                    self.revoke_paced(&id, None, Pace::Batched).await.is_ok()
                };
                if let Some(job) = job {
                    self.jobs.update(job, |j| {
                        if ok {
                            j.revoked = j.revoked.saturating_add(1);
                        } else {
                            j.failed = j.failed.saturating_add(1);
                        }
                    });
                }
                ok
            })
            .buffer_unordered(REVOKE_CONCURRENCY)
            .collect()
            .await;
        // One fsync for the whole batch's bookkeeping, before anyone hears "done".
        self.barrier.sync().await?;
        let revoked = results.iter().filter(|ok| **ok).count();
        Ok((revoked, results.len().saturating_sub(revoked)))
    }
}
