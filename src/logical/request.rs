//! The request and response that flow through the core, independent of HTTP.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::IpAddr;
use zeroize::Zeroizing;

/// What a request asks to do; writes are split into create and update by
/// whether the target exists, as Vault's ACLs distinguish them. The same
/// type plugins see.
pub use qm_plugin_sdk::Operation;

/// One API request. The token is zeroized on drop and has no `Debug`.
pub struct Request {
    pub id: String,
    pub operation: Operation,
    /// The path below `/v1/`, without a leading slash.
    pub path: String,
    pub data: Map<String, Value>,
    pub token: Option<Zeroizing<String>>,
    pub remote_addr: Option<IpAddr>,
    /// `X-Vault-Wrap-TTL`: answer with a single-use wrapping token instead.
    pub wrap_ttl: Option<i64>,
    /// A binary body, for the paths that take one (a snapshot upload);
    /// never audited or logged.
    pub upload: Option<Vec<u8>>,
    /// `?help=1`: answer with the path's help text, run no handler.
    pub help: bool,
}

impl Request {
    pub fn new(operation: Operation, path: impl Into<String>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            operation,
            path: path.into(),
            data: Map::new(),
            token: None,
            remote_addr: None,
            wrap_ttl: None,
            upload: None,
            help: false,
        }
    }
}

/// The `auth` block of a response: a token was issued.
#[derive(Serialize, Deserialize, Clone)]
pub struct AuthBlock {
    pub client_token: String,
    pub accessor: String,
    pub policies: Vec<String>,
    pub token_policies: Vec<String>,
    pub identity_policies: Option<Vec<String>>,
    pub metadata: Option<std::collections::BTreeMap<String, String>>,
    pub lease_duration: i64,
    pub renewable: bool,
    pub entity_id: String,
    pub token_type: String,
    pub orphan: bool,
    pub mfa_requirement: Option<Value>,
    pub num_uses: i64,
}

/// The lease fields of the envelope.
#[derive(Clone, Debug)]
pub struct LeaseBlock {
    pub lease_id: String,
    pub lease_duration: i64,
    pub renewable: bool,
}

/// What a handler answers.
#[derive(Default)]
pub struct Response {
    pub data: Option<Map<String, Value>>,
    pub lease: Option<LeaseBlock>,
    pub auth: Option<AuthBlock>,
    pub warnings: Vec<String>,
    /// A body sent as-is instead of the envelope (sys/health, sys/init, ...).
    pub raw: Option<Value>,
    /// A status other than the default (200 with a body, 204 without).
    pub status: Option<u16>,
    /// A plain-text body sent as-is (Prometheus metrics).
    pub text: Option<String>,
    /// Set when the response was wrapped: all the client gets.
    pub wrap_info: Option<WrapInfo>,
    /// The `data` fields are also sent at the top level, as Vault does for
    /// some `sys/` reads that clients read either way.
    pub data_at_top_level: bool,
    /// A binary body sent as-is, with its content type (a snapshot).
    pub bytes: Option<(&'static str, Vec<u8>)>,
}

/// The `wrap_info` block: the single-use token that unwraps the response.
#[derive(Serialize, Clone)]
pub struct WrapInfo {
    pub token: String,
    pub accessor: String,
    pub ttl: i64,
    pub creation_time: String,
    pub creation_path: String,
    pub wrapped_accessor: String,
}

impl Response {
    pub fn data(data: Map<String, Value>) -> Self {
        Self {
            data: Some(data),
            ..Self::default()
        }
    }

    /// A response carrying the fields of a JSON object.
    pub fn json(value: Value) -> Self {
        match value {
            Value::Object(map) => Self::data(map),
            _ => Self::default(),
        }
    }

    pub fn raw(value: Value) -> Self {
        Self {
            raw: Some(value),
            ..Self::default()
        }
    }

    /// A LIST answer: `{"keys": [...]}`, or 404 when empty, as Vault does.
    pub fn keys(keys: Vec<String>) -> Result<Self, crate::error::ApiError> {
        if keys.is_empty() {
            return Err(crate::error::ApiError::NotFound);
        }
        Ok(Self::json(serde_json::json!({ "keys": keys })))
    }

    pub fn empty() -> Self {
        Self::default()
    }

    /// Whether the answer has no body: a 204 unless `status` says otherwise.
    pub fn is_bodiless(&self) -> bool {
        self.text.is_none()
            && self.raw.is_none()
            && self.bytes.is_none()
            && self.data.is_none()
            && self.auth.is_none()
            && self.wrap_info.is_none()
            && self.lease.is_none()
            && self.warnings.is_empty()
    }

    /// The HTTP status this answer is sent with.
    pub fn status_code(&self) -> u16 {
        self.status
            .unwrap_or(if self.is_bodiless() { 204 } else { 200 })
    }

    /// The same answer with `warning` added, if any (an empty answer then
    /// becomes a 200 that carries it, as in Vault).
    pub fn warn(mut self, warning: Option<String>) -> Self {
        self.warnings.extend(warning);
        self
    }

    /// The envelope's `lease_id`, `lease_duration` and `renewable`.
    pub fn lease_fields(&self) -> (&str, i64, bool) {
        match &self.lease {
            Some(lease) => (
                lease.lease_id.as_str(),
                lease.lease_duration,
                lease.renewable,
            ),
            None => ("", 0, false),
        }
    }

    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}
