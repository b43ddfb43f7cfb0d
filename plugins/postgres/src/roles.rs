//! Dynamic roles (`database/roles/NAME`) and the users issued for them
//! (`database/creds/NAME`): plan, create, renew, drop.

use crate::config::load as load_config;
use crate::pools::Pools;
use crate::sql::{drop_role, expiration, render_all, run_in_transaction, Vars};
use crate::{names, UserLease};
use qm_plugin_sdk::params::{optional_duration, optional_str, optional_u64};
use qm_plugin_sdk::{
    Internal, LeaseInfo, PluginError, PluginStorage, Reply, Request, SecretPlan, Write,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct DynamicRole {
    pub(crate) db_name: String,
    pub(crate) creation_statements: Vec<String>,
    pub(crate) revocation_statements: Vec<String>,
    pub(crate) renew_statements: Vec<String>,
    pub(crate) rollback_statements: Vec<String>,
    pub(crate) default_ttl: i64,
    pub(crate) max_ttl: i64,
    pub(crate) credential_type: String,
    /// 0: no cap.
    pub(crate) max_active_leases: u64,
}

fn key(name: &str) -> String {
    format!("roles/{name}")
}

/// A statements field: a JSON list of strings, or one string (kept whole:
/// statements contain commas, so a string is never split).
pub(crate) fn statements(
    data: &Map<String, Value>,
    field: &str,
) -> Result<Vec<String>, PluginError> {
    match data.get(field) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                _ => Err(PluginError::BadRequest(format!(
                    "{field}: expected a list of SQL strings"
                ))),
            })
            .collect(),
        Some(_) => Err(PluginError::BadRequest(format!(
            "{field}: expected SQL statements"
        ))),
    }
}

pub(crate) async fn load(
    storage: &dyn PluginStorage,
    name: &str,
) -> Result<DynamicRole, PluginError> {
    storage
        .get_json::<DynamicRole>(&key(name))
        .await?
        .ok_or_else(|| PluginError::BadRequest(format!("unknown role: {name}")))
}

pub(crate) async fn list(storage: &dyn PluginStorage) -> Result<Reply, PluginError> {
    Reply::keys(storage.list("roles/").await?)
}

pub(crate) async fn read(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    let role = storage
        .get_json::<DynamicRole>(&key(name))
        .await?
        .ok_or(PluginError::NotFound)?;
    let data = json!({
        "db_name": role.db_name,
        "creation_statements": role.creation_statements,
        "revocation_statements": role.revocation_statements,
        "renew_statements": role.renew_statements,
        "rollback_statements": role.rollback_statements,
        "default_ttl": role.default_ttl,
        "max_ttl": role.max_ttl,
        "credential_type": role.credential_type,
        "max_active_leases": role.max_active_leases,
    });
    Ok(Reply::json(data))
}

