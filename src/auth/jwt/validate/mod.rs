//! Login validation for the `jwt` auth method (role_type "jwt"), following
//! Vault's `auth/jwt` plugin: the token's signature must verify against one of
//! the mount's trusted keys (PEM public keys and/or a JWKS document), then its
//! time claims, issuer, subject, audience and bound claims are checked against
//! the role, and the user name and alias metadata are drawn from its claims.
//!
//! Only asymmetric algorithms are accepted (RS256/384/512, ES256/384, EdDSA);
//! `none` and HMAC are always refused. The caller passes the current time, so
//! nothing here reads the clock or the network.
//!
//! Each step has its own module: `key_set` (the trusted keys), `header` and
//! `signature` (which algorithm, which keys, is the signature good),
//! `time_claims` (`exp`/`nbf`/`iat` with Vault's leeways), `bound_claims`
//! (issuer, subject, audience and `bound_claims`), `claim_values` (claims by
//! name or JSON pointer, as strings), `glob`, and `identity` (user name and
//! metadata). This module puts them in order in [`verify`].

mod bound_claims;
mod claim_values;
mod error;
mod glob;
mod header;
mod identity;
mod key_set;
mod signature;
mod time_claims;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod properties;

pub use bound_claims::ClaimMatch;
pub use error::JwtError;
pub use key_set::KeySet;

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a role requires of a token. Leeways follow Vault: 0 means the default
/// (60s clock skew, 150s for the others) and a negative value means none.
#[derive(Debug, Clone, Default)]
pub struct RoleBounds {
    /// From the mount config; when set, `iss` must equal it.
    pub bound_issuer: Option<String>,
    /// When set, `aud` must contain one of them; when empty, `aud` must be absent.
    pub bound_audiences: Vec<String>,
    /// When set, `sub` must equal it.
    pub bound_subject: Option<String>,
    /// Claim name, or JSON pointer ("/a/b"), to a value or list of values (any-of).
    pub bound_claims: Map<String, Value>,
    pub bound_claims_type: ClaimMatch,
    /// Claim (name or pointer) holding the user name; empty means "sub".
    pub user_claim: String,
    /// Claim (name or pointer) to metadata key; absent claims are skipped.
    pub claim_mappings: BTreeMap<String, String>,
    /// Applied to `exp`, `nbf` and `iat`.
    pub clock_skew_leeway: i64,
    /// Only used to imply an `exp` when the token has none.
    pub expiration_leeway: i64,
    /// Only used to imply an `nbf` when the token has neither `nbf` nor `iat`.
    pub not_before_leeway: i64,
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The alias name, from `user_claim`.
    pub user: String,
    /// Alias metadata, from `claim_mappings`.
    pub metadata: BTreeMap<String, String>,
    pub claims: Map<String, Value>,
}

/// Checks `jwt` against the mount's `keys` and the `role`'s bounds at `now`
/// (unix seconds).
pub fn verify(keys: &KeySet, role: &RoleBounds, jwt: &str, now: i64) -> Result<Verified, JwtError> {
    let claims = signature::verify_signature(keys, jwt)?;
    time_claims::check_times(&claims, role, now)?;
    if !bound_claims::bound_string_matches(&claims, "iss", role.bound_issuer.as_deref()) {
        return Err(JwtError::Issuer);
    }
    if !bound_claims::bound_string_matches(&claims, "sub", role.bound_subject.as_deref()) {
        return Err(JwtError::Subject);
    }
    bound_claims::check_audience(&claims, &role.bound_audiences)?;
    for (name, expected) in &role.bound_claims {
        bound_claims::check_bound_claim(&claims, name, expected, role.bound_claims_type)?;
    }
    let user = identity::user_name(&claims, &role.user_claim)?;
    let metadata = identity::metadata(&claims, &role.claim_mappings)?;
    Ok(Verified {
        user,
        metadata,
        claims,
    })
}
