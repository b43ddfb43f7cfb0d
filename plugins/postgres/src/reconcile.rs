//! `database/reconcile/NAME`: the Postgres users that look like ours (named
//! for one of this mount's roles on that database) but that no lease knows.
//! With `fix=true` they are dropped. This is how operators check that
//! nothing leaked.

use crate::names::role_fragment;
use crate::pools::Pools;
use crate::roles::DynamicRole;
use crate::sql::{drop_role, roles_like};
use qm_plugin_sdk::params::optional_bool;
use qm_plugin_sdk::{PluginError, PluginStorage, Reply};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('_', "\\_")
        .replace('%', "\\%")
}

pub(crate) async fn run(
    pools: &Pools,
    storage: &dyn PluginStorage,
    db_name: &str,
    data: &Map<String, Value>,
) -> Result<Reply, PluginError> {
    let fix = optional_bool(data, "fix")?.unwrap_or(false);
    let pool = pools.get(storage, db_name).await?;
    let known: BTreeSet<String> = storage
        .list(&format!("users/{db_name}/"))
        .await?
        .into_iter()
        .collect();
    let mut fragments = BTreeSet::new();
    for role in storage.list("roles/").await? {
        if let Some(found) = storage
            .get_json::<DynamicRole>(&format!("roles/{role}"))
            .await?
        {
            if found.db_name == db_name {
                fragments.insert(role_fragment(&role));
            }
        }
    }
    let mut ours = BTreeSet::new();
    for fragment in &fragments {
        let pattern = format!("v-%-{}-%", like_escape(fragment));
        let found = roles_like(&pool, &pattern)
            .await
            .map_err(|f| f.into_plugin_error("listing database users"))?;
        ours.extend(found);
    }
    let leaked: Vec<String> = ours.difference(&known).cloned().collect();
    let mut dropped = Vec::new();
    if fix {
        for name in &leaked {
            drop_role(&pool, name)
                .await
                .map_err(|f| f.into_plugin_error(&format!("dropping {name}")))?;
            dropped.push(name.clone());
        }
    }
    let data = json!({
        "checked": ours.len(),
        "leaked": leaked,
        "dropped": dropped,
    });
    Ok(Reply::json(data))
}

/// Reconciles every configured database without fixing; an error lists
/// the databases with users that look leaked.
pub(crate) async fn report_all(
    pools: &Pools,
    storage: &dyn PluginStorage,
) -> Result<(), PluginError> {
    let mut findings = Vec::new();
    for db_name in storage.list("config/").await? {
        if let Reply::Data(data) = run(pools, storage, &db_name, &Map::new()).await? {
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
        "reconciliation at start found database users that look like ours but have no lease ({}); \
         list them with database/reconcile/NAME and drop them with fix=true",
        findings.join(", ")
    )))
}