pub(crate) async fn write(
    storage: &dyn PluginStorage,
    name: &str,
    data: &Map<String, Value>,
) -> Result<Reply, PluginError> {
    let existing = storage.get_json::<DynamicRole>(&key(name)).await?;
    let mut role = existing.unwrap_or(DynamicRole {
        db_name: String::new(),
        creation_statements: Vec::new(),
        revocation_statements: Vec::new(),
        renew_statements: Vec::new(),
        rollback_statements: Vec::new(),
        default_ttl: 0,
        max_ttl: 0,
        credential_type: "password".into(),
        max_active_leases: 0,
    });
    if let Some(db) = optional_str(data, "db_name")? {
        role.db_name = db.to_string();
    }
    if role.db_name.is_empty() {
        return Err(PluginError::BadRequest("db_name: required".into()));
    }
    load_config(storage, &role.db_name).await?;
    for (field, target) in [
        ("creation_statements", &mut role.creation_statements),
        ("revocation_statements", &mut role.revocation_statements),
        ("renew_statements", &mut role.renew_statements),
        ("rollback_statements", &mut role.rollback_statements),
    ] {
        if data.contains_key(field) {
            *target = statements(data, field)?;
        }
    }
    if role.creation_statements.is_empty() {
        return Err(PluginError::BadRequest(
            "creation_statements: required".into(),
        ));
    }
    if !role
        .creation_statements
        .iter()
        .any(|s| s.contains("{{name}}") || s.contains("{{username}}"))
    {
        return Err(PluginError::BadRequest(
            "creation_statements: must create the user named {{name}}".into(),
        ));
    }
    if let Some(ttl) = optional_duration(data, "default_ttl")? {
        role.default_ttl = ttl;
    }
    if let Some(ttl) = optional_duration(data, "max_ttl")? {
        role.max_ttl = ttl;
    }
    if role.max_ttl > 0 && role.default_ttl > role.max_ttl {
        return Err(PluginError::BadRequest(
            "default_ttl: must not exceed max_ttl".into(),
        ));
    }
    if let Some(kind) = optional_str(data, "credential_type")? {
        if kind != "password" {
            return Err(PluginError::BadRequest(format!(
                "credential_type: {kind:?} is not supported; use \"password\""
            )));
        }
    }
    if let Some(cap) = optional_u64(data, "max_active_leases")? {
        role.max_active_leases = cap;
    }
    storage.put_json(&key(name), &role).await?;
    Ok(Reply::Empty)
}

pub(crate) async fn delete(storage: &dyn PluginStorage, name: &str) -> Result<Reply, PluginError> {
    storage.delete(&key(name)).await?;
    Ok(Reply::Empty)
}

/// What `users/DB/NAME` holds for a user this mount created: its role and
/// when its lease ends (kept current on renewal), so reconciliation can tell
/// a user whose lease is over from a live one.
#[derive(Serialize, Deserialize)]
pub(crate) struct UserRecord {
    pub(crate) role: String,
    #[serde(default)]
    pub(crate) expire_at: Option<i64>,
}

impl UserRecord {
    /// Reads a record; records written before lease ends were kept are the
    /// role name alone (a JSON string), with no known end.
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Self {
            role: serde_json::from_slice(bytes).unwrap_or_default(),
            expire_at: None,
        })
    }
}

fn user_key(db_name: &str, username: &str) -> String {
    format!("users/{db_name}/{username}")
}

/// Plans a new user for `role_name`. Records the username under
/// `users/DB/NAME` first: reconciliation only ever considers recorded names.
pub(crate) async fn plan_credentials(
    storage: &dyn PluginStorage,
    role_name: &str,
    req: &Request<'_>,
) -> Result<Reply, PluginError> {
    let role = load(storage, role_name).await?;
    let config = load_config(storage, &role.db_name).await?;
    if !config.allows(role_name) {
        return Err(PluginError::BadRequest(format!(
            "{role_name:?} is not an allowed role of database {:?} (allowed_roles)",
            role.db_name
        )));
    }
    let max_ttl = match role.max_ttl {
        0 => req.mount_max_ttl,
        ttl => ttl.min(req.mount_max_ttl),
    };
    let ttl = match role.default_ttl {
        0 => req.mount_default_ttl,
        ttl => ttl,
    }
    .min(max_ttl);
    let username = names::username(req.display_name, role_name, req.now);
    let password = names::password();
    // Durable with the pending lease the core writes next, before the user exists.
    let record = UserRecord {
        role: role_name.to_string(),
        expire_at: Some(req.now.saturating_add(ttl)),
    };
    storage
        .write_relaxed(vec![Write::Put(
            user_key(&role.db_name, &username),
            serde_json::to_vec(&record).map_err(|e| PluginError::Storage(e.to_string()))?,
        )])
        .await?;
    let internal = UserLease {
        db_name: role.db_name.clone(),
        username: username.clone(),
        creation_statements: role.creation_statements.clone(),
        revocation_statements: role.revocation_statements.clone(),
        renew_statements: role.renew_statements.clone(),
        rollback_statements: role.rollback_statements.clone(),
    };
    let mut data = Map::new();
    data.insert("username".into(), Value::String(username));
    data.insert("password".into(), Value::String(password));
    Ok(Reply::Secret(SecretPlan {
        role: role_name.to_string(),
        data,
        internal: Internal::encode(&internal)?,
        ttl,
        max_ttl,
        renewable: true,
        warnings: Vec::new(),
        max_active_leases: (role.max_active_leases > 0).then_some(role.max_active_leases),
    }))
}

