//! `qm server`: run from a config file, or `--dev` for a throwaway,
//! unsealed, in-memory-like server with a printed root token.

use crate::barrier::autoseal::{AutoSeal, AwsKmsSeal, StaticSeal};
use crate::barrier::seal::SealKind;
use crate::barrier::Barrier;
use crate::clock::SystemClock;
use crate::config::{Config, LogFormat, SealSection, StorageConfig, StorageKind};
use crate::core::ha::HaNode;
use crate::core::{Core, Seals, Settings};
use crate::http::{serve, ListenerOptions, ListenerTls};
use crate::storage::{PostgresStorage, SledStorage, Storage};
use clap::Args;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Args)]
pub(crate) struct ServerArgs {
    /// The TOML config file (see config/server.toml).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Start unsealed on temporary storage with a root token. Never for production.
    #[arg(long)]
    dev: bool,
    /// Dev mode: the root token's id.
    #[arg(long, env = "QM_DEV_ROOT_TOKEN_ID")]
    dev_root_token_id: Option<String>,
    /// Dev mode: where to listen.
    #[arg(long, default_value = "127.0.0.1:8200")]
    dev_listen_address: String,
}

fn init_logging(level: &str, format: LogFormat) {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| level.to_string());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_target(false);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Standard => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .try_init(),
    };
}

pub(crate) fn run(args: ServerArgs) -> i32 {
    match (args.dev, &args.config) {
        (true, _) => run_dev(args),
        (false, Some(path)) => match Config::load(path) {
            Ok(config) => run_config(config),
            Err(e) => {
                eprintln!("Error loading configuration: {e}");
                super::EXIT_LOCAL_ERROR
            }
        },
        (false, None) => {
            eprintln!("Error: give --config FILE (see config/server.toml), or --dev to try it out");
            super::EXIT_LOCAL_ERROR
        }
    }
}

fn bind(address: &str) -> Result<TcpListener, i32> {
    TcpListener::bind(address).map_err(|e| {
        eprintln!("Error listening on {address}: {e}");
        super::EXIT_LOCAL_ERROR
    })
}

/// The runtime for expiry, retries and bulk revocation, apart from the HTTP workers.
fn background_runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("qm-background")
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("Error starting the background runtime: {e}");
            super::EXIT_LOCAL_ERROR
        })
}

fn run_dev(args: ServerArgs) -> i32 {
    let format = match std::env::var("QM_LOG_FORMAT").as_deref() {
        Ok("json") => LogFormat::Json,
        _ => LogFormat::Standard,
    };
    init_logging(
        &std::env::var("QM_LOG_LEVEL").unwrap_or_else(|_| "info".into()),
        format,
    );
    let listener = match bind(&args.dev_listen_address) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Kept out of the async block: a runtime must not be dropped inside one.
    let background = match background_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let background_handle = background.handle().clone();
    actix_web::rt::System::new().block_on(async move {
        let storage: Arc<dyn Storage> = match SledStorage::temporary() {
            Ok(s) => Arc::new(s),
            Err(e) => {
                eprintln!("Error opening dev storage: {e}");
                return super::EXIT_LOCAL_ERROR;
            }
        };
        let clock = Arc::new(SystemClock);
        let core = Arc::new(Core::new(
            Barrier::new(storage, clock.clone()),
            clock,
            Settings::default(),
        ));
        core.start_background(background_handle);
        on_sighup(Arc::clone(&core), None);
        let init = match core.dev_setup(args.dev_root_token_id).await {
            Ok(init) => init,
            Err(e) => {
                eprintln!("Error setting up dev mode: {e}");
                return super::EXIT_LOCAL_ERROR;
            }
        };
        let unseal_key = init
            .keys
            .first()
            .map(|k| {
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, k.as_slice())
            })
            .unwrap_or_default();
        println!("==> Quartermaster server configuration:\n");
        println!("             Api Address: http://{address}");
        println!("             Web console: http://{address}/ui/");
        println!("                 Storage: sled (temporary, dev mode)");
        println!("                 Version: {}\n", env!("CARGO_PKG_VERSION"));
        println!("WARNING! dev mode is enabled! Quartermaster runs unsealed on temporary");
        println!("storage that is deleted on exit, with the root token printed below.");
        println!("Never use dev mode in production.\n");
        println!("You may need to set the following environment variables:\n");
        println!("    $ export QM_ADDR='http://{address}'");
        println!("    $ export VAULT_ADDR='http://{address}'\n");
        println!("Unseal Key: {unseal_key}");
        println!("Root Token: {}\n", init.root_token.as_str());
        println!("==> Quartermaster server started! Log data will stream in below:\n");
        drop(init);
        let options = ListenerOptions {
            max_request_bytes: 32 * 1024 * 1024,
            tls: None,
            workers: None,
            ui: true,
        };
        let served = serve(listener, Arc::clone(&core), options).await;
        // Stopped (SIGTERM/SIGINT): the drift baselines and the audit chain
        // heads are stored last.
        core.store_before_stop().await;
        finish(served)
    })
}

