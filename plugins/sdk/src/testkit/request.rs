//! A request builder for plugin tests: owns what a [`Request`] borrows, with
//! the defaults a core would fill in (a display name, mount TTLs, the time).

use crate::{Operation, PluginError, PluginStorage, Reply, Request, SecretsEngine};
use serde_json::{Map, Value};

/// A request below a plugin's mount, built for a test. `Debug` shows the
/// data's keys only (a config write carries a password).
#[derive(Clone)]
pub struct TestRequest {
    operation: Operation,
    path: String,
    data: Map<String, Value>,
    display_name: String,
    mount_default_ttl: i64,
    mount_max_ttl: i64,
    now: i64,
}

impl std::fmt::Debug for TestRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRequest")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("data", &crate::lease::MapKeys(&self.data))
            .finish_non_exhaustive()
    }
}

impl TestRequest {
    /// A request with no data, display name `token-testkit`, mount TTLs of
    /// one hour and 32 days (Vault's system defaults), at the current time.
    pub fn new(operation: Operation, path: &str) -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        Self {
            operation,
            path: path.to_string(),
            data: Map::new(),
            display_name: "token-testkit".into(),
            mount_default_ttl: 3600,
            mount_max_ttl: 32 * 86_400,
            now,
        }
    }

    pub fn read(path: &str) -> Self {
        Self::new(Operation::Read, path)
    }

    /// An update (a write to an existing path, or any write where the
    /// plugin does not tell create from update).
    pub fn write(path: &str) -> Self {
        Self::new(Operation::Update, path)
    }

    pub fn list(path: &str) -> Self {
        Self::new(Operation::List, path)
    }

    pub fn delete(path: &str) -> Self {
        Self::new(Operation::Delete, path)
    }

    /// The request's data: a JSON object (`json!({...})`).
    ///
    /// # Panics
    /// If `data` is not an object: a mistake in the test itself.
    pub fn data(mut self, data: Value) -> Self {
        match data {
            Value::Object(map) => self.data = map,
            other => panic!("TestRequest::data takes a JSON object, not {other}"),
        }
        self
    }

    pub fn display_name(mut self, name: &str) -> Self {
        self.display_name = name.to_string();
        self
    }

    /// The mount's default and max lease TTL, in seconds.
    pub fn mount_ttls(mut self, default: i64, max: i64) -> Self {
        self.mount_default_ttl = default;
        self.mount_max_ttl = max;
        self
    }

    /// Unix seconds the plugin sees as now.
    pub fn now(mut self, now: i64) -> Self {
        self.now = now;
        self
    }

    /// The request as a plugin receives it.
    pub fn request(&self) -> Request<'_> {
        Request {
            operation: self.operation,
            path: &self.path,
            data: &self.data,
            display_name: &self.display_name,
            mount_default_ttl: self.mount_default_ttl,
            mount_max_ttl: self.mount_max_ttl,
            now: self.now,
        }
    }

    /// Sends the request to `engine` with `storage`.
    pub async fn send(
        &self,
        engine: &dyn SecretsEngine,
        storage: &dyn PluginStorage,
    ) -> Result<Reply, PluginError> {
        engine.handle(&self.request(), storage).await
    }
}
