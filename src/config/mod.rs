//! The server configuration: a TOML file (see `config/server.toml`), with a
//! few environment overrides, validated at load with errors that name the key.
//!
//! ```toml
//! [listener]
//! address = "127.0.0.1:8200"
//!
//! [storage]
//! path = "/var/lib/quartermaster"
//! ```
//!
//! or, with the store in PostgreSQL (`QM_STORAGE_URL` overrides the URL, so
//! the password can come from the environment):
//!
//! ```toml
//! [storage]
//! type = "postgresql"
//! connection_url = "postgres://qm@db:5432/qm?sslmode=verify-full&sslrootcert=/etc/qm/ca.pem"
//! ```
//!
//! Several servers on one PostgreSQL database form a cluster: one active,
//! the others standbys that forward to it. `api_addr` is how the others and
//! clients reach this one (default: the listener's address).
//!
//! ```toml
//! api_addr = "http://10.0.0.5:8200"
//! [storage]
//! type = "postgresql"
//! connection_url = "..."
//! ha_enabled = true
//! ha_lock_ttl = "10s"   # how long a stuck active node keeps leadership
//! ```

mod vault_hcl;

use crate::barrier::seal::SealKind;
use crate::duration::parse_seconds;
use crate::http::{MinVersion, TlsSettings};
use crate::storage::ConnectionUrl;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub listener: ListenerConfig,
    pub storage: StorageConfig,
    #[serde(default)]
    pub seal: SealSection,
    /// The seal the store is sealed with now, while migrating away from an
    /// auto seal (`qm operator unseal -migrate`): same fields as `[seal]`.
    pub previous_seal: Option<SealSection>,
    /// `error`, `warn`, `info`, `debug` or `trace`, or a tracing filter.
    #[serde(default = "default_log_level")]
    pub log_level: String,
    /// `standard` (lines for people) or `json` (one object a line, for log
    /// pipelines), as Vault's `log_format`.
    #[serde(default)]
    pub log_format: LogFormat,
    #[serde(default = "default_ttl")]
    pub default_lease_ttl: String,
    #[serde(default = "default_ttl")]
    pub max_lease_ttl: String,
    #[serde(default = "default_cluster_name")]
    pub cluster_name: String,
    /// Serve the web console at `/ui/` (as Vault's `ui`; on in `--dev`).
    #[serde(default)]
    pub ui: bool,
    /// Identity inventory settings: `require_owner`, `risk_weights`.
    #[serde(default)]
    pub nhi: crate::nhi::NhiSettings,
    /// How other nodes and clients reach this node (`http(s)://HOST:PORT`);
    /// standbys forward requests to the active node's. Default: the
    /// listener's address.
    pub api_addr: Option<String>,
    /// Vault settings an HCL config had that have no effect here (named
    /// in a warning at start).
    #[serde(skip)]
    pub ignored_settings: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    #[serde(default = "default_address")]
    pub address: String,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// `tls12` (the default) or `tls13`; read with [`Self::tls_min_version`].
    pub tls_min_version: Option<String>,
    /// PEM CAs: client certificates are requested and, when sent, must
    /// chain to one of them.
    pub tls_client_ca_file: Option<PathBuf>,
    /// With `tls_client_ca_file`: no valid client certificate, no handshake.
    #[serde(default)]
    pub tls_require_and_verify_client_cert: bool,
    /// Vault's switch to never ask for client certificates; here that is
    /// already so without `tls_client_ca_file`, so it only refuses the
    /// client-certificate keys alongside it.
    #[serde(default)]
    pub tls_disable_client_certs: bool,
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// HTTP worker threads; the number of CPU cores when unset.
    pub workers: Option<usize>,
    /// `[listener.telemetry]`, as Vault's listener `telemetry` block.
    #[serde(default)]
    pub telemetry: ListenerTelemetry,
}