/// The configured store, how the banner names it (a URL without its
/// password), and for PostgreSQL the store itself, for leadership.
struct OpenedStorage {
    storage: Arc<dyn Storage>,
    name: String,
    cluster: Option<Arc<PostgresStorage>>,
}

fn open_storage(config: &StorageConfig) -> Result<OpenedStorage, String> {
    match config.kind {
        StorageKind::Sled => {
            let path = config
                .path
                .as_deref()
                .ok_or("storage.path: required for sled storage")?;
            std::fs::create_dir_all(path)
                .map_err(|e| format!("creating storage.path {}: {e}", path.display()))?;
            let store = SledStorage::open(path).map_err(|e| format!("opening storage: {e}"))?;
            Ok(OpenedStorage {
                storage: Arc::new(store),
                name: format!("sled at {}", path.display()),
                cluster: None,
            })
        }
        StorageKind::Postgresql => {
            let url = config
                .connection_url
                .as_ref()
                .ok_or("storage.connection_url: required for postgresql storage")?;
            if !config.ha_enabled {
                tracing::info!(
                    "storage.ha_enabled is false, but on postgresql storage this node still \
                     takes leadership before it writes: a second node on the same database \
                     is a standby, never a second writer"
                );
            }
            let store = Arc::new(
                PostgresStorage::connect_fenced(url)
                    .map_err(|e| format!("opening storage: {}", url.scrub(&e.to_string())))?,
            );
            Ok(OpenedStorage {
                storage: Arc::clone(&store) as Arc<dyn Storage>,
                name: format!("postgresql at {}", url.redacted()),
                cluster: Some(store),
            })
        }
    }
}

