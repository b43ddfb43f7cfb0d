//! The HTTP edge: actix-web turns requests into core [`Request`]s and core
//! responses into Vault's JSON envelope or `{"errors": [...]}`.
//!
//! [`Request`]: crate::logical::Request

mod forward;
mod handler;
mod status;
mod tls;

use crate::core::Core;
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

/// How the listener is set up.
#[derive(Debug, Clone)]
pub struct ListenerOptions {
    pub max_request_bytes: usize,
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    pub workers: Option<usize>,
}

/// Serves the API on `listener` until the process is asked to stop.
pub async fn serve(
    listener: TcpListener,
    core: Arc<Core>,
    options: ListenerOptions,
) -> std::io::Result<()> {
    let limit = options.max_request_bytes;
    let core = web::Data::from(core);
    let forwarder = web::Data::new(forward::Forwarder::new(options.tls_cert_file.as_deref())?);
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(core.clone())
            .app_data(forwarder.clone())
            .app_data(web::Data::new(handler::BodyLimit(limit)))
            .default_service(web::to(handler::handle))
    });
    if let Some(workers) = options.workers {
        server = server.workers(workers);
    }
    let server = match (&options.tls_cert_file, &options.tls_key_file) {
        (Some(cert), Some(key)) => {
            let config = tls::server_config(cert, key)?;
            server.listen_rustls_0_23(listener, config)?
        }
        _ => server.listen(listener)?,
    };
    server.run().await
}