/// Metrics settings of a listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerTelemetry {
    /// Serve `sys/metrics` without a token (and while sealed), for a
    /// Prometheus scraper that holds none. Off by default.
    #[serde(default)]
    pub unauthenticated_metrics_access: bool,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        Self {
            address: default_address(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_min_version: None,
            tls_client_ca_file: None,
            tls_require_and_verify_client_cert: false,
            tls_disable_client_certs: false,
            max_request_bytes: default_max_request_bytes(),
            workers: None,
            telemetry: ListenerTelemetry::default(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `sled` (the default) or `postgresql`.
    #[serde(rename = "type", default)]
    pub kind: StorageKind,
    /// sled: the data directory; created if missing.
    pub path: Option<PathBuf>,
    /// postgresql: where the store lives. Holds a password: its `Debug`
    /// and every message show it redacted.
    pub connection_url: Option<ConnectionUrl>,
    /// Vault's switch for high availability. On postgresql storage a node
    /// always takes leadership before it writes (so a second node on the
    /// same database is a standby, never a second writer); with `false`
    /// it says so at start.
    #[serde(default)]
    pub ha_enabled: bool,
    /// How long an active node that stopped answering (paused, cut off)
    /// keeps leadership before a standby takes over (default 10s, at
    /// least 1s). A node that dies or closes its connection is replaced
    /// at once.
    pub ha_lock_ttl: Option<String>,
}

/// Which store holds the data.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    #[default]
    Sled,
    Postgresql,
}

/// How the key-encryption key is held: `shamir` (default), `passphrase`,
/// or an auto seal, `awskms` or `static` (see `barrier::autoseal`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SealSection {
    #[serde(rename = "type", default = "default_seal")]
    pub kind: SealKind,
    /// awskms: the KMS key (id, ARN or alias); `QM_AWSKMS_SEAL_KEY_ID` or
    /// `VAULT_AWSKMS_SEAL_KEY_ID` override it.
    pub kms_key_id: Option<String>,
    /// awskms: the region (default: `AWS_REGION`, then us-east-1).
    pub region: Option<String>,
    /// awskms: the KMS endpoint (default: AWS's; `AWS_KMS_ENDPOINT`).
    pub endpoint: Option<String>,
    /// static: the key's name, recorded with the wrapped key.
    pub current_key_id: Option<String>,
    /// static: where the 32-byte key is, `file://PATH` or `env://VAR`.
    pub current_key: Option<String>,
}

impl Default for SealSection {
    fn default() -> Self {
        Self {
            kind: default_seal(),
            kms_key_id: None,
            region: None,
            endpoint: None,
            current_key_id: None,
            current_key: None,
        }
    }
}

impl SealSection {
    fn validate(&self, table: &str) -> Result<(), String> {
        let has_kms = self.kms_key_id.is_some() || self.region.is_some() || self.endpoint.is_some();
        let has_static = self.current_key_id.is_some() || self.current_key.is_some();
        match self.kind {
            SealKind::Awskms if self.kms_key_id.as_deref().unwrap_or("").is_empty() => Err(
                format!("{table}.kms_key_id: required by the awskms seal (or QM_AWSKMS_SEAL_KEY_ID)"),
            ),
            SealKind::Awskms if has_static => Err(format!(
                "{table}: current_key_id and current_key belong to the static seal, not awskms"
            )),
            SealKind::Static
                if self.current_key_id.is_none() || self.current_key.is_none() =>
            {
                Err(format!(
                    "{table}: the static seal needs current_key_id and current_key (file://PATH or env://VAR)"
                ))
            }
            SealKind::Static if has_kms => Err(format!(
                "{table}: kms_key_id, region and endpoint belong to the awskms seal, not static"
            )),
            SealKind::Shamir | SealKind::Passphrase if has_kms || has_static => Err(format!(
                "{table}: the {} seal takes no key settings",
                self.kind.as_str()
            )),
            _ => Ok(()),
        }
    }
}

fn default_address() -> String {
    "127.0.0.1:8200".into()
}
fn default_max_request_bytes() -> usize {
    32 * 1024 * 1024
}
/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Standard,
    Json,
}

fn default_log_level() -> String {
    "info".into()
}
fn default_ttl() -> String {
    "768h".into()
}
fn default_cluster_name() -> String {
    "quartermaster".into()
}
fn default_seal() -> SealKind {
    SealKind::Shamir
}