fn run_config(config: Config) -> i32 {
    init_logging(&config.log_level, config.log_format);
    if !config.ignored_settings.is_empty() {
        tracing::warn!(
            settings = %config.ignored_settings.join(", "),
            "the config sets Vault settings that have no effect here"
        );
    }
    let OpenedStorage {
        storage,
        name: storage_name,
        cluster,
    } = match open_storage(&config.storage) {
        Ok(opened) => opened,
        Err(e) => {
            eprintln!("Error: {e}");
            return super::EXIT_LOCAL_ERROR;
        }
    };
    let listener = match bind(&config.listener.address) {
        Ok(l) => l,
        Err(code) => return code,
    };
    let address = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    // Read before the banner, so a bad file stops the start with its name.
    let tls = match config
        .listener
        .tls()
        .map(|t| ListenerTls::load(&t))
        .transpose()
    {
        Ok(tls) => tls,
        Err(e) => {
            eprintln!("Error loading the listener's TLS files: {e}");
            return super::EXIT_LOCAL_ERROR;
        }
    };
    let (default_lease_ttl, max_lease_ttl) = config.lease_ttls();
    let settings = Settings {
        default_lease_ttl,
        max_lease_ttl,
        seal_kind: config.seal.kind,
        cluster_name: config.cluster_name.clone(),
        nhi: config.nhi.clone(),
        unauthenticated_metrics: config.listener.telemetry.unauthenticated_metrics_access,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let api_addr = config
        .api_addr
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{address}"));
    let lock_ttl = config.storage.ha_lock_ttl();
    // Kept out of the async block: a runtime must not be dropped inside one.
    let background = match background_runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    let background_handle = background.handle().clone();
    actix_web::rt::System::new().block_on(async move {
        let seals = match open_seals(&config).await {
            Ok(seals) => seals,
            Err(e) => {
                eprintln!("Error setting up the seal: {e}");
                return super::EXIT_LOCAL_ERROR;
            }
        };
        let clock = Arc::new(SystemClock);
        let mut core =
            Core::new(Barrier::new(storage, clock.clone()), clock, settings).with_seals(seals);
        if let Some(cluster) = cluster {
            core = core.with_ha(HaNode::new(cluster, api_addr.clone(), lock_ttl));
        }
        let core = Arc::new(core);
        core.start_background(background_handle.clone());
        core.start_ha(background_handle);
        on_sighup(Arc::clone(&core), tls.clone());
        let stored_seal = core.seal_config().await.ok().flatten();
        let initialized = stored_seal.is_some();
        if let Some(stored) = &stored_seal {
            match core.seal_migration(stored) {
                Ok(None) if stored.kind.is_auto() => core.start_auto_unseal(),
                Ok(None) => {}
                Ok(Some(_)) => tracing::warn!(
                    stored = stored.kind.as_str(),
                    configured = config.seal.kind.as_str(),
                    "seal migration pending: unseal with -migrate (see README, Operating it)"
                ),
                Err(e) => tracing::error!(error = %e, "the configured seal cannot open this store"),
            }
        }
        println!("==> Quartermaster server configuration:\n");
        println!("             Api Address: {api_addr}");
        println!("                 Storage: {storage_name}");
        println!("              HA Enabled: {}", core.ha().is_some());
        println!("                    Seal: {}", config.seal.kind.as_str());
        println!("             Initialized: {initialized}");
        println!("                 Version: {}\n", env!("CARGO_PKG_VERSION"));
        println!("==> Quartermaster server started (sealed)! Log data will stream in below:\n");
        let options = ListenerOptions {
            max_request_bytes: config.listener.max_request_bytes,
            tls,
            workers: config.listener.workers,
            ui: config.ui,
        };
        super::systemd::ready(Arc::clone(&core));
        let served = serve(listener, Arc::clone(&core), options).await;
        // Stopped (SIGTERM/SIGINT): the drift baselines and the audit chain
        // heads are stored, then leadership is handed over at once rather
        // than left to lapse.
        super::systemd::stopping();
        core.store_before_stop().await;
        core.hand_over("shutting down").await;
        finish(served)
    })
}

/// The auto seals the config names: `[seal]` if it is one, and
/// `[previous_seal]` (for a migration away from one).
async fn open_seals(config: &Config) -> Result<Seals, String> {
    Ok(Seals {
        current: open_auto_seal(&config.seal).await?,
        previous: match &config.previous_seal {
            Some(previous) => open_auto_seal(previous).await?,
            None => None,
        },
    })
}

async fn open_auto_seal(section: &SealSection) -> Result<Option<Arc<dyn AutoSeal>>, String> {
    let seal: Arc<dyn AutoSeal> = match section.kind {
        SealKind::Shamir | SealKind::Passphrase => return Ok(None),
        SealKind::Static => Arc::new(
            StaticSeal::load(
                section.current_key_id.as_deref().unwrap_or_default(),
                section.current_key.as_deref().unwrap_or_default(),
            )
            .map_err(|e| e.to_string())?,
        ),
        SealKind::Awskms => Arc::new(
            AwsKmsSeal::connect(
                section.kms_key_id.as_deref().unwrap_or_default(),
                section.region.as_deref(),
                section.endpoint.as_deref(),
            )
            .await
            .map_err(|e| e.to_string())?,
        ),
    };
    Ok(Some(seal))
}

/// SIGHUP, as in Vault: the listener's certificate and key are read again
/// (sealed or not: they are not in the barrier), and every audit file is
/// reopened for log rotation.
fn on_sighup(core: Arc<Core>, tls: Option<Arc<ListenerTls>>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hangups) = signal(SignalKind::hangup()) else {
        tracing::warn!(
            "cannot listen for SIGHUP; audit files will not be reopened on rotation, \
             nor the listener certificate reloaded"
        );
        return;
    };
    actix_web::rt::spawn(async move {
        while hangups.recv().await.is_some() {
            if let Some(tls) = &tls {
                reload_tls(tls);
            }
            let Ok(active) = core.active() else { continue };
            let failures = active.audit.reopen();
            core.store_audit_heads().await;
            if failures.is_empty() {
                tracing::info!("SIGHUP: audit files reopened");
            }
            for failure in failures {
                tracing::error!(%failure, "SIGHUP: an audit file could not be reopened");
            }
        }
    });
}

fn reload_tls(tls: &ListenerTls) {
    match tls.reload() {
        Ok(()) => tracing::info!("SIGHUP: listener certificate reloaded"),
        Err(e) => tracing::error!(
            error = %e,
            "SIGHUP: the listener certificate was not reloaded; still serving the previous one"
        ),
    }
}

fn finish(result: std::io::Result<()>) -> i32 {
    match result {
        Ok(()) => super::EXIT_OK,
        Err(e) => {
            eprintln!("Error serving: {e}");
            super::EXIT_LOCAL_ERROR
        }
    }
}