/// Runs the creation statements in one transaction: all or nothing.
pub(crate) async fn create_user(
    pools: &Pools,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
    secret: &Map<String, Value>,
) -> Result<(), PluginError> {
    let user: UserLease = lease.decode()?;
    let password = secret
        .get("password")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            PluginError::Storage(format!(
                "the plan of lease {} carries no password",
                lease.lease_id
            ))
        })?;
    let pool = pools.get(storage, &user.db_name).await?;
    let expires = expiration(lease.expire_at);
    let vars = Vars {
        name: &user.username,
        password,
        expiration: &expires,
    };
    run_in_transaction(
        &pool,
        &render_all(&user.creation_statements, &vars),
        &[password],
    )
    .await
    .map_err(|f| f.into_plugin_error("creation statements"))
}

/// Moves the user's `VALID UNTIL` to the lease's new end.
pub(crate) async fn renew_user(
    pools: &Pools,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
) -> Result<(), PluginError> {
    let user: UserLease = lease.decode()?;
    let pool = pools.get(storage, &user.db_name).await?;
    let expires = expiration(lease.expire_at);
    let vars = Vars {
        name: &user.username,
        password: "",
        expiration: &expires,
    };
    let sql = if user.renew_statements.is_empty() {
        format!(
            "ALTER ROLE {} VALID UNTIL {};",
            crate::sql::quote_ident(&user.username),
            crate::sql::quote_literal(&expires)
        )
    } else {
        render_all(&user.renew_statements, &vars)
    };
    run_in_transaction(&pool, &sql, &[])
        .await
        .map_err(|f| f.into_plugin_error("renew statements"))?;
    // The lease's new end, durable with the lease record the core writes next.
    let key = user_key(&user.db_name, &user.username);
    let mut record = match storage.get(&key).await? {
        Some(bytes) => UserRecord::parse(&bytes),
        None => return Ok(()),
    };
    record.expire_at = Some(lease.expire_at);
    storage
        .write_relaxed(vec![Write::Put(
            key,
            serde_json::to_vec(&record).map_err(|e| PluginError::Storage(e.to_string()))?,
        )])
        .await
}

/// Drops the user (revocation, or rollback of a pending lease) and forgets it.
pub(crate) async fn drop_user(
    pools: &Pools,
    storage: &dyn PluginStorage,
    lease: &LeaseInfo,
    rollback: bool,
) -> Result<(), PluginError> {
    let user: UserLease = lease.decode()?;
    let pool = pools.get(storage, &user.db_name).await?;
    let custom = if rollback && !user.rollback_statements.is_empty() {
        &user.rollback_statements
    } else {
        &user.revocation_statements
    };
    let result = if custom.is_empty() {
        drop_role(&pool, &user.username).await
    } else {
        let vars = Vars {
            name: &user.username,
            password: "",
            expiration: "",
        };
        match crate::sql::role_exists(&pool, &user.username).await {
            Ok(false) => Ok(()),
            Ok(true) => run_in_transaction(&pool, &render_all(custom, &vars), &[]).await,
            Err(e) => Err(e),
        }
    };
    result.map_err(|f| {
        PluginError::Backend(format!("revoking user {}: {}", user.username, f.message()))
    })?;
    // Durable with the lease deletion the core writes next.
    storage
        .write_relaxed(vec![Write::Delete(format!(
            "users/{}/{}",
            user.db_name, user.username
        ))])
        .await
}