impl Config {
    /// Reads, applies `QM_*` environment overrides, and validates.
    /// A file ending in `.hcl` is read as Vault's HCL form (see
    /// `vault_hcl`); anything else as TOML.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
        let invalid = |e: String| format!("invalid config file {}: {e}", path.display());
        let mut config: Config = if path.extension().is_some_and(|e| e == "hcl") {
            let (shape, ignored) = vault_hcl::translate(&text).map_err(invalid)?;
            let mut config: Config =
                serde_json::from_value(shape).map_err(|e| invalid(e.to_string()))?;
            config.ignored_settings = ignored;
            config
        } else {
            toml::from_str(&text).map_err(|e| invalid(e.to_string()))?
        };
        if let Ok(address) = std::env::var("QM_LISTEN_ADDRESS") {
            config.listener.address = address;
        }
        if let Ok(storage) = std::env::var("QM_STORAGE_PATH") {
            config.storage.path = Some(PathBuf::from(storage));
        }
        if let Ok(url) = std::env::var("QM_STORAGE_URL") {
            config.storage.connection_url = Some(ConnectionUrl::from(url));
        }
        if let Ok(addr) = std::env::var("QM_API_ADDR") {
            config.api_addr = Some(addr);
        }
        if let Ok(level) = std::env::var("QM_LOG_LEVEL") {
            config.log_level = level;
        }
        if let Ok(format) = std::env::var("QM_LOG_FORMAT") {
            config.log_format = match format.as_str() {
                "json" => LogFormat::Json,
                "standard" => LogFormat::Standard,
                other => return Err(format!("QM_LOG_FORMAT: {other:?} is not standard or json")),
            };
        }
        if config.seal.kind == SealKind::Awskms {
            if let Ok(key) = std::env::var("QM_AWSKMS_SEAL_KEY_ID")
                .or_else(|_| std::env::var("AWSKMS_WRAPPER_KEY_ID"))
                .or_else(|_| std::env::var("VAULT_AWSKMS_SEAL_KEY_ID"))
            {
                config.seal.kms_key_id = Some(key);
            }
            if config.seal.endpoint.is_none() {
                config.seal.endpoint = std::env::var("AWS_KMS_ENDPOINT").ok();
            }
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), String> {
        self.listener.address.parse::<SocketAddr>().map_err(|_| {
            format!(
                "listener.address: {:?} is not HOST:PORT",
                self.listener.address
            )
        })?;
        match (&self.listener.tls_cert_file, &self.listener.tls_key_file) {
            (Some(_), None) => {
                return Err("listener.tls_key_file: required when tls_cert_file is set".into())
            }
            (None, Some(_)) => {
                return Err("listener.tls_cert_file: required when tls_key_file is set".into())
            }
            _ => {}
        }
        self.listener.validate_tls()?;
        if self.listener.max_request_bytes == 0 {
            return Err("listener.max_request_bytes: must be greater than zero".into());
        }
        if self.listener.workers == Some(0) {
            return Err("listener.workers: must be at least 1".into());
        }
        self.storage.validate()?;
        self.seal.validate("seal")?;
        if let Some(previous) = &self.previous_seal {
            previous.validate("previous_seal")?;
            if !previous.kind.is_auto() {
                return Err(
                    "previous_seal: only needed to migrate away from an auto seal (awskms, static)"
                        .into(),
                );
            }
        }
        if let Some(addr) = &self.api_addr {
            if !(addr.starts_with("http://") || addr.starts_with("https://")) {
                return Err(format!(
                    "api_addr: {addr:?} must be an http:// or https:// URL"
                ));
            }
        }
        let default_ttl = parse_seconds(&self.default_lease_ttl)
            .map_err(|e| format!("default_lease_ttl: {e}"))?;
        let max_ttl =
            parse_seconds(&self.max_lease_ttl).map_err(|e| format!("max_lease_ttl: {e}"))?;
        if default_ttl > max_ttl {
            return Err("default_lease_ttl: must not exceed max_lease_ttl".into());
        }
        Ok(())
    }

    /// Lease limits in seconds (validated at load).
    pub fn lease_ttls(&self) -> (i64, i64) {
        (
            parse_seconds(&self.default_lease_ttl).unwrap_or(0),
            parse_seconds(&self.max_lease_ttl).unwrap_or(0),
        )
    }
}

impl ListenerConfig {
    /// The lowest TLS version (validated at load).
    pub fn tls_min_version(&self) -> MinVersion {
        self.tls_min_version
            .as_deref()
            .and_then(|v| parse_min_version(v).ok())
            .unwrap_or_default()
    }

    /// The TLS settings, when the listener serves HTTPS.
    pub fn tls(&self) -> Option<TlsSettings> {
        Some(TlsSettings {
            cert_file: self.tls_cert_file.clone()?,
            key_file: self.tls_key_file.clone()?,
            min_version: self.tls_min_version(),
            client_ca_file: self.tls_client_ca_file.clone(),
            require_client_cert: self.tls_require_and_verify_client_cert,
        })
    }

