//! Quartermaster: a secrets broker for machine identities. It keeps secrets
//! in an encrypted embedded store, hands out leased credentials, and speaks
//! the Vault/OpenBao HTTP API so existing clients work unchanged.
//!
//! # Layout
//! - [`storage`]: untrusted bytes on disk (sled), with group commit.
//! - [`barrier`]: encryption of everything stored; keyring, seal, unseal.
//! - [`core`]: the request pipeline, mounts, lifecycle (init/unseal/seal).
//! - [`auth`]: the token store and its endpoints.
//! - [`policy`]: ACL policies (HCL/JSON) and path matching.
//! - [`engines`]: built-in engines: `sys/` and KV version 2.
//! - [`plugins`]: the registry of secrets plugins (`plugins/*` crates).
//! - [`lease`]: the lease ledger and its indexes.
//! - [`http`]: actix-web edge: Vault's wire format.
//! - [`cli`]: the `qm` command line.
//! - [`config`]: the server's TOML configuration.

pub mod audit;
pub mod auth;
pub mod barrier;
pub mod cli;
pub mod clock;
pub mod config;
pub mod core;
pub mod engines;
pub mod error;
pub mod http;
pub mod lease;
pub mod logical;
pub mod metrics;
pub mod nhi;
pub mod plugins;
pub mod policy;
pub mod storage;

pub use qm_plugin_sdk::{duration, params};
