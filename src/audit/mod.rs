//! Audit devices: every request and every response, one JSON line each, on
//! every enabled device, with secrets replaced by per-device HMACs and each
//! line chained to the one before it. Fail-closed: when devices are enabled
//! and none can record a request, the request is refused, not served
//! unrecorded.
//!
//! The device table is stored (encrypted) at `core/audit`, with each
//! device's HMAC key.

pub mod device;
pub mod entry;
pub mod verify;

use crate::barrier::Barrier;
use crate::error::ApiError;
use device::{Device, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

const TABLE_KEY: &str = "core/audit";

/// A device as stored: no `Debug`, since it holds the HMAC key.
#[derive(Clone, Serialize, Deserialize)]
struct DeviceConfig {
    /// With a trailing slash, as Vault lists it: `file/`.
    path: String,
    #[serde(rename = "type")]
    kind: String,
    description: String,
    options: BTreeMap<String, String>,
    hmac_key: String,
}

struct Enabled {
    config: DeviceConfig,
    key: Zeroizing<Vec<u8>>,
    device: Device,
}

pub struct AuditBroker {
    barrier: Arc<Barrier>,
    // Copy-on-write, like the mount table: writers clone the Arc.
    devices: RwLock<Arc<Vec<Arc<Enabled>>>>,
    changing: tokio::sync::Mutex<()>,
}

fn target(options: &BTreeMap<String, String>) -> Result<Target, ApiError> {
    match options.get("file_path").map(|p| p.trim()) {
        None | Some("") => Err(ApiError::bad(
            "options.file_path: required (a file path, or \"stdout\")",
        )),
        Some("stdout") => Ok(Target::Stdout),
        Some(path) => Ok(Target::File(path.into())),
    }
}

fn enable_device(config: DeviceConfig) -> Result<Enabled, String> {
    let key = hex::decode(&config.hmac_key).map_err(|_| "the HMAC key is corrupt".to_string())?;
    let target = target(&config.options).map_err(|e| e.to_string())?;
    let device = Device::open(target.clone()).map_err(|e| e.to_string())?;
    Ok(Enabled {
        config,
        key: Zeroizing::new(key),
        device,
    })
}

impl AuditBroker {
    /// Opens every stored device. A device that cannot open stays enabled
    /// and failing (so fail-closed holds) until a SIGHUP reopens it.
    pub async fn load(barrier: Arc<Barrier>) -> Result<Self, ApiError> {
        let configs = barrier
            .get_json::<Vec<DeviceConfig>>(TABLE_KEY)
            .await?
            .unwrap_or_default();
        let mut devices = Vec::new();
        for config in configs {
            let enabled = match enable_device(config.clone()) {
                Ok(enabled) => enabled,
                Err(reason) => {
                    tracing::error!(device = %config.path, %reason, "audit device cannot open; requests fail until it can");
                    Enabled {
                        key: Zeroizing::new(hex::decode(&config.hmac_key).unwrap_or_default()),
                        device: Device::closed(target(&config.options)?),
                        config,
                    }
                }
            };
            devices.push(Arc::new(enabled));
        }
        Ok(Self {
            barrier,
            devices: RwLock::new(Arc::new(devices)),
            changing: tokio::sync::Mutex::new(()),
        })
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Enabled>>> {
        self.devices
            .read()
            .map(|d| Arc::clone(&d))
            .unwrap_or_else(|p| Arc::clone(&p.into_inner()))
    }

    pub fn is_enabled(&self) -> bool {
        !self.snapshot().is_empty()
    }

    /// Writes `entry` to every device; fails when devices are enabled and
    /// none recorded it.
    pub fn log(&self, entry: &Map<String, Value>) -> Result<(), ApiError> {
        let devices = self.snapshot();
        let mut recorded = devices.is_empty();
        for enabled in devices.iter() {
            if enabled.device.append(entry::hashed(&enabled.key, entry)) {
                recorded = true;
            } else {
                tracing::error!(device = %enabled.config.path, "audit device failed to write");
            }
        }
        if recorded {
            Ok(())
        } else {
            Err(ApiError::Internal(
                "no audit device could record the request; it was refused".into(),
            ))
        }
    }

    pub async fn enable(
        &self,
        name: &str,
        kind: &str,
        description: String,
        options: BTreeMap<String, String>,
    ) -> Result<(), ApiError> {
        if kind != "file" {
            return Err(ApiError::bad(format!(
                "type: {kind:?} is not supported; use \"file\""
            )));
        }
        let _changing = self.changing.lock().await;
        let path = format!("{}/", name.trim_matches('/'));
        let current = self.snapshot();
        if current.iter().any(|d| d.config.path == path) {
            return Err(ApiError::bad(format!("path already in use: {path}")));
        }
        let key: [u8; 32] = rand::random();
        let config = DeviceConfig {
            path,
            kind: kind.into(),
            description,
            options,
            hmac_key: hex::encode(key),
        };
        target(&config.options)?;
        let enabled = enable_device(config)
            .map_err(|reason| ApiError::bad(format!("cannot open the audit file: {reason}")))?;
        let mut next = (*current).clone();
        next.push(Arc::new(enabled));
        self.store(next).await
    }

    pub async fn disable(&self, name: &str) -> Result<(), ApiError> {
        let _changing = self.changing.lock().await;
        let path = format!("{}/", name.trim_matches('/'));
        let next: Vec<_> = self
            .snapshot()
            .iter()
            .filter(|d| d.config.path != path)
            .cloned()
            .collect();
        self.store(next).await
    }

    async fn store(&self, next: Vec<Arc<Enabled>>) -> Result<(), ApiError> {
        let configs: Vec<&DeviceConfig> = next.iter().map(|d| &d.config).collect();
        self.barrier.put_json(TABLE_KEY, &configs).await?;
        if let Ok(mut devices) = self.devices.write() {
            *devices = Arc::new(next);
        }
        Ok(())
    }

    /// `sys/audit`: the enabled devices, keyed by path.
    pub fn list(&self) -> Map<String, Value> {
        self.snapshot()
            .iter()
            .map(|d| {
                let c = &d.config;
                let listing = json!({
                    "type": c.kind,
                    "description": c.description,
                    "options": c.options,
                    "path": c.path,
                    "local": false,
                });
                (c.path.clone(), listing)
            })
            .collect()
    }

    /// `sys/audit-hash/NAME`: what `input` looks like in that device's log.
    pub fn hash(&self, name: &str, input: &str) -> Option<String> {
        let path = format!("{}/", name.trim_matches('/'));
        self.snapshot()
            .iter()
            .find(|d| d.config.path == path)
            .map(|d| entry::hmac(&d.key, input))
    }

    /// Reopens every file (log rotation); returns the failures.
    pub fn reopen(&self) -> Vec<String> {
        self.snapshot()
            .iter()
            .filter_map(|d| {
                d.device
                    .reopen()
                    .err()
                    .map(|e| format!("{}: {e}", d.config.path))
            })
            .collect()
    }
}
