//! Issuing a plugin's credential crash-safely: the lease is recorded
//! *pending* and fsync'd, then the plugin creates the credential, then the
//! lease turns *active*. A crash in between leaves a pending lease that the
//! next unseal rolls back. A role's `max_active_leases` is counted and
//! recorded under one lock per role, so concurrent issues cannot pass it.

use super::manager::{info, Issuer};
use super::{LeaseError, LeaseKind, LeaseManager, LeaseRecord, LeaseState};
use crate::logical::{LeaseBlock, MountEntry, Response};
use qm_plugin_sdk::ttl::{lease_ttls, LeaseTtls};
use qm_plugin_sdk::SecretPlan;
use rand::distributions::{Alphanumeric, DistString};

/// Who asked for a credential, and where.
pub struct Asked<'a> {
    /// The hash of the token the lease belongs to (revoked with it).
    pub token_hash: &'a str,
    pub mount: &'a MountEntry,
    /// The request path; the lease id is this path and a random suffix.
    pub path: &'a str,
}

impl LeaseManager {
    /// Leases and issues the credential `plan` describes.
    pub async fn issue(
        &self,
        asked: &Asked<'_>,
        issuer: &Issuer,
        plan: SecretPlan,
    ) -> Result<Response, LeaseError> {
        let (ttl, mut record) = self.pending_record(asked, &plan);
        let prefix = format!("{}/", asked.path.trim_end_matches('/'));
        match plan.max_active_leases {
            None => self.ledger.put(&record, None, &self.boot_id).await?,
            Some(cap) => {
                self.record_under_cap(&record, &prefix, cap, &plan.role)
                    .await?
            }
        }
        let mut data = plan.data;
        let storage = issuer.storage.as_ref();
        // A node deposed since the pending record was written leaves it for
        // the new active node to roll back, and creates nothing.
        self.still_writable()?;
        match issuer.engine.activate(&info(&record), &data, storage).await {
            Ok(extra) => data.extend(extra),
            Err(error) => {
                // Undo now; if even that fails the pending lease stays and is retried.
                match issuer.engine.rollback(&info(&record), storage).await {
                    Ok(()) => self.ledger.delete(&record).await?,
                    Err(rollback) => {
                        self.reschedule(&record, &rollback).await?;
                    }
                }
                return Err(error.into());
            }
        }
        let previous = record.clone();
        record.state = LeaseState::Active;
        self.ledger
            .put(&record, Some(&previous), &self.boot_id)
            .await?;
        self.metrics.lease_issued();
        Ok(Response {
            data: Some(data),
            lease: Some(LeaseBlock {
                lease_id: record.lease_id.clone(),
                lease_duration: ttl,
                renewable: record.renewable,
            }),
            warnings: plan.warnings,
            ..Response::default()
        })
    }

    /// The lease's TTL (the plan's, within the mount's limits) and its
    /// pending record.
    fn pending_record(&self, asked: &Asked<'_>, plan: &SecretPlan) -> (i64, LeaseRecord) {
        let now = self.clock.now_unix();
        let (default_ttl, mount_max) = self.ttls(&asked.mount.config);
        let LeaseTtls { ttl, max_ttl } = lease_ttls(plan.ttl, plan.max_ttl, default_ttl, mount_max);
        let random = Alphanumeric.sample_string(&mut rand::rngs::OsRng, 24);
        let record = LeaseRecord {
            lease_id: format!("{}/{random}", asked.path.trim_end_matches('/')),
            kind: LeaseKind::Secret,
            mount: asked.mount.path.clone(),
            role: plan.role.clone(),
            internal: plan.internal.to_stored(),
            token_hash: Some(asked.token_hash.to_string()),
            issued_at: now,
            expire_at: now.saturating_add(ttl),
            max_expire_at: now.saturating_add(max_ttl),
            renewable: plan.renewable,
            state: LeaseState::Pending,
            due_at: now.saturating_add(ttl),
            revoke_attempts: 0,
            last_error: None,
            backend_unreachable: false,
            last_renewal: None,
        };
        (ttl, record)
    }

    /// Counts the role's leases and records this one under the role's lock;
    /// waits for the disk after releasing it, so issues still share fsyncs.
    async fn record_under_cap(
        &self,
        record: &LeaseRecord,
        prefix: &str,
        cap: u64,
        role: &str,
    ) -> Result<(), LeaseError> {
        let lock = self.quotas.for_prefix(prefix);
        let held = lock.lock().await;
        let limit = usize::try_from(cap).unwrap_or(usize::MAX);
        if self.ledger.count_with_prefix(prefix, limit).await? >= limit {
            return Err(LeaseError::QuotaReached(format!(
                "role {role:?} has reached its cap of {cap} active leases (max_active_leases)"
            )));
        }
        self.ledger.put_relaxed(record, None, &self.boot_id)?;
        drop(held);
        self.barrier.sync().await?;
        Ok(())
    }
}