    fn validate_tls(&self) -> Result<(), String> {
        if let Some(version) = &self.tls_min_version {
            parse_min_version(version).map_err(|e| format!("listener.tls_min_version: {e}"))?;
        }
        if self.tls_disable_client_certs {
            if self.tls_require_and_verify_client_cert {
                return Err(
                    "listener.tls_disable_client_certs: cannot be combined with \
                            tls_require_and_verify_client_cert"
                        .into(),
                );
            }
            if self.tls_client_ca_file.is_some() {
                return Err(
                    "listener.tls_disable_client_certs: cannot be combined with tls_client_ca_file"
                        .into(),
                );
            }
        }
        if self.tls_require_and_verify_client_cert && self.tls_client_ca_file.is_none() {
            return Err(
                "listener.tls_require_and_verify_client_cert: needs tls_client_ca_file \
                        (the CA client certificates must chain to)"
                    .into(),
            );
        }
        if self.tls_client_ca_file.is_some() && self.tls_cert_file.is_none() {
            return Err(
                "listener.tls_client_ca_file: needs tls_cert_file and tls_key_file (HTTPS)".into(),
            );
        }
        Ok(())
    }
}

/// Vault's spellings; rustls has no TLS 1.0 or 1.1, so those are refused
/// rather than quietly raised (Vault accepts them).
fn parse_min_version(version: &str) -> Result<MinVersion, String> {
    match version {
        "tls12" => Ok(MinVersion::Tls12),
        "tls13" => Ok(MinVersion::Tls13),
        "tls10" | "tls11" => Err(format!(
            "{version:?} is not supported: rustls speaks only TLS 1.2 and 1.3 \
             (use \"tls12\" or \"tls13\")"
        )),
        other => Err(format!("{other:?} is not one of \"tls12\", \"tls13\"")),
    }
}

impl StorageConfig {
    /// The leadership lease's TTL (validated at load).
    pub fn ha_lock_ttl(&self) -> std::time::Duration {
        let seconds = self
            .ha_lock_ttl
            .as_deref()
            .and_then(|ttl| parse_seconds(ttl).ok())
            .unwrap_or(10);
        std::time::Duration::from_secs(u64::try_from(seconds).unwrap_or(10))
    }

