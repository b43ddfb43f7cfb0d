//! The inventory's part of every authorized request, as the pipeline's
//! before-request and after-response hooks: last-use tracking, ownership
//! fields taken off role writes (and `require_owner`), drift against the
//! workload's baseline, disabled roles refused; afterwards the request
//! joins its identities' recent requests, and the role's ownership record
//! is kept in step with the role (written, shown, deleted).

use super::drift::recent::RecentRequest;
use super::{drift, paths, NhiSettings, NhiStore, OwnershipFields};
use crate::auth::token::store::TokenEntry;
use crate::error::ApiError;
use crate::logical::{MountEntry, Operation, Request, Response};
use crate::metrics::Metrics;

/// Who asks, where, and when.
pub struct Seen<'a> {
    pub caller: &'a TokenEntry,
    pub mount: &'a MountEntry,
    /// The path relative to the mount.
    pub relative: &'a str,
    pub now: i64,
}

/// What the before-hook noted, for the after-hook to finish.
pub struct Noted {
    operation: Operation,
    /// The role the request writes, reads or deletes, if it is one.
    identity: Option<String>,
    /// The ownership fields a role write carried.
    ownership: Option<OwnershipFields>,
    /// The identities whose recent requests this one joins: the workload
    /// (not for root) and the role it uses, if any.
    recent_for: Vec<String>,
    /// The request as they list it, its status still to come.
    recent: RecentRequest,
    /// The caller's own token identity (its last use changes).
    caller_identity: String,
}

/// Writes below these paths can change many risk scores at once: the
/// risk index is rebuilt after one.
const REBUILD_AFTER: [&str; 7] = [
    "sys/policies/acl/",
    "sys/policy/",
    "sys/mounts/",
    "sys/auth/",
    "sys/remount",
    "sys/nhi/owners/",
    "sys/nhi/revoke",
];

impl NhiStore {
    /// Runs before the handler: may take the ownership fields out of the
    /// request's data, and refuses what the inventory forbids.
    pub async fn before_request(
        &self,
        seen: &Seen<'_>,
        req: &mut Request,
        settings: &NhiSettings,
        metrics: &Metrics,
    ) -> Result<Noted, ApiError> {
        let caller_identity = format!("auth/token/accessors/{}", seen.caller.accessor);
        self.touch(&caller_identity, seen.now);
        let identity = paths::identity_at(seen.mount, seen.relative).map(|(id, _)| id);
        let ownership = match (&identity, req.operation) {
            (Some(_), Operation::Create | Operation::Update) => {
                Some(OwnershipFields::take(&mut req.data)?)
            }
            _ => None,
        };
        // A role is new to the inventory when it has no ownership record yet.
        let new_identity = match &identity {
            Some(id) if ownership.is_some() => self.meta(id).await?.is_none(),
            _ => false,
        };
        require_owner(settings, req, seen.mount, ownership.as_ref(), new_identity)?;
        let mut recent_for = Vec::new();
        if !seen.caller.is_root() {
            let workload = workload(seen.caller);
            self.watch_drift(&workload, seen, req, metrics)?;
            recent_for.push(workload);
        }
        if let Some(role) = paths::role_used(seen.mount, seen.relative) {
            if let Some(why) = self.disabled(&role).await? {
                return Err(ApiError::Forbidden(format!("{role} is disabled: {why}")));
            }
            self.touch(&role, seen.now);
            recent_for.push(role);
        }
        Ok(Noted {
            operation: req.operation,
            identity,
            ownership,
            recent_for,
            recent: RecentRequest {
                time: crate::clock::rfc3339(seen.now),
                operation: format!("{:?}", req.operation).to_lowercase(),
                path: req.path.clone(),
                status: 0,
                remote_address: req.remote_addr.map(|a| a.to_string()).unwrap_or_default(),
            },
            caller_identity,
        })
    }

    /// Marks what the request may have changed the risk of: its identities,
    /// the caller, a token it created; or, after a write that reaches many
    /// identities (a policy, a mount, a connection), asks for a rebuild.
    fn note_risk(&self, noted: &Noted, answer: &Result<Response, ApiError>) {
        let Ok(response) = answer else { return };
        for identity in noted.recent_for.iter().chain(noted.identity.iter()) {
            self.risk.mark(identity);
        }
        self.risk.mark(&noted.caller_identity);
        if let Some(auth) = &response.auth {
            self.risk
                .mark(&format!("auth/token/accessors/{}", auth.accessor));
        }
        let path = noted.recent.path.as_str();
        let writes = !matches!(noted.operation, Operation::Read | Operation::List);
        if writes
            && (REBUILD_AFTER.iter().any(|p| path.starts_with(p)) || path.contains("/config/"))
        {
            self.risk.want_rebuild();
        }
    }

