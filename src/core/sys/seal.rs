//! `sys/init`, `sys/unseal`, `sys/seal`, `sys/seal-status`, `sys/health`,
//! `sys/leader`, `sys/rotate` and `sys/key-status`.

use crate::clock::rfc3339;
use crate::core::ctx::Ctx;
use crate::core::ha::Role;
use crate::core::key_shares::{base64_all, hex_all};
use crate::core::{Core, InitParams, Migration};
use crate::error::ApiError;
use crate::logical::{Operation, Response};
use crate::params::{optional_bool, optional_str, optional_u64};
use serde_json::{json, Map, Value};
use zeroize::Zeroizing;

pub(super) const VERSION: &str = env!("CARGO_PKG_VERSION");

pub(super) async fn init_status(core: &Core) -> Result<Response, ApiError> {
    Ok(Response::raw(
        json!({ "initialized": core.seal_config().await?.is_some() }),
    ))
}

pub(super) async fn init(core: &Core, data: &Map<String, Value>) -> Result<Response, ApiError> {
    let small = |field: &str| -> Result<u8, ApiError> {
        let n = optional_u64(data, field)?.unwrap_or(0);
        u8::try_from(n).map_err(|_| ApiError::bad(format!("{field}: at most 255")))
    };
    let (shares, threshold) = (small("secret_shares")?, small("secret_threshold")?);
    let (recovery_shares, recovery_threshold) =
        (small("recovery_shares")?, small("recovery_threshold")?);
    let kind = core.settings.seal_kind;
    // As Vault: each seal takes only its own kind of shares.
    if kind.is_auto() && (shares > 0 || threshold > 0) {
        return Err(ApiError::bad(format!(
            "parameters secret_shares,secret_threshold not applicable to seal type {}",
            kind.as_str()
        )));
    }
    if !kind.is_auto() && (recovery_shares > 0 || recovery_threshold > 0) {
        return Err(ApiError::bad(format!(
            "parameters recovery_shares,recovery_threshold not applicable to seal type {}",
            kind.as_str()
        )));
    }
    for field in ["pgp_keys", "recovery_pgp_keys", "root_token_pgp_key"] {
        if data.get(field).is_some_and(|v| !is_empty(v)) {
            return Err(ApiError::bad(format!(
                "{field}: PGP encryption of keys is not supported"
            )));
        }
    }
    let passphrase = optional_str(data, "passphrase")?.map(|p| Zeroizing::new(p.to_string()));
    let result = core
        .initialize(InitParams {
            secret_shares: shares,
            secret_threshold: threshold,
            passphrase,
            recovery_shares,
            recovery_threshold,
            root_token_id: None,
        })
        .await?;
    let mut body = json!({
        "keys": hex_all(&result.keys),
        "keys_base64": base64_all(&result.keys),
        "root_token": result.root_token.as_str(),
    });
    if kind.is_auto() {
        if let Some(body) = body.as_object_mut() {
            body.insert(
                "recovery_keys".into(),
                json!(hex_all(&result.recovery_keys)),
            );
            body.insert(
                "recovery_keys_base64".into(),
                json!(base64_all(&result.recovery_keys)),
            );
        }
    }
    Ok(Response::raw(body))
}

/// Whether a JSON field is unset in spirit: null, "", [] or {}.
fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

pub(super) async fn seal_status(core: &Core) -> Result<Value, ApiError> {
    let config = core.seal_config().await?;
    let (progress, nonce) = core.unseal_progress().await;
    let sealed = core.is_sealed();
    let migration = match &config {
        Some(config) => core.seal_migration(config).ok().flatten(),
        None => None,
    };
    // The seal people deal with: the configured one while migrating to
    // it, else the stored one. Under an auto seal, t and n are the
    // recovery key's (and, migrating to one, the unseal keys that become
    // the recovery keys), as Vault reports them.
    let kind = match (&config, migration) {
        (Some(_), Some(Migration::ToAuto)) | (None, _) => core.settings.seal_kind,
        (Some(config), _) => config.kind,
    };
    let (t, n) = match &config {
        None => (0, 0),
        Some(c) if c.kind.is_auto() => (c.recovery_threshold, c.recovery_shares),
        Some(c) => (c.secret_threshold, c.secret_shares),
    };
    let mut status = json!({
        "type": kind.as_str(),
        "initialized": config.is_some(),
        "sealed": sealed,
        "t": t,
        "n": n,
        "progress": progress,
        "nonce": nonce,
        "version": VERSION,
        "build_date": "",
        "migration": sealed && migration.is_some(),
        "recovery_seal": kind.is_auto(),
        "storage_type": if core.ha().is_some() { "postgresql" } else { "sled" },
    });
    if let Some(status) = status.as_object_mut().filter(|_| kind.is_auto()) {
        status.insert("recovery_seal_type".into(), json!("shamir"));
    }
    if !sealed {
        if let Some(status) = status.as_object_mut() {
            status.insert("cluster_name".into(), json!(core.settings.cluster_name));
            status.insert("cluster_id".into(), json!(core.cluster_id));
        }
    }
    Ok(status)
}

pub(super) async fn unseal(core: &Core, data: &Map<String, Value>) -> Result<Response, ApiError> {
    let migrate = optional_bool(data, "migrate")?.unwrap_or(false);
    let key = optional_str(data, "key")?.filter(|k| !k.is_empty());
    if optional_bool(data, "reset")?.unwrap_or(false) {
        core.reset_unseal().await;
    } else if let Some(key) = key {
        core.submit_unseal_key(key, migrate).await?;
    } else if !migrate && core.auto_unseal().await? {
        // An auto seal needs no key: it was asked to try again.
    } else {
        return Err(ApiError::bad(
            "'key' must be specified in request body as JSON, or 'reset' set to true",
        ));
    }
    seal_status(core).await.map(Response::raw)
}

