//! `sys/internal/specs/openapi`, as Vault serves it: an OpenAPI 3 document
//! of every mount the caller can reach part of, made from each backend's
//! route table (the tables `?help=1` answers from), so the document, the
//! help text and the tests that check the tables against the handlers
//! (tests/integration/openapi.rs) all speak of the same routes.

use crate::core::ctx::Ctx;
use crate::logical::Response;
use serde_json::{json, Map};

pub(super) fn document(ctx: &Ctx<'_>) -> Response {
    let mut paths = Map::new();
    for mounted in ctx.active.mounts.snapshot().iter() {
        if ctx.acl.has_access_under(&mounted.entry.path) {
            paths.extend(crate::core::help::table(mounted).openapi_paths(&mounted.entry.path));
        }
    }
    Response::raw(json!({
        "openapi": "3.0.2",
        "info": {
            "title": "Quartermaster API",
            "description": "The Vault-compatible HTTP API of the mounts the calling token can reach.",
            "version": env!("CARGO_PKG_VERSION"),
            "license": { "name": "Apache-2.0" }
        },
        "servers": [{ "url": "/v1" }],
        "components": {
            "securitySchemes": {
                "token": { "type": "apiKey", "in": "header", "name": "X-Vault-Token" }
            }
        },
        "security": [{ "token": [] }],
        "paths": paths,
    }))
}
