//! Quartermaster: a secrets broker for machine identities. It keeps secrets
//! in an encrypted embedded store, hands out leased credentials, and speaks
//! the Vault/OpenBao HTTP API so existing clients work unchanged.
//!
//! # Layout (top to bottom; arrows point down only)
//! - [`cli`]: the `qm` command line (server, and a client for the API).
//! - [`http`]: actix-web edge: Vault's wire format.
//! - [`core`]: the pipeline (authenticate, authorize, route, audit), and what
//!   only the core serves: `sys/`, `auth/token/`, logins, wrapping, lifecycle.
//! - [`nhi`]: identity inventory, risk, drift, and its request hooks.
//! - [`lease`]: the lease manager and the ledger.
//! - [`engines`]: mountable engines (KV v1 and v2) and the plugin storage adapter.
//! - [`auth`]: auth methods (AppRole, JWT) and the token store.
//! - [`audit`]: audit devices with a keyed hash chain.
//! - [`policy`]: ACL policies, the canonical request path, the policy store.
//! - [`plugins`]: the registry of secrets plugins (`plugins/*` crates).
//! - [`logical`]: the request, response and mount types every layer shares.
//! - [`barrier`]: encryption of everything stored; keyring, seal, unseal.
//! - [`storage`]: untrusted bytes on disk (sled), with group commit.
//! - [`config`], [`metrics`], [`clock`], [`error`]: configuration, Prometheus
//!   metrics, time, and the API error every handler answers with.
//! - [`allocator`]: the process's allocator (jemalloc) and its figures.

pub mod allocator;
pub mod audit;
pub mod auth;
pub mod barrier;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod discover;
pub mod engines;
pub mod error;
pub mod http;
pub mod lease;
pub mod logical;
pub mod metrics;
pub mod nhi;
#[cfg(test)]
mod parser_properties;
pub mod plugins;
pub mod policy;
pub mod storage;

pub use qm_plugin_sdk::{duration, params};
