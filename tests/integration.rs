//! Integration tests: a real `qm` server process on a free loopback port,
//! driven through real clients (the `bao` CLI, vaultrs) and raw HTTP.
//! All compile into this one binary.

// Test code indexes fixtures and adds small numbers; it serves no request.
#![allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]

mod integration {
    pub(crate) mod acl_bypass;
    mod agent;
    mod approle;
    mod audit;
    mod auto_unseal;
    pub(crate) mod aws;
    mod bao_agent;
    mod bao_cli;
    pub(crate) mod common;
    mod console;
    mod cubbyhole;
    mod database;
    mod database_config;
    mod db_outage;
    mod discover;
    mod discover_iam;
    mod discover_schedules;
    mod drift;
    mod exec;
    mod ha;
    mod hostile_input;
    mod http_errors;
    mod hvac_compat;
    mod jwt_auth;
    mod jwt_keys;
    mod key_ceremonies;
    mod kill9;
    mod kv_v1;
    mod metrics;
    pub(crate) mod mysql;
    mod nhi;
    mod nhi_indexes;
    mod openapi;
    pub(crate) mod password_policies;
    mod path_help;
    mod pg_storage;
    mod pg_tls;
    mod readme_tour;
    mod seal;
    mod snapshot;
    mod soak;
    mod storage;
    mod sys_compat;
    mod systemd;
    mod tls_listener;
    mod token_safety;
    mod tokens;
    mod unrecognized;
    mod userpass;
    mod vaultrs_client;
}
