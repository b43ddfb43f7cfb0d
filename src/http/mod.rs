//! The HTTP edge: actix-web turns requests into core [`Request`]s and core
//! responses into Vault's JSON envelope or `{"errors": [...]}`.
//!
//! [`Request`]: crate::logical::Request

mod forward;
mod handler;
mod status;
mod tls;
mod ui;

use crate::core::Core;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::sync::Arc;

pub use tls::{ListenerTls, MinVersion, TlsSettings};

/// How the listener is set up.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    pub max_request_bytes: usize,
    /// HTTPS when set; the same state the SIGHUP handler reloads.
    pub tls: Option<Arc<ListenerTls>>,
    pub workers: Option<usize>,
    /// Serve the web console at `/ui/`.
    pub ui: bool,
}

/// Serves the API on `listener` until the process is asked to stop.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    options: ListenerOptions,
) -> std::io::Result<()> {
    let limit = options.max_request_bytes;
    let console = options.ui;
    let core = web::Data::from(core);
    let own_chain = options
        .tls
        .as_ref()
        .map(|tls| tls.chain())
        .unwrap_or_default();
    let forwarder = web::Data::new(forward::Forwarder::new(&own_chain)?);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(core.clone())
            .app_data(forwarder.clone())
            .app_data(web::Data::new(handler::BodyLimit(limit)))
            .configure(|config| {
                if console {
                    ui::routes(config);
                }
            })
            .default_service(web::to(handler::handle))
    });
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    let server = match &options.tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls.server_config())?,
        None => server.listen(listener)?,
    };
    server.run().await
}
