//! Connecting to PostgreSQL as libpq would: a connection string (URL or
//! key/value pairs) with libpq's TLS parameters, turned into a tokio-postgres
//! config and a rustls connector. The storage backend and the database
//! engine's PostgreSQL driver both connect through it, so both accept the
//! same `sslmode`, `sslrootcert`, `sslcert` and `sslkey`, and neither ever
//! prints the string's password.
//!
//! ```no_run
//! use qm_pg_connect::ConnectionUrl;
//! # async fn demo() -> Result<(), String> {
//! let url = ConnectionUrl::from(
//!     "postgresql://qm:pw@db.internal/qm?sslmode=verify-full&sslrootcert=/etc/qm/pg-ca.pem".to_string(),
//! );
//! let settings = url.parse()?;
//! let connector = settings.tls.connector()?;
//! let (client, connection) = settings.config.connect(connector).await
//!     .map_err(|e| url.scrub(&qm_pg_connect::error_chain(&e)))?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - `url`: the connection string and what it means ([`ConnectionUrl::parse`]).
//! - `redact`: what may be shown of it (`Debug`, [`ConnectionUrl::redacted`], [`ConnectionUrl::scrub`]).
//! - `dsn`: the key/value form's grammar.
//! - `error`: a driver error with its causes ([`error_chain`]).
//! - `params`: the TLS parameters, taken out of either form ([`TlsSettings`]).
//! - `tls`: the rustls connector for a [`TlsSettings`], and libpq's `sslmode` table.
//! - `verify`: the server-certificate verifier behind each `sslmode`.
//! - `pem`: reading the CA, certificate and key files.

mod dsn;
mod error;
mod params;
mod pem;
mod redact;
mod tls;
mod url;
mod verify;

pub use error::error_chain;
pub use params::{ClientCertFiles, SslMode, TlsSettings};
pub use tokio_postgres_rustls::MakeRustlsConnect;
pub use url::{ConnectionSettings, ConnectionUrl};
