//! Audit devices: every request and every response, one JSON line each, on
//! every enabled device, with secrets replaced by per-device HMACs and each
//! line chained to the one before it. Fail-closed: when devices are enabled
//! and none can record a request, the request is refused, not served
//! unrecorded.
//!
//! The device table is stored (encrypted) at `core/audit`, with each
//! device's HMAC key and chain key; each device's chain head at
//! `core/audit-head/NAME` (see [`chain`]).

pub mod chain;
pub mod device;
pub mod entry;
pub mod options;
pub mod verify;

use crate::barrier::{Barrier, Write};
use crate::error::ApiError;
use device::{Device, Target};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

const TABLE_KEY: &str = "core/audit";
const HEAD_PREFIX: &str = "core/audit-head/";
/// How often, at most, a device's head is stored while lines are written
/// (besides rotation, sealing and shutdown, which always store it).
const HEAD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

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
    /// The key of the line chain (hex); devices enabled before keyed
    /// chains get one at the next unseal.
    #[serde(default)]
    chain_key: String,
}

impl DeviceConfig {
    fn head_key(&self) -> String {
        format!("{HEAD_PREFIX}{}", self.path.trim_end_matches('/'))
    }
}

struct Enabled {
    config: DeviceConfig,
    options: options::DeviceOptions,
    key: Zeroizing<Vec<u8>>,
    device: Device,
    /// When the head was last stored.
    stored_at: std::sync::Mutex<std::time::Instant>,
}

/// What `qm audit verify` needs from the server (`sys/audit-chain/NAME`).
pub struct ChainInfo {
    pub key_hex: Zeroizing<String>,
    pub head: chain::Head,
    pub file_path: String,
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

fn chain_key(config: &DeviceConfig) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(hex::decode(&config.chain_key).unwrap_or_default())
}

fn enable_device(config: DeviceConfig, head: Option<&chain::Head>) -> Result<Enabled, String> {
    let key = hex::decode(&config.hmac_key).map_err(|_| "the HMAC key is corrupt".to_string())?;
    if hex::decode(&config.chain_key).map_or(true, |k| k.is_empty()) {
        return Err("the chain key is corrupt".into());
    }
    let target = target(&config.options).map_err(|e| e.to_string())?;
    // Checked strictly when a device is enabled; a device stored before the
    // options were checked keeps working with the safe defaults.
    let options = options::parse(&config.options).unwrap_or_else(|e| {
        tracing::warn!(device = %config.path, error = %e, "audit device options ignored; writing with the defaults");
        options::DeviceOptions::SAFE
    });
    let device =
        Device::open(target.clone(), chain_key(&config), head).map_err(|e| e.to_string())?;
    if let (Target::File(path), Some(mode)) = (&target, options.mode) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("setting the mode of {}: {e}", path.display()))?;
    }
    Ok(Enabled {
        config,
        options,
        key: Zeroizing::new(key),
        device,
        stored_at: std::sync::Mutex::new(std::time::Instant::now()),
    })
}

impl AuditBroker {
    /// Opens every stored device. A device that cannot open stays enabled
    /// and failing (so fail-closed holds) until a SIGHUP reopens it.
    pub async fn load(barrier: Arc<Barrier>) -> Result<Self, ApiError> {
        let mut configs = barrier
            .get_json::<Vec<DeviceConfig>>(TABLE_KEY)
            .await?
            .unwrap_or_default();
        // Devices from before keyed chains: a chain key now, and from the
        // next line on the chain is keyed (its first keyed link covers the
        // unkeyed lines before it).
        let mut keyed_now = false;
        for config in configs.iter_mut().filter(|c| c.chain_key.is_empty()) {
            config.chain_key = hex::encode(rand::random::<[u8; 32]>());
            keyed_now = true;
        }
        if keyed_now {
            barrier.put_json(TABLE_KEY, &configs).await?;
        }
        let mut devices = Vec::new();
        for config in configs {
            let head = barrier.get_json::<chain::Head>(&config.head_key()).await?;
            let enabled = match enable_device(config.clone(), head.as_ref()) {
                Ok(enabled) => enabled,
                Err(reason) => {
                    tracing::error!(device = %config.path, %reason, "audit device cannot open; requests fail until it can");
                    Enabled {
                        key: Zeroizing::new(hex::decode(&config.hmac_key).unwrap_or_default()),
                        device: Device::closed(
                            target(&config.options)?,
                            chain_key(&config),
                            head.as_ref(),
                        ),
                        options: options::parse(&config.options)
                            .unwrap_or(options::DeviceOptions::SAFE),
                        config,
                        stored_at: std::sync::Mutex::new(std::time::Instant::now()),
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
            if enabled
                .device
                .append(entry::hashed(&enabled.key, entry, &enabled.options))
            {
                recorded = true;
                self.store_head_now_and_then(enabled);
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

    /// Stores the device's head if it was not stored for a while: without
    /// waiting for the disk (the next durable write of anyone covers it),
    /// at most once per `HEAD_EVERY`, so the request path stays cheap.
    fn store_head_now_and_then(&self, enabled: &Enabled) {
        let Ok(mut stored_at) = enabled.stored_at.try_lock() else {
            return;
        };
        if stored_at.elapsed() < HEAD_EVERY {
            return;
        }
        *stored_at = std::time::Instant::now();
        let head = enabled.device.head();
        let write = Write::json(enabled.config.head_key(), &head);
        if let Err(e) = self.barrier.write_relaxed(vec![write]) {
            tracing::warn!(device = %enabled.config.path, error = %e, "could not store the audit chain head");
        }
    }

    /// Stores every device's head durably (rotation, seal, shutdown).
    pub async fn store_heads(&self) -> Result<(), ApiError> {
        let writes: Vec<Write> = self
            .snapshot()
            .iter()
            .map(|d| Write::json(d.config.head_key(), &d.device.head()))
            .collect();
        if !writes.is_empty() {
            self.barrier.write(writes).await?;
        }
        Ok(())
    }

    /// `sys/audit-chain/NAME`: the chain key and head of a device, for
    /// `qm audit verify`.
    pub fn chain(&self, name: &str) -> Option<ChainInfo> {
        let path = format!("{}/", name.trim_matches('/'));
        self.snapshot()
            .iter()
            .find(|d| d.config.path == path)
            .map(|d| ChainInfo {
                key_hex: Zeroizing::new(d.config.chain_key.clone()),
                head: d.device.head(),
                file_path: d
                    .config
                    .options
                    .get("file_path")
                    .cloned()
                    .unwrap_or_default(),
            })
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
            chain_key: hex::encode(rand::random::<[u8; 32]>()),
        };
        target(&config.options)?;
        options::parse(&config.options)?;
        // A name used before starts a new chain, not the old device's.
        self.barrier.delete(&config.head_key()).await?;
        let enabled = enable_device(config, None)
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
        let mut writes = vec![Write::json(TABLE_KEY, &configs)];
        for gone in self
            .snapshot()
            .iter()
            .filter(|d| !next.iter().any(|n| n.config.path == d.config.path))
        {
            writes.push(Write::Delete(gone.config.head_key()));
        }
        self.barrier.write(writes).await?;
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
