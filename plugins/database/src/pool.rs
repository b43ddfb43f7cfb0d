//! A config's connection pool settings as Vault takes them
//! (`max_open_connections`, `max_idle_connections`,
//! `max_connection_lifetime`) and shows them in `connection_details`.
//! Stricter than Vault, which reads a negative count as "unlimited" or
//! "no idle connections" and a negative lifetime as "for ever": negative
//! values and more than [`MAX_CONNECTIONS`] connections are refused.

use qm_plugin_sdk::params::{optional_duration, optional_u64};
use qm_plugin_sdk::PluginError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The most connections one config's pool may open.
const MAX_CONNECTIONS: u64 = 1000;
/// Vault's default pool size (its SQL connection producer's).
const DEFAULT_OPEN: u32 = 4;

/// Stored flattened into the config (old records have only
/// `max_open_connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PoolSettings {
    pub(crate) max_open_connections: u32,
    /// 0: as many as `max_open_connections`, as Vault.
    #[serde(default)]
    pub(crate) max_idle_connections: u32,
    /// Seconds a connection is reused; 0: for ever.
    #[serde(default)]
    pub(crate) max_connection_lifetime: i64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_open_connections: DEFAULT_OPEN,
            max_idle_connections: 0,
            max_connection_lifetime: 0,
        }
    }
}

/// A connection count: 0 is `zero`, more than [`MAX_CONNECTIONS`] a 400.
fn connections(
    data: &Map<String, Value>,
    field: &str,
    zero: u32,
) -> Result<Option<u32>, PluginError> {
    let Some(count) = optional_u64(data, field)? else {
        return Ok(None);
    };
    if count > MAX_CONNECTIONS {
        return Err(PluginError::BadRequest(format!(
            "{field}: at most {MAX_CONNECTIONS}"
        )));
    }
    Ok(Some(match u32::try_from(count) {
        Ok(0) => zero,
        Ok(n) => n,
        Err(_) => zero,
    }))
}

impl PoolSettings {
    /// Applies the fields `data` sets.
    pub(crate) fn update(&mut self, data: &Map<String, Value>) -> Result<(), PluginError> {
        if let Some(open) = connections(data, "max_open_connections", DEFAULT_OPEN)? {
            self.max_open_connections = open;
        }
        if let Some(idle) = connections(data, "max_idle_connections", 0)? {
            self.max_idle_connections = idle;
        }
        if let Some(lifetime) = optional_duration(data, "max_connection_lifetime")? {
            self.max_connection_lifetime = lifetime;
        }
        Ok(())
    }

    /// The pool's bound (at least 1).
    pub(crate) fn open(&self) -> u32 {
        self.max_open_connections.max(1)
    }

    /// How many idle connections the pool keeps: as many as it may open
    /// unless fewer are asked for.
    pub(crate) fn idle(&self) -> u32 {
        match self.max_idle_connections {
            0 => self.open(),
            n => n.min(self.open()),
        }
    }

    /// How long a connection is reused; `None`: for ever.
    pub(crate) fn lifetime(&self) -> Option<Duration> {
        u64::try_from(self.max_connection_lifetime)
            .ok()
            .filter(|secs| *secs > 0)
            .map(Duration::from_secs)
    }

    /// The settings as `connection_details` shows them; the lifetime as Go
    /// prints a duration (`1h0m0s`), which Vault clients parse back.
    pub(crate) fn details(&self) -> Map<String, Value> {
        let mut details = Map::new();
        details.insert("max_open_connections".into(), json!(self.open()));
        details.insert("max_idle_connections".into(), json!(self.idle()));
        details.insert(
            "max_connection_lifetime".into(),
            json!(go_duration(self.max_connection_lifetime)),
        );
        details
    }
}

/// Whole seconds as Go's `time.Duration` prints them: `0s`, `45s`,
/// `1m30s`, `2h0m0s`.
fn go_duration(seconds: i64) -> String {
    let total = u64::try_from(seconds).unwrap_or(0);
    let (hours, minutes, secs) = (total / 3600, total % 3600 / 60, total % 60);
    if hours > 0 {
        format!("{hours}h{minutes}m{secs}s")
    } else if minutes > 0 {
        format!("{minutes}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(data: Value) -> Result<PoolSettings, PluginError> {
        let mut pool = PoolSettings::default();
        pool.update(data.as_object().unwrap_or(&Map::new()))?;
        Ok(pool)
    }

    #[test]
    fn vaults_defaults_and_bounds() {
        let pool = settings(json!({})).unwrap();
        assert_eq!((pool.open(), pool.idle(), pool.lifetime()), (4, 4, None));
        let pool = settings(json!({"max_open_connections": 0, "max_idle_connections": 0})).unwrap();
        assert_eq!((pool.open(), pool.idle()), (4, 4));
        let pool = settings(json!({
            "max_open_connections": "10",
            "max_idle_connections": 20,
            "max_connection_lifetime": "5m",
        }))
        .unwrap();
        assert_eq!((pool.open(), pool.idle()), (10, 10), "idle is cut to open");
        assert_eq!(pool.lifetime(), Some(Duration::from_secs(300)));
        let pool =
            settings(json!({"max_idle_connections": 2, "max_connection_lifetime": 90})).unwrap();
        assert_eq!(pool.idle(), 2);
        assert_eq!(
            Value::Object(pool.details()),
            json!({"max_open_connections": 4, "max_idle_connections": 2, "max_connection_lifetime": "1m30s"})
        );
        for bad in [
            json!({"max_open_connections": 1001}),
            json!({"max_open_connections": -1}),
            json!({"max_idle_connections": u64::MAX}),
            json!({"max_idle_connections": "1e9"}),
            json!({"max_connection_lifetime": "-5s"}),
            json!({"max_connection_lifetime": "1000000000h"}),
            json!({"max_connection_lifetime": "x".repeat(1 << 20)}),
        ] {
            assert!(settings(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        for (secs, shown) in [
            (0, "0s"),
            (45, "45s"),
            (90, "1m30s"),
            (3600, "1h0m0s"),
            (90061, "25h1m1s"),
        ] {
            assert_eq!(go_duration(secs), shown);
        }
    }
}