/// Vault's health codes: 200 active, 501 uninitialized, 503 sealed; each can
/// be overridden by a query parameter, and the body is the same for all.
pub(super) async fn health(core: &Core, query: &Map<String, Value>) -> Result<Response, ApiError> {
    let code = |name: &str, default: u16| -> Result<u16, ApiError> {
        match optional_u64(query, name)? {
            None => Ok(default),
            Some(c) => u16::try_from(c)
                .ok()
                .filter(|c| (100..600).contains(c))
                .ok_or_else(|| ApiError::bad(format!("{name}: not a valid HTTP status code"))),
        }
    };
    let initialized = core.seal_config().await?.is_some();
    let sealed = core.is_sealed();
    let standby = !sealed && matches!(core.role(), Role::Standby(_));
    let standby_ok = optional_bool(query, "standbyok")?.unwrap_or(false);
    // Checked for its shape; there are no performance standbys here.
    optional_bool(query, "perfstandbyok")?;
    // Every code is checked, whichever one this node answers with.
    let (uninit, sealed_code, standby_code, active) = (
        code("uninitcode", 501)?,
        code("sealedcode", 503)?,
        code("standbycode", 429)?,
        code("activecode", 200)?,
    );
    let status = if !initialized {
        uninit
    } else if sealed {
        sealed_code
    } else if standby && !standby_ok {
        standby_code
    } else {
        active
    };
    let body = json!({
        "initialized": initialized,
        "sealed": sealed,
        "standby": standby,
        "performance_standby": false,
        "replication_performance_mode": "disabled",
        "replication_dr_mode": "disabled",
        "server_time_utc": core.clock.now_unix(),
        "version": VERSION,
        "enterprise": false,
        "echo_duration_ms": 0,
        "clock_skew_ms": 0,
        "cluster_name": core.settings.cluster_name,
        "cluster_id": core.cluster_id,
    });
    Ok(Response::raw(body).with_status(status))
}

/// Who is active: for a single node, never HA; for a node of a cluster,
/// the leader row (answered also while sealed, as Vault does).
pub(super) fn leader(core: &Core) -> Response {
    let Some(ha) = core.ha() else {
        return Response::raw(json!({
            "ha_enabled": false,
            "is_self": false,
            "active_time": ZERO_TIME,
            "leader_address": "",
            "leader_cluster_address": "",
            "performance_standby": false,
            "performance_standby_last_remote_wal": 0,
            "raft_committed_index": 0,
            "raft_applied_index": 0,
        }));
    };
    let is_self = matches!(core.role(), Role::Active);
    let leader = if is_self {
        ha.leader()
    } else {
        ha.refresh_leader()
    }
    .filter(|l| l.live);
    let address = leader.map(|l| l.api_addr).unwrap_or_default();
    let active_time = match (is_self, ha.active_since()) {
        (true, Some(since)) => rfc3339(since),
        _ => ZERO_TIME.to_string(),
    };
    Response::raw(json!({
        "ha_enabled": true,
        "is_self": is_self,
        "active_time": active_time,
        "leader_address": address,
        "leader_cluster_address": address,
        "performance_standby": false,
        "performance_standby_last_remote_wal": 0,
        "raft_committed_index": 0,
        "raft_applied_index": 0,
    }))
}

/// Vault's "no time".
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `sys/ha-status`: the nodes heard from in the last 30 seconds.
fn ha_status(core: &Core) -> Result<Response, ApiError> {
    let Some(ha) = core.ha() else {
        return Ok(Response::raw(json!({ "nodes": [] })));
    };
    let leader = ha.leader().filter(|l| l.live);
    let nodes: Vec<Value> = ha
        .nodes()?
        .into_iter()
        .map(|node| {
            let active = leader.as_ref().is_some_and(|l| l.holder == node.node_id);
            json!({
                "hostname": node.node_id,
                "api_address": node.api_addr,
                "cluster_address": node.api_addr,
                "active_node": active,
                "last_echo": if active { Value::Null } else { json!(rfc3339(node.last_seen)) },
                "version": node.version,
            })
        })
        .collect();
    // At the top level, as Vault answers it (the CLI's `operator members`
    // decodes the body itself).
    Ok(Response::raw(json!({ "nodes": nodes })))
}

pub(super) async fn handle(ctx: &Ctx<'_>, path: &str, op: Operation) -> Result<Response, ApiError> {
    match (path, op) {
        ("seal", Operation::Update | Operation::Create) => {
            ctx.core.seal().await;
            Ok(Response::empty())
        }
        ("rotate" | "rotate/keyring", Operation::Update | Operation::Create) => {
            let status = ctx.core.barrier.rotate().await?;
            tracing::info!(term = status.term, "keyring rotated");
            Ok(Response::empty())
        }
        ("ha-status", Operation::Read) => ha_status(ctx.core),
        ("step-down", Operation::Update | Operation::Create) => {
            ctx.core.hand_over("asked to (sys/step-down)").await;
            Ok(Response::empty())
        }
        ("key-status", Operation::Read) => {
            let status = ctx.core.barrier.key_status()?;
            Ok(Response::json(json!({
                "term": status.term,
                "install_time": rfc3339(status.installed_at),
                "encryptions": status.encryptions,
            })))
        }
        ("seal" | "rotate" | "rotate/keyring" | "key-status" | "ha-status" | "step-down", _) => {
            Err(ApiError::UnsupportedOperation)
        }
        _ => Err(ApiError::NoHandler(format!(
            "no handler for route \"sys/{path}\". route entry not found."
        ))),
    }
}
