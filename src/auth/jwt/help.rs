//! The JWT auth method's `?help=1` text (`bao path-help auth/jwt/...`).

use qm_plugin_sdk::help::Op::{Delete, List, Read, Write};
use qm_plugin_sdk::help::{Help, Route};

pub(super) const HELP: Help = Help {
    synopsis: "The JWT auth method: jobs log in with a signed JWT (a CI system's identity token).",
    routes: &[
        Route { pattern: "config", ops: &[Read, Write], synopsis: "The keys that verify JWTs (jwt_validation_pubkeys, jwks, jwks_url, oidc_discovery_url), bound_issuer and default_role." },
        Route { pattern: "login", ops: &[Write], synopsis: "Log in with role and jwt (no token needed)." },
        Route { pattern: "role", ops: &[List], synopsis: "List the roles." },
        Route { pattern: "role/NAME", ops: &[Read, Write, Delete], synopsis: "Manage a role: role_type=jwt, bound_audiences, bound_subject, bound_claims, bound_claims_type, user_claim, claim_mappings, leeways and the token_* fields." },
    ],
};