    /// Adds the answered request to its identities' recent requests.
    fn note_recent(&self, noted: &mut Noted, answer: &Result<Response, ApiError>) {
        noted.recent.status = match answer {
            Ok(response) => response.status_code(),
            Err(e) => e.status(),
        };
        for identity in &noted.recent_for {
            self.recent.record(identity, noted.recent.clone());
        }
    }

    /// Runs after the handler: keeps a role's ownership record in step with
    /// the role (written with it, shown with it, deleted with it).
    pub async fn after_response(
        &self,
        mut noted: Noted,
        answer: Result<Response, ApiError>,
        now: i64,
    ) -> Result<Response, ApiError> {
        self.note_recent(&mut noted, &answer);
        self.note_risk(&noted, &answer);
        let Some(id) = noted.identity.as_ref() else {
            return answer;
        };
        let mut response = answer?;
        match (noted.operation, noted.ownership) {
            (Operation::Create | Operation::Update, Some(fields)) => {
                self.record_write(id, fields, now).await?;
            }
            (Operation::Delete, _) => self.forget(id).await?,
            (Operation::Read, _) => {
                if let (Some(data), Some(meta)) = (&mut response.data, self.meta(id).await?) {
                    data.insert("owner".into(), meta.owner.into());
                    data.insert("purpose".into(), meta.purpose.into());
                    data.insert("environment".into(), meta.environment.into());
                    data.insert("labels".into(), serde_json::json!(meta.labels));
                    if let Some(why) = meta.disabled {
                        data.insert("disabled".into(), why.into());
                    }
                }
            }
            _ => {}
        }
        Ok(response)
    }

    /// Checks a request against its workload's baseline; reports each
    /// departure, and refuses it on a mount where drift is denied.
    fn watch_drift(
        &self,
        workload: &str,
        seen: &Seen<'_>,
        req: &Request,
        metrics: &Metrics,
    ) -> Result<(), ApiError> {
        let config = self.drift_config();
        let observed = drift::Seen {
            identity: workload,
            path: &req.path,
            mount: &seen.mount.path,
            addr: req.remote_addr,
            now: seen.now,
            write: !matches!(req.operation, Operation::Read | Operation::List),
        };
        let alerts = self.drift.observe(&config, &observed);
        let mut refused = None;
        for alert in alerts {
            metrics.drift_alert(alert.reason);
            tracing::warn!(identity = %alert.identity, reason = alert.reason, detail = %alert.detail, path = %alert.path, "drift");
            if let Some(url) = &config.webhook_url {
                send_webhook(url.clone(), serde_json::json!(alert));
            }
            if alert.denied && refused.is_none() {
                refused = Some(format!(
                    "refused: this request departs from the workload's baseline ({}: {})",
                    alert.reason, alert.detail
                ));
            }
            self.drift.record(alert);
        }
        match refused {
            Some(why) => Err(ApiError::Forbidden(why)),
            None => Ok(()),
        }
    }
}

/// The workload a caller belongs to: the auth role it logged in through
/// (all its tokens share one), or else the token itself.
fn workload(caller: &TokenEntry) -> String {
    match caller.path.strip_suffix("login") {
        Some(auth_mount) => ["role_name", "role"]
            .iter()
            .find_map(|key| caller.meta.get(*key))
            .map(|role| format!("{auth_mount}role/{role}")),
        None => None,
    }
    .unwrap_or_else(|| format!("auth/token/accessors/{}", caller.accessor))
}

/// Posts a drift alert to the configured webhook, without waiting for it.
fn send_webhook(url: String, body: serde_json::Value) {
    tokio::spawn(async move {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap_or_default();
        if let Err(e) = client.post(&url).json(&body).send().await {
            tracing::warn!(error = %e, "drift webhook failed");
        }
    });
}

/// With `require_owner` (server `[nhi]` or the mount's option), a new role
/// must name its `owner` and a new token its `meta.owner`.
fn require_owner(
    settings: &NhiSettings,
    req: &Request,
    mount: &MountEntry,
    ownership: Option<&OwnershipFields>,
    new_identity: bool,
) -> Result<(), ApiError> {
    let required = settings.require_owner
        || mount
            .options
            .get("require_owner")
            .is_some_and(|v| v == "true");
    if !required || !matches!(req.operation, Operation::Create | Operation::Update) {
        return Ok(());
    }
    if let Some(fields) = ownership {
        if new_identity && !fields.has_owner() {
            return Err(ApiError::bad(
                "owner: required: every identity on this server must name its owner",
            ));
        }
    } else if req.path.starts_with("auth/token/create") {
        let owner = req
            .data
            .get("meta")
            .and_then(|m| m.get("owner"))
            .and_then(serde_json::Value::as_str);
        if owner.is_none_or(str::is_empty) {
            return Err(ApiError::bad(
                "meta.owner: required: every token on this server must name its owner",
            ));
        }
    }
    Ok(())
}
