//! The JWT method's mount configuration (`auth/jwt/config`): which keys sign
//! the tokens it accepts (PEM keys, a JWKS document inline, a JWKS URL or an
//! OIDC discovery URL) and the issuer they must name.

use super::validate::KeySet;
use crate::error::ApiError;
use crate::params::{optional_str, optional_strings};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct JwtConfig {
    pub(super) jwt_validation_pubkeys: Vec<String>,
    /// A JWKS document given inline.
    pub(super) jwks: Option<String>,
    pub(super) jwks_url: Option<String>,
    pub(super) oidc_discovery_url: Option<String>,
    pub(super) bound_issuer: Option<String>,
    pub(super) default_role: Option<String>,
}

fn non_empty(data: &Map<String, Value>, field: &str) -> Result<Option<String>, ApiError> {
    Ok(optional_str(data, field)?
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(String::from))
}

impl JwtConfig {
    /// The body fields [`JwtConfig::parse`] reads.
    pub(super) const FIELDS: &'static [&'static str] = &[
        "jwks",
        "jwt_validation_pubkeys",
        "jwks_url",
        "oidc_discovery_url",
        "bound_issuer",
        "default_role",
    ];

    pub(super) fn parse(data: &Map<String, Value>) -> Result<Self, ApiError> {
        let jwks = match data.get("jwks") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.trim().is_empty() => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(object @ Value::Object(_)) => Some(object.to_string()),
            Some(_) => return Err(ApiError::bad("jwks: expected a JWKS document")),
        };
        let config = Self {
            jwt_validation_pubkeys: optional_strings(data, "jwt_validation_pubkeys")?
                .unwrap_or_default(),
            jwks,
            jwks_url: non_empty(data, "jwks_url")?,
            oidc_discovery_url: non_empty(data, "oidc_discovery_url")?,
            bound_issuer: non_empty(data, "bound_issuer")?,
            default_role: non_empty(data, "default_role")?,
        };
        let sources = [
            !config.jwt_validation_pubkeys.is_empty(),
            config.jwks.is_some(),
            config.jwks_url.is_some(),
            config.oidc_discovery_url.is_some(),
        ];
        if sources.iter().filter(|s| **s).count() != 1 {
            return Err(ApiError::bad(
                "exactly one of 'jwt_validation_pubkeys', 'jwks', 'jwks_url' and \
                 'oidc_discovery_url' must be set",
            ));
        }
        for url in [&config.jwks_url, &config.oidc_discovery_url]
            .into_iter()
            .flatten()
        {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                return Err(ApiError::bad(format!(
                    "invalid URL {url:?}: expected http:// or https://"
                )));
            }
        }
        Ok(config)
    }

    /// The keys given in the configuration itself (not fetched).
    pub(super) fn static_keys(&self) -> Result<Option<KeySet>, ApiError> {
        let bad = |e: super::validate::JwtError| ApiError::bad(e.to_string());
        if !self.jwt_validation_pubkeys.is_empty() {
            return KeySet::from_pems(&self.jwt_validation_pubkeys)
                .map(Some)
                .map_err(bad);
        }
        match &self.jwks {
            Some(document) => KeySet::from_jwks(document).map(Some).map_err(bad),
            None => Ok(None),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        json!({
            "jwt_validation_pubkeys": self.jwt_validation_pubkeys,
            "jwks": self.jwks.clone().unwrap_or_default(),
            "jwks_url": self.jwks_url.clone().unwrap_or_default(),
            "oidc_discovery_url": self.oidc_discovery_url.clone().unwrap_or_default(),
            "bound_issuer": self.bound_issuer.clone().unwrap_or_default(),
            "default_role": self.default_role.clone().unwrap_or_default(),
            "jwt_supported_algs": ["RS256", "RS384", "RS512", "ES256", "ES384", "EdDSA"],
        })
    }
}
