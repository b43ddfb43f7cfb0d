//! `database/discover/NAME` (ours): the login roles of a configured
//! database that this mount did not create, and their retirement.
//!
//! A read lists every login role from the catalogs (expiry, attributes,
//! memberships, table privileges, open sessions), marks the ones this mount
//! manages (its dynamic users, recorded under `users/DB/`; its static
//! roles' users; the config's own user), adds when each was last seen
//! connected across scans (kept under `discover-seen/DB/ROLE`), and
//! suggests, for a role a dynamic role can stand in for, the creation
//! statements that grant the same memberships and privileges.
//!
//! A write retires one unmanaged role: `action` is `nologin` (reversible),
//! `login` (undoes it) or `drop`. It is a dry run unless `dry_run=false`,
//! and refused for a role seen connected within `active_days` (default 30)
//! unless `force=true`. Managed roles and the config's own user are never
//! touched here, nor any role that is neither a login role nor one this
//! mount retired (a group role, say).
//!
//! A role this mount stopped with `NOLOGIN` is remembered under
//! `discover-retired/DB/ROLE` (when), so later scans still list it, with
//! `retired_at`, until it is restored, dropped, or given LOGIN again by
//! someone else.

use crate::config::load as load_config;
use crate::connections::Connections;
use crate::driver::LoginRole;
use qm_plugin_sdk::params::{optional_bool, optional_str};
use qm_plugin_sdk::{PluginError, PluginStorage, Reply, Write};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

const DAY: i64 = 86_400;
const DEFAULT_ACTIVE_DAYS: i64 = 30;

/// The fields a retirement takes.
pub(crate) const FIELDS: &[&str] = &["username", "action", "dry_run", "force", "active_days"];

fn seen_prefix(db_name: &str) -> String {
    format!("discover-seen/{db_name}/")
}

fn retired_prefix(db_name: &str) -> String {
    format!("discover-retired/{db_name}/")
}

/// The Unix times kept under `prefix`, by role name.
async fn times_under(
    storage: &dyn PluginStorage,
    prefix: &str,
) -> Result<BTreeMap<String, i64>, PluginError> {
    let mut times = BTreeMap::new();
    for name in storage.list(prefix).await? {
        if let Some(at) = storage.get_json::<i64>(&format!("{prefix}{name}")).await? {
            times.insert(name, at);
        }
    }
    Ok(times)
}

/// When this mount retired each role of `db_name` (with `NOLOGIN`).
async fn retired_roles(
    storage: &dyn PluginStorage,
    db_name: &str,
) -> Result<BTreeMap<String, i64>, PluginError> {
    times_under(storage, &retired_prefix(db_name)).await
}

/// The roles of `db_name`: the login roles and those this mount retired.
async fn catalog_roles(
    connection: &dyn crate::driver::Connection,
    retired: &BTreeMap<String, i64>,
) -> Result<Vec<LoginRole>, PluginError> {
    let names: Vec<String> = retired.keys().cloned().collect();
    connection
        .login_roles(&names)
        .await
        .map_err(|e| e.into_plugin_error("reading the login roles"))
}

/// Forgets the retirements that no longer hold: the role is gone, or it
/// may log in again (restored outside the broker).
fn stale_retirements(
    db_name: &str,
    retired: &BTreeMap<String, i64>,
    roles: &[LoginRole],
) -> Vec<Write> {
    retired
        .keys()
        .filter(|name| !roles.iter().any(|r| &r.name == *name && !r.can_login))
        .map(|name| Write::Delete(format!("{}{name}", retired_prefix(db_name))))
        .collect()
}

/// Who manages each managed login role of `db_name`.
async fn managed_roles(
    storage: &dyn PluginStorage,
    db_name: &str,
    own_user: &str,
) -> Result<BTreeMap<String, String>, PluginError> {
    let mut managed = BTreeMap::new();
    for user in storage.list(&format!("users/{db_name}/")).await? {
        managed.insert(user, "dynamic".to_string());
    }
    for role in storage.list("static-roles/").await? {
        let Some(config) = storage
            .get_json::<Map<String, Value>>(&format!("static-roles/{role}"))
            .await?
        else {
            continue;
        };
        let of_this_db = config.get("db_name").and_then(Value::as_str) == Some(db_name);
        if let (true, Some(user)) = (of_this_db, config.get("username").and_then(Value::as_str)) {
            managed.insert(user.to_string(), format!("static-roles/{role}"));
        }
    }
    if !own_user.is_empty() {
        managed.insert(own_user.to_string(), "config".to_string());
    }
    Ok(managed)
}

/// The last time each role was seen connected, and the writes that record
/// the roles connected now.
async fn last_seen(
    storage: &dyn PluginStorage,
    db_name: &str,
    roles: &[LoginRole],
    now: i64,
) -> Result<(BTreeMap<String, i64>, Vec<Write>), PluginError> {
    let prefix = seen_prefix(db_name);
    let mut seen = times_under(storage, &prefix).await?;
    let mut writes = Vec::new();
    for role in roles.iter().filter(|r| r.connections > 0) {
        // Role names may hold '/': such a role is still listed, its last
        // sighting is just not kept.
        if role.name.contains('/') || role.name.is_empty() {
            continue;
        }
        seen.insert(role.name.clone(), now);
        writes.push(Write::Put(
            format!("{prefix}{}", role.name),
            now.to_string().into_bytes(),
        ));
    }
    Ok((seen, writes))
}

