//! `sys/generate-root/*`, `sys/generate-root-token/*`, `sys/rekey/*` and
//! `sys/rekey-recovery-key/*`: the key ceremonies, as Vault and OpenBao
//! answer them. The legacy paths (`generate-root`, `rekey`) need no token,
//! as in Vault: a threshold of keys is the authority, and failed key
//! checks close the unseal gate. `generate-root-token` (what the bao CLI
//! 2.6+ calls) takes a token with sudo and answers under `data`.

use crate::core::{Core, RekeyParams, RekeyTarget, RootStatus};
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_bool, optional_str, optional_u64};
use serde_json::{Map, Value};

/// The unauthenticated ceremony paths (below `sys/`); `None` for others.
pub(super) async fn unauthenticated(
    core: &Core,
    path: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Option<Result<Response, ApiError>> {
    const STEPS: [&str; 3] = ["init", "update", "verify"];
    if let Some(step) = path.strip_prefix("generate-root/") {
        if step == "attempt" || step == "update" {
            let status = generate_root(core, step, op, data).await;
            return Some(status.map(|s| match op {
                Operation::Delete => Response::empty(),
                _ => Response::raw(s.to_json()),
            }));
        }
    }
    let (target, step) = match path.split_once('/') {
        Some(("rekey", step)) => (RekeyTarget::Barrier, step),
        Some(("rekey-recovery-key", step)) => (RekeyTarget::Recovery, step),
        _ => return None,
    };
    if !STEPS.contains(&step) {
        return None;
    }
    Some(rekey(core, target, step, op, data).await)
}

/// The authenticated ones: `generate-root-token/*` and the rekey backups.
pub(super) async fn handle(
    core: &Core,
    path: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Response, ApiError> {
    match (path, op) {
        ("generate-root-token/attempt" | "generate-root-token/update", _) => {
            let step = path.trim_start_matches("generate-root-token/");
            let status = generate_root(core, step, op, data).await?;
            if op == Operation::Delete {
                return Ok(Response::empty());
            }
            Ok(Response::json(status.to_json()))
        }
        // PGP-encrypted backups are never made, so there is none to read.
        ("rekey/backup" | "rekey/recovery-key-backup", Operation::Read) => {
            Err(ApiError::bad("no backed-up keys found"))
        }
        ("rekey/backup" | "rekey/recovery-key-backup", Operation::Delete) => Ok(Response::empty()),
        _ => Err(ApiError::UnsupportedOperation),
    }
}

async fn generate_root(
    core: &Core,
    step: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<RootStatus, ApiError> {
    match (step, op) {
        ("attempt", Operation::Read) => core.generate_root_status().await,
        ("attempt", Operation::Update | Operation::Create) => {
            core.generate_root_start(optional_str(data, "otp")?, optional_str(data, "pgp_key")?)
                .await
        }
        ("attempt", Operation::Delete) => {
            core.generate_root_cancel().await?;
            core.generate_root_status().await
        }
        ("update", Operation::Update | Operation::Create) => {
            let nonce = optional_str(data, "nonce")?.unwrap_or_default();
            if nonce.is_empty() {
                return Err(ApiError::bad("nonce is required"));
            }
            let key = optional_str(data, "key")?.unwrap_or_default();
            core.generate_root_update(key, nonce).await
        }
        _ => Err(ApiError::UnsupportedOperation),
    }
}

async fn rekey(
    core: &Core,
    target: RekeyTarget,
    step: &str,
    op: Operation,
    data: &Map<String, Value>,
) -> Result<Response, ApiError> {
    let key_and_nonce = || -> Result<(&str, &str), ApiError> {
        let key = optional_str(data, "key")?.unwrap_or_default();
        if key.is_empty() {
            return Err(ApiError::bad(
                "'key' must be specified in request body as JSON",
            ));
        }
        Ok((key, optional_str(data, "nonce")?.unwrap_or_default()))
    };
    let answer = match (step, op) {
        ("init", Operation::Read) => core.rekey_status(target).await?,
        ("init", Operation::Update | Operation::Create) => {
            if data
                .get("pgp_keys")
                .is_some_and(|k| !k.is_null() && k != &Value::Array(vec![]))
            {
                return Err(ApiError::bad(
                    "pgp_keys: PGP encryption of keys is not supported",
                ));
            }
            if optional_bool(data, "backup")?.unwrap_or(false) {
                return Err(ApiError::bad(
                    "cannot request a backup of the new keys without providing PGP keys for encryption",
                ));
            }
            let small = |field: &str| -> Result<u8, ApiError> {
                let n = optional_u64(data, field)?.unwrap_or(0);
                u8::try_from(n)
                    .map_err(|_| ApiError::bad(format!("{field}: shares must be less than 256")))
            };
            let params = RekeyParams {
                secret_shares: small("secret_shares")?,
                secret_threshold: small("secret_threshold")?,
                require_verification: optional_bool(data, "require_verification")?.unwrap_or(false),
            };
            core.rekey_start(target, params).await?
        }
        ("init", Operation::Delete) => {
            core.rekey_cancel(target).await?;
            return Ok(Response::empty());
        }
        ("update", Operation::Update | Operation::Create) => {
            let (key, nonce) = key_and_nonce()?;
            core.rekey_update(target, key, nonce).await?
        }
        ("verify", Operation::Read) => core.rekey_verify_status(target).await?,
        ("verify", Operation::Update | Operation::Create) => {
            let (key, nonce) = key_and_nonce()?;
            core.rekey_verify(target, key, nonce).await?
        }
        ("verify", Operation::Delete) => core.rekey_verify_restart(target).await?,
        _ => return Err(ApiError::UnsupportedOperation),
    };
    Ok(Response::raw(answer))
}