    fn validate(&self) -> Result<(), String> {
        if let Some(ttl) = &self.ha_lock_ttl {
            let seconds = parse_seconds(ttl).map_err(|e| format!("storage.ha_lock_ttl: {e}"))?;
            if !(1..=3600).contains(&seconds) {
                return Err("storage.ha_lock_ttl: must be between 1s and 1h".into());
            }
        }
        match self.kind {
            StorageKind::Sled => match &self.path {
                Some(path) if !path.as_os_str().is_empty() => Ok(()),
                _ => Err("storage.path: required (and not empty) for sled storage".into()),
            },
            StorageKind::Postgresql => match &self.connection_url {
                Some(url) => url
                    .parse()
                    .map(|_| ())
                    .map_err(|e| format!("storage.connection_url: {e}")),
                None => Err(
                    "storage.connection_url: required for postgresql storage (or set QM_STORAGE_URL)"
                        .into(),
                ),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Config, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("server.toml");
        std::fs::write(&path, text).map_err(|e| e.to_string())?;
        Config::load(&path)
    }

    #[test]
    fn minimal_config_gets_defaults() {
        let config = load_text("[storage]\npath = \"/tmp/qm\"\n").unwrap();
        assert_eq!(config.listener.address, "127.0.0.1:8200");
        assert_eq!(config.seal.kind, SealKind::Shamir);
        assert_eq!(config.lease_ttls(), (768 * 3600, 768 * 3600));
    }

    #[test]
    fn the_shipped_example_loads_with_its_telemetry_lines_turned_on() {
        let example = include_str!("../../config/server.toml");
        let config = load_text(example).unwrap();
        assert!(!config.listener.telemetry.unauthenticated_metrics_access);
        let opened = example
            .replace("# [listener.telemetry]", "[listener.telemetry]")
            .replace(
                "# unauthenticated_metrics_access = true",
                "unauthenticated_metrics_access = true",
            );
        let config = load_text(&opened).unwrap();
        assert!(config.listener.telemetry.unauthenticated_metrics_access);
        let err = load_text(&opened.replace("unauthenticated_metrics_access", "open_metrics"))
            .unwrap_err();
        assert!(err.contains("open_metrics"), "{err}");
    }

    #[test]
    fn errors_name_the_bad_key() {
        let err =
            load_text("[storage]\npath = \"/tmp/qm\"\n[listener]\nadress = \"x\"\n").unwrap_err();
        assert!(err.contains("adress"), "{err}");
        let err = load_text("[storage]\npath = \"/tmp/qm\"\n[listener]\naddress = \"nope\"\n")
            .unwrap_err();
        assert!(err.contains("listener.address"), "{err}");
        let err = load_text("[listener]\naddress = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(err.contains("storage"), "{err}");
        let err =
            load_text("[storage]\npath = \"/tmp/qm\"\n[listener]\ntls_cert_file = \"c.pem\"\n")
                .unwrap_err();
        assert!(err.contains("tls_key_file"), "{err}");
        let err = load_text(
            "max_lease_ttl = \"1h\"\ndefault_lease_ttl = \"2h\"\n[storage]\npath = \"/x\"\n",
        )
        .unwrap_err();
        assert!(err.contains("default_lease_ttl"), "{err}");
    }

    #[test]
    fn tls_listener_keys_are_checked() {
        let tls =
            "[storage]\npath = \"/x\"\n[listener]\ntls_cert_file = \"c\"\ntls_key_file = \"k\"\n";
        let config = load_text(tls).unwrap();
        assert_eq!(config.listener.tls_min_version(), MinVersion::Tls12);
        let config = load_text(&format!("{tls}tls_min_version = \"tls13\"\n")).unwrap();
        assert_eq!(config.listener.tls_min_version(), MinVersion::Tls13);
        let err = load_text(&format!("{tls}tls_min_version = \"tls10\"\n")).unwrap_err();
        assert!(
            err.contains("listener.tls_min_version") && err.contains("rustls"),
            "{err}"
        );
        let err = load_text(&format!("{tls}tls_min_version = \"ssl3\"\n")).unwrap_err();
        assert!(err.contains("listener.tls_min_version"), "{err}");
        let err =
            load_text(&format!("{tls}tls_require_and_verify_client_cert = true\n")).unwrap_err();
        assert!(
            err.contains("listener.tls_require_and_verify_client_cert"),
            "{err}"
        );
        let config = load_text(&format!(
            "{tls}tls_client_ca_file = \"ca\"\ntls_require_and_verify_client_cert = true\n"
        ))
        .unwrap();
        assert!(config.listener.tls().is_some_and(|t| t.require_client_cert));
        let err = load_text(&format!(
            "{tls}tls_client_ca_file = \"ca\"\ntls_disable_client_certs = true\n"
        ))
        .unwrap_err();
        assert!(err.contains("listener.tls_disable_client_certs"), "{err}");
        let err = load_text("[storage]\npath = \"/x\"\n[listener]\ntls_client_ca_file = \"ca\"\n")
            .unwrap_err();
        assert!(err.contains("listener.tls_client_ca_file"), "{err}");
    }

    #[test]
    fn postgresql_storage_needs_a_valid_url_and_never_shows_its_password() {
        let config = load_text(
            "[storage]\ntype = \"postgresql\"\nconnection_url = \"postgres://qm:hunter2@db/qm?sslmode=require\"\nha_enabled = true\n",
        )
        .unwrap();
        assert_eq!(config.storage.kind, StorageKind::Postgresql);
        assert!(config.storage.ha_enabled);
        assert!(config.storage.path.is_none());
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("postgres://qm:***@db/qm"), "{debug}");

        let err = load_text("[storage]\ntype = \"postgresql\"\n").unwrap_err();
        assert!(err.contains("storage.connection_url"), "{err}");
        let err = load_text(
            "[storage]\ntype = \"postgresql\"\nconnection_url = \"postgres://qm:hunter2@db/qm?sslmode=bogus\"\n",
        )
        .unwrap_err();
        assert!(err.contains("sslmode") && !err.contains("hunter2"), "{err}");
        let err = load_text("[storage]\ntype = \"sled\"\n").unwrap_err();
        assert!(err.contains("storage.path"), "{err}");
        let err = load_text("[storage]\ntype = \"etcd\"\npath = \"/x\"\n").unwrap_err();
        assert!(err.contains("etcd"), "{err}");
    }
}