/// `"name"` with inner quotes doubled (for a suggested statement).
fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The creation statements of a dynamic role granting what `role` has, if
/// a dynamic role can cover it (no attribute beyond LOGIN).
fn suggested_statements(role: &LoginRole) -> Option<Vec<String>> {
    if !role.attributes.is_empty() {
        return None;
    }
    let mut statements = vec![
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';"
            .to_string(),
    ];
    for group in &role.member_of {
        statements.push(format!("GRANT {} TO \"{{{{name}}}}\";", quote_ident(group)));
    }
    for grant in &role.privileges {
        let Some((table, privileges)) = grant.split_once(": ") else {
            continue;
        };
        let Some((schema, relation)) = table.split_once('.') else {
            continue;
        };
        statements.push(format!(
            "GRANT {privileges} ON {}.{} TO \"{{{{name}}}}\";",
            quote_ident(schema),
            quote_ident(relation)
        ));
    }
    Some(statements)
}

/// `database/discover/NAME` read: the login roles with who manages each.
pub(crate) async fn scan(
    connections: &Connections,
    storage: &dyn PluginStorage,
    db_name: &str,
    now: i64,
) -> Result<Reply, PluginError> {
    let config = load_config(storage, db_name).await?;
    let connection = connections.get(storage, db_name).await?;
    let retired = retired_roles(storage, db_name).await?;
    let roles = catalog_roles(connection.as_ref(), &retired).await?;
    let mut managed = managed_roles(storage, db_name, &config.username).await?;
    for role in roles.iter().filter(|r| r.current_user) {
        managed.insert(role.name.clone(), "config".to_string());
    }
    let (seen, mut writes) = last_seen(storage, db_name, &roles, now).await?;
    writes.extend(stale_retirements(db_name, &retired, &roles));
    if !writes.is_empty() {
        storage.write(writes).await?;
    }
    let listed: Vec<Value> = roles
        .iter()
        .map(|role| {
            json!({
                "name": role.name,
                "valid_until": role.valid_until,
                "attributes": role.attributes,
                "member_of": role.member_of,
                "privileges": role.privileges,
                "connections": role.connections,
                "last_seen_connected": seen.get(&role.name),
                "managed_by": managed.get(&role.name),
                "retired_at": retired.get(&role.name).filter(|_| !role.can_login),
                "suggested_creation_statements": suggested_statements(role),
            })
        })
        .collect();
    Ok(Reply::json(json!({
        "db_name": db_name,
        "plugin_name": config.plugin_name,
        "roles": listed,
    })))
}

/// `database/discover/NAME` write: retires (or restores) one unmanaged role.
pub(crate) async fn retire(
    connections: &Connections,
    storage: &dyn PluginStorage,
    db_name: &str,
    data: &Map<String, Value>,
    now: i64,
) -> Result<Reply, PluginError> {
    let username = optional_str(data, "username")?
        .filter(|u| !u.is_empty())
        .ok_or_else(|| PluginError::BadRequest("username: required".into()))?;
    let action = optional_str(data, "action")?.unwrap_or("nologin");
    if !matches!(action, "nologin" | "login" | "drop") {
        return Err(PluginError::BadRequest(format!(
            "action: {action:?} is not one of nologin, login, drop"
        )));
    }
    let dry_run = optional_bool(data, "dry_run")?.unwrap_or(true);
    let force = optional_bool(data, "force")?.unwrap_or(false);
    let active_days = match data.get("active_days") {
        None => DEFAULT_ACTIVE_DAYS,
        Some(v) => v
            .as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|d| (0..=36_500).contains(d))
            .ok_or_else(|| {
                PluginError::BadRequest("active_days: a number of days, 0 to 36500".into())
            })?,
    };
    let config = load_config(storage, db_name).await?;
    let connection = connections.get(storage, db_name).await?;
    let retired = retired_roles(storage, db_name).await?;
    let roles = catalog_roles(connection.as_ref(), &retired).await?;
    let role = roles.iter().find(|r| r.name == username);
    let managed = managed_roles(storage, db_name, &config.username).await?;
    let by = match role {
        Some(r) if r.current_user => Some("config"),
        _ => managed.get(username).map(String::as_str),
    };
    if let Some(by) = by {
        return Err(PluginError::BadRequest(format!(
            "{username:?} is managed by this mount ({by}); retire it there"
        )));
    }
    // Only a login role, or one this mount retired, is this path's to touch.
    let Some(role) = role else {
        return Err(PluginError::NotFound);
    };
    let last_seen = match username.contains('/') {
        true => None,
        false => {
            storage
                .get_json::<i64>(&format!("{}{username}", seen_prefix(db_name)))
                .await?
        }
    };
    let connected = role.connections;
    let recently = connected > 0
        || last_seen.is_some_and(|at| now.saturating_sub(at) < active_days.saturating_mul(DAY));
    let refused = (recently && !force && action != "login").then(|| {
        format!(
            "{username:?} was seen connected within the last {active_days} days; \
             retire it with force=true"
        )
    });
    let answer = json!({
        "db_name": db_name,
        "username": username,
        "action": action,
        "dry_run": dry_run,
        "connections": connected,
        "last_seen_connected": last_seen,
        "refused": refused,
    });
    if dry_run {
        return Ok(Reply::json(answer));
    }
    if let Some(why) = refused {
        return Err(PluginError::BadRequest(why));
    }
    let done = match action {
        "drop" => connection.delete_user(username, &[]).await,
        other => connection.set_login(username, other == "login").await,
    };
    done.map_err(|e| e.into_plugin_error(&format!("{action} of {username}")))?;
    // Remembered (or forgotten) so that the next scan still lists it; a
    // name holding '/' cannot be a key segment and is not remembered.
    if !username.contains('/') {
        let key = format!("{}{username}", retired_prefix(db_name));
        let remember = match action {
            "nologin" => Write::Put(key, now.to_string().into_bytes()),
            _ => Write::Delete(key),
        };
        storage.write(vec![remember]).await?;
    }
    Ok(Reply::json(answer))
}
