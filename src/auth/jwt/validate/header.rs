//! The JOSE header of a compact JWS, read before anything is trusted: its
//! `alg` must name an accepted asymmetric algorithm, which fixes the key
//! family to try, and its `kid` may pick the key.

use super::key_set::Family;
use super::JwtError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

/// At most this much of an untrusted `alg` value is echoed back in an error.
const MAX_ECHOED_ALG: usize = 16;

/// The header fields that choose how a token is checked.
#[derive(Deserialize)]
pub(super) struct Header {
    pub(super) alg: String,
    pub(super) kid: Option<String>,
}

/// The header of `jwt`, which must have three dot-separated parts, the first
/// base64url JSON.
pub(super) fn decode_header(jwt: &str) -> Result<Header, JwtError> {
    Some(jwt.split('.').collect::<Vec<_>>())
        .filter(|parts| parts.len() == 3)
        .and_then(|parts| parts.first().and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()))
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(JwtError::Malformed(
            "expected a compact JWS with a JSON header",
        ))
}

/// The algorithm `name` names and the key family it needs; anything else (`none`,
/// HMAC, unknown names) is refused, echoing at most [`MAX_ECHOED_ALG`]
/// characters of the name.
pub(super) fn algorithm(name: &str) -> Result<(Algorithm, Family), JwtError> {
    Ok(match name {
        "RS256" => (Algorithm::RS256, Family::Rsa),
        "RS384" => (Algorithm::RS384, Family::Rsa),
        "RS512" => (Algorithm::RS512, Family::Rsa),
        "ES256" => (Algorithm::ES256, Family::Ec),
        "ES384" => (Algorithm::ES384, Family::Ec),
        "EdDSA" => (Algorithm::EdDSA, Family::Ed),
        other => {
            return Err(JwtError::UnsupportedAlgorithm(
                other.chars().take(MAX_ECHOED_ALG).collect(),
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{claims, pem_keys, NOW};
    use super::super::{verify, JwtError, RoleBounds};
    use super::MAX_ECHOED_ALG;
    use crate::auth::jwt::test_keys::TestKey;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::{json, Value};

    /// A token with the given header, payload and signature bytes.
    fn raw_token(header: Value, payload: Value, signature: &[u8]) -> String {
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
        format!(
            "{}.{}.{}",
            part(&header),
            part(&payload),
            URL_SAFE_NO_PAD.encode(signature)
        )
    }

    #[test]
    fn none_and_hmac_are_refused() {
        let keys = pem_keys(&TestKey::ed("d"));
        let none = raw_token(json!({"alg": "none"}), claims(json!({})), b"");
        let err = verify(&keys, &RoleBounds::default(), &none, NOW).unwrap_err();
        assert_eq!(err.to_string(), "unsupported signing algorithm \"none\"");
        let secret = jsonwebtoken::EncodingKey::from_secret(b"secret");
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims(json!({})),
            &secret,
        )
        .unwrap();
        let err = verify(&keys, &RoleBounds::default(), &hs, NOW).unwrap_err();
        assert_eq!(err.to_string(), "unsupported signing algorithm \"HS256\"");
        let long = raw_token(json!({"alg": "X".repeat(500)}), claims(json!({})), b"");
        let err = verify(&keys, &RoleBounds::default(), &long, NOW).unwrap_err();
        assert_eq!(
            err,
            JwtError::UnsupportedAlgorithm("X".repeat(MAX_ECHOED_ALG))
        );
    }
}
