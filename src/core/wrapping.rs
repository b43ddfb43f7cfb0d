//! Response wrapping: instead of a response, the client gets a single-use
//! token (`wrap_info`) that opens it once through `sys/wrapping/unwrap`. A
//! secret ID can thus travel to a job through hands that must not see it;
//! anyone who opened it first is detected, because the second unwrap fails.
//!
//! The wrapped response is kept with the wrapping token in the token store
//! and goes when the token is revoked or expires.

use super::{Active, Core};
use crate::auth::token::store::{NewToken, TokenEntry, WRAPPING_POLICY};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::logical::{AuthBlock, LeaseBlock, Response, WrapInfo};
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn not_valid() -> ApiError {
    ApiError::bad("wrapping token is not valid or does not exist")
}

/// The parts of a response a wrapping token keeps.
fn stored_form(response: &Response) -> Value {
    let (lease_id, lease_duration, renewable) = response.lease_fields();
    json!({
        "data": response.data,
        "auth": response.auth,
        "lease_id": lease_id,
        "lease_duration": lease_duration,
        "renewable": renewable,
        "warnings": response.warnings,
    })
}

fn from_stored(stored: Value) -> Response {
    let text = |key: &str| stored.get(key).and_then(Value::as_str).unwrap_or_default();
    let lease_id = text("lease_id").to_string();
    Response {
        data: stored.get("data").and_then(Value::as_object).cloned(),
        auth: stored
            .get("auth")
            .and_then(|auth| serde_json::from_value::<AuthBlock>(auth.clone()).ok()),
        lease: (!lease_id.is_empty()).then(|| LeaseBlock {
            lease_id,
            lease_duration: stored
                .get("lease_duration")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            renewable: stored
                .get("renewable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        }),
        warnings: stored
            .get("warnings")
            .and_then(|w| serde_json::from_value(w.clone()).ok())
            .unwrap_or_default(),
        ..Response::default()
    }
}

impl Core {
    /// Replaces `response` by a wrapping token valid for `ttl` seconds.
    pub(crate) async fn wrap(
        &self,
        active: &Active,
        response: Response,
        ttl: i64,
        creation_path: &str,
    ) -> Result<Response, ApiError> {
        let ttl = ttl.min(self.settings.max_lease_ttl);
        let wrapped_accessor = response
            .auth
            .as_ref()
            .map(|a| a.accessor.clone())
            .unwrap_or_default();
        let spec = NewToken {
            parent_hash: None,
            policies: vec![WRAPPING_POLICY.into()],
            meta: BTreeMap::new(),
            display_name: "response-wrapping".into(),
            num_uses: 1,
            ttl,
            explicit_max_ttl: ttl,
            period: 0,
            renewable: false,
            path: creation_path.to_string(),
            role: None,
            id: None,
            bound_cidrs: Vec::new(),
        };
        let (token, entry) = active.tokens.create(spec).await?;
        active
            .tokens
            .put_wrapped(&entry.id_hash, &stored_form(&response))
            .await?;
        active.leases.track_token(&entry).await?;
        Ok(Response {
            wrap_info: Some(WrapInfo {
                token: token.to_string(),
                accessor: entry.accessor.clone(),
                ttl,
                creation_time: rfc3339(entry.creation_time),
                creation_path: creation_path.to_string(),
                wrapped_accessor,
            }),
            ..Response::default()
        })
    }

    async fn wrapping_entry(&self, active: &Active, token: &str) -> Result<TokenEntry, ApiError> {
        active
            .tokens
            .lookup(token)
            .await?
            .filter(TokenEntry::is_wrapping)
            .ok_or_else(not_valid)
    }

    /// Opens a wrapped response; the wrapping token is revoked, so this
    /// works once.
    pub(crate) async fn unwrap(&self, active: &Active, token: &str) -> Result<Response, ApiError> {
        let entry = self.wrapping_entry(active, token).await?;
        let stored = active.tokens.wrapped(&entry.id_hash).await?;
        active.leases.revoke_token(&entry.id_hash).await?;
        let stored = stored.ok_or_else(not_valid)?;
        Ok(from_stored(stored))
    }

    /// What a wrapping token is, without opening it.
    pub(crate) async fn wrapping_lookup(
        &self,
        active: &Active,
        token: &str,
    ) -> Result<Response, ApiError> {
        let entry = self.wrapping_entry(active, token).await?;
        Ok(Response::json(json!({
            "creation_path": entry.path,
            "creation_time": rfc3339(entry.creation_time),
            "creation_ttl": entry.creation_ttl,
        })))
    }

    /// Moves a wrapped response to a new wrapping token with a fresh TTL.
    pub(crate) async fn rewrap(&self, active: &Active, token: &str) -> Result<Response, ApiError> {
        let entry = self.wrapping_entry(active, token).await?;
        let stored = active
            .tokens
            .wrapped(&entry.id_hash)
            .await?
            .ok_or_else(not_valid)?;
        let rewrapped = self
            .wrap(active, from_stored(stored), entry.creation_ttl, &entry.path)
            .await?;
        active.leases.revoke_token(&entry.id_hash).await?;
        Ok(rewrapped)
    }
}
