//! `database/reconcile/NAME`: the database users this mount created whose
//! lease has ended but which still exist (a `revoke-force`, a revocation
//! that never got through). With `fix=true` they are dropped. This is how
//! operators check that nothing leaked.
//!
//! Only names this mount recorded are candidates: every username is written
//! to `users/DB/NAME` (with the lease's end) before the user is created, and
//! removed when it is dropped. A role that merely looks like ours (another
//! system's, or one made by hand as `v-...`) is never reported or dropped.

use crate::connections::Connections;
use crate::users::UserRecord;
use qm_plugin_sdk::params::optional_bool;
use qm_plugin_sdk::{PluginError, PluginStorage, Reply, Write};
use serde_json::{json, Map, Value};

pub(crate) async fn run(
    connections: &Connections,
    storage: &dyn PluginStorage,
    db_name: &str,
    data: &Map<String, Value>,
    now: i64,
) -> Result<Reply, PluginError> {
    let fix = optional_bool(data, "fix")?.unwrap_or(false);
    let connection = connections.get(storage, db_name).await?;
    let prefix = format!("users/{db_name}/");
    let recorded = storage.list(&prefix).await?;
    let existing = connection
        .existing_users(&recorded)
        .await
        .map_err(|e| e.into_plugin_error("listing database users"))?;
    let mut leaked = Vec::new();
    for name in &existing {
        let ended = storage
            .get(&format!("{prefix}{name}"))
            .await?
            .and_then(|bytes| UserRecord::parse(&bytes).expire_at)
            .is_some_and(|end| end <= now);
        if ended {
            leaked.push(name.clone());
        }
    }
    let mut dropped = Vec::new();
    if fix {
        for name in &leaked {
            connection
                .delete_user(name, &[])
                .await
                .map_err(|e| e.into_plugin_error(&format!("dropping {name}")))?;
            storage
                .write(vec![Write::Delete(format!("{prefix}{name}"))])
                .await?;
            dropped.push(name.clone());
        }
    }
    let data = json!({
        "checked": existing.len(),
        "leaked": leaked,
        "dropped": dropped,
    });
    Ok(Reply::json(data))
}

/// Reconciles every configured database without fixing; an error lists
/// the databases with users that look leaked.
pub(crate) async fn report_all(
    connections: &Connections,
    storage: &dyn PluginStorage,
    now: i64,
) -> Result<(), PluginError> {
    let mut findings = Vec::new();
    for db_name in storage.list("config/").await? {
        if let Reply::Data(data) = run(connections, storage, &db_name, &Map::new(), now).await? {
            let leaked = data
                .get("leaked")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            if leaked > 0 {
                findings.push(format!("{db_name}: {leaked}"));
            }
        }
    }
    if findings.is_empty() {
        return Ok(());
    }
    Err(PluginError::Backend(format!(
        "reconciliation at start found database users this mount created whose lease has ended ({}); \
         list them with database/reconcile/NAME and drop them with fix=true",
        findings.join(", ")
    )))
}
