//! Login validation for the `jwt` auth method (role_type "jwt"), following
//! Vault's `auth/jwt` plugin: the token's signature must verify against one of
//! the mount's trusted keys (PEM public keys and/or a JWKS document), then its
//! time claims, issuer, subject, audience and bound claims are checked against
//! the role, and the user name and alias metadata are drawn from its claims.
//!
//! Only asymmetric algorithms are accepted (RS256/384/512, ES256/384, EdDSA);
//! `none` and HMAC are always refused. The caller passes the current time, so
//! nothing here reads the clock or the network.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Vault's default `clock_skew_leeway`, in seconds.
const DEFAULT_CLOCK_SKEW_LEEWAY: i64 = 60;
/// Vault's default `expiration_leeway` and `not_before_leeway`, in seconds.
const DEFAULT_LEEWAY: i64 = 150;
/// At most this much of an untrusted `alg` value is echoed back in an error.
const MAX_ECHOED_ALG: usize = 16;

/// Why a token was refused. Messages never carry the token or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("no keys configured")]
    NoKeys,
    #[error("jwt_validation_pubkeys[{index}] is invalid: {reason}")]
    InvalidPem { index: usize, reason: &'static str },
    #[error("invalid JWKS: {0}")]
    InvalidJwks(&'static str),
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("unsupported signing algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    #[error("no known key successfully validated the token signature")]
    BadSignature,
    #[error("no issue time, notbefore, or expiration time encoded in token")]
    NoTimeClaims,
    #[error("invalid {0:?} claim: not a number")]
    InvalidTimeClaim(&'static str),
    #[error("token is expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token issued in the future")]
    IssuedInFuture,
    #[error("invalid issuer (iss) claim")]
    Issuer,
    #[error("sub claim does not match bound subject")]
    Subject,
    #[error("invalid audience (aud) claim: not a string or list of strings")]
    InvalidAudience,
    #[error("audience claim found in JWT but no audiences bound to the role")]
    AudienceNotBound,
    #[error("aud claim does not match any bound audience")]
    AudienceMismatch,
    #[error("claim {0:?} is missing")]
    ClaimMissing(String),
    #[error("claim {0:?} is not a string, bool, number or list")]
    ClaimNotComparable(String),
    #[error("bound claim {0:?} must be a string, bool, number or list of them")]
    InvalidBoundClaim(String),
    #[error("claim {0:?} does not match any associated bound claim values")]
    ClaimMismatch(String),
    #[error("claim {0:?} not found in token")]
    UserClaimMissing(String),
    #[error("claim {0:?} could not be converted to string")]
    UserClaimNotString(String),
    #[error("error converting claim '{0}' to string")]
    MetadataNotString(String),
}

/// The kind of public key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Rsa,
    Ec,
    Ed,
}

struct TrustedKey {
    kid: Option<String>,
    family: Family,
    key: DecodingKey,
}

/// The keys a mount trusts: PEM public keys (`jwt_validation_pubkeys`) and/or
/// a JWKS document (from `jwks_url`, fetched by the caller, or given inline).
#[derive(Default)]
pub struct KeySet {
    keys: Vec<TrustedKey>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|k| k.kid.as_deref()).collect();
        f.debug_struct("KeySet").field("kids", &kids).finish()
    }
}

impl KeySet {
    /// Parses SPKI ("PUBLIC KEY") RSA, EC or Ed25519 keys, or PKCS#1
    /// ("RSA PUBLIC KEY") RSA keys; the error names the first bad one by index.
    pub fn from_pems(pems: &[String]) -> Result<Self, JwtError> {
        let keys = pems
            .iter()
            .enumerate()
            .map(|(index, pem)| {
                parse_pem(pem).map_err(|reason| JwtError::InvalidPem { index, reason })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// Parses a JWKS document, keeping its RSA, EC and OKP signing keys and
    /// skipping any other entries; it is an error if none is usable.
    pub fn from_jwks(json: &str) -> Result<Self, JwtError> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let doc: Document = serde_json::from_str(json)
            .map_err(|_| JwtError::InvalidJwks("expected a JSON object with a \"keys\" array"))?;
        let keys: Vec<_> = doc.keys.into_iter().filter_map(parse_jwk).collect();
        if keys.is_empty() {
            return Err(JwtError::InvalidJwks(
                "no usable RSA, EC or Ed25519 signing key",
            ));
        }
        Ok(Self { keys })
    }

    /// Both sets of keys, for a mount configured with PEMs and a JWKS.
    pub fn merge(mut self, other: KeySet) -> KeySet {
        self.keys.extend(other.keys);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys of the right family: only those with a matching `kid` when the
    /// token names one the set knows, otherwise all of them.
    fn candidates(&self, family: Family, kid: Option<&str>) -> Vec<&DecodingKey> {
        let fitting = || self.keys.iter().filter(move |k| k.family == family);
        let known_kid = kid.filter(|kid| fitting().any(|k| k.kid.as_deref() == Some(*kid)));
        fitting()
            .filter(|k| known_kid.is_none() || k.kid.as_deref() == known_kid)
            .map(|k| &k.key)
            .collect()
    }
}

fn parse_pem(pem: &str) -> Result<TrustedKey, &'static str> {
    let label = pem
        .trim_start()
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label)
        .ok_or("not a PEM block")?;
    let bytes = pem.trim().as_bytes();
    let parsed = match label {
        "RSA PUBLIC KEY" => DecodingKey::from_rsa_pem(bytes).map(|k| (Family::Rsa, k)),
        "PUBLIC KEY" => DecodingKey::from_rsa_pem(bytes)
            .map(|k| (Family::Rsa, k))
            .or_else(|_| DecodingKey::from_ec_pem(bytes).map(|k| (Family::Ec, k)))
            .or_else(|_| DecodingKey::from_ed_pem(bytes).map(|k| (Family::Ed, k))),
        _ => return Err("expected a \"PUBLIC KEY\" or \"RSA PUBLIC KEY\" PEM block"),
    };
    let (family, key) = parsed.map_err(|_| "not a valid RSA, EC or Ed25519 public key")?;
    Ok(TrustedKey {
        kid: None,
        family,
        key,
    })
}

fn parse_jwk(value: Value) -> Option<TrustedKey> {
    let jwk: Jwk = serde_json::from_value(value).ok()?;
    if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
        return None;
    }
    let family = match jwk.algorithm {
        AlgorithmParameters::RSA(_) => Family::Rsa,
        AlgorithmParameters::EllipticCurve(_) => Family::Ec,
        AlgorithmParameters::OctetKeyPair(_) => Family::Ed,
        AlgorithmParameters::OctetKey(_) => return None,
    };
    let key = DecodingKey::from_jwk(&jwk).ok()?;
    Some(TrustedKey {
        kid: jwk.common.key_id,
        family,
        key,
    })
}

/// How `bound_claims` values are compared (`bound_claims_type`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ClaimMatch {
    /// Exact string equality.
    #[default]
    String,
    /// `*` matches any run of characters, including none.
    Glob,
}

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
    let claims = verify_signature(keys, jwt)?;
    check_times(&claims, role, now)?;
    if !bound_string_matches(&claims, "iss", role.bound_issuer.as_deref()) {
        return Err(JwtError::Issuer);
    }
    if !bound_string_matches(&claims, "sub", role.bound_subject.as_deref()) {
        return Err(JwtError::Subject);
    }
    check_audience(&claims, &role.bound_audiences)?;
    for (name, expected) in &role.bound_claims {
        check_bound_claim(&claims, name, expected, role.bound_claims_type)?;
    }
    let user = user_name(&claims, &role.user_claim)?;
    let metadata = metadata(&claims, &role.claim_mappings)?;
    Ok(Verified {
        user,
        metadata,
        claims,
    })
}

/// An unset or empty bound accepts anything; otherwise the claim must equal it.
fn bound_string_matches(claims: &Map<String, Value>, name: &str, bound: Option<&str>) -> bool {
    match bound {
        None | Some("") => true,
        Some(want) => claims.get(name).and_then(Value::as_str) == Some(want),
    }
}

fn verify_signature(keys: &KeySet, jwt: &str) -> Result<Map<String, Value>, JwtError> {
    #[derive(Deserialize)]
    struct Header {
        alg: String,
        kid: Option<String>,
    }
    if keys.is_empty() {
        return Err(JwtError::NoKeys);
    }
    let header: Header = Some(jwt.split('.').collect::<Vec<_>>())
        .filter(|parts| parts.len() == 3)
        .and_then(|parts| parts.first().and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()))
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(JwtError::Malformed(
            "expected a compact JWS with a JSON header",
        ))?;
    let (alg, family) = algorithm(&header.alg)?;
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    for key in keys.candidates(family, header.kid.as_deref()) {
        let err = match jsonwebtoken::decode::<Map<String, Value>>(jwt, key, &validation) {
            Ok(data) => return Ok(data.claims),
            Err(err) => err.into_kind(),
        };
        if matches!(
            err,
            ErrorKind::Base64(_) | ErrorKind::Json(_) | ErrorKind::Utf8(_)
        ) {
            return Err(JwtError::Malformed(
                "payload or signature is not valid base64url JSON",
            ));
        }
    }
    Err(JwtError::BadSignature)
}

fn algorithm(name: &str) -> Result<(Algorithm, Family), JwtError> {
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

/// Vault's leeway convention: negative disables, zero means the default.
fn leeway(configured: i64, default: i64) -> i64 {
    match configured {
        0 => default,
        n => n.max(0),
    }
}

/// A numeric date claim; absent, null and 0 all count as unset, as in Vault.
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, JwtError> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_f64()
            .map(|t| Some(t as i64).filter(|t| *t != 0))
            .ok_or(JwtError::InvalidTimeClaim(name)),
    }
}

/// Vault's rules: at least one of `iat`, `nbf`, `exp`; a missing `exp` is
/// implied from the latest start plus `expiration_leeway`, a missing `nbf`
/// from `iat` or else `exp` minus `not_before_leeway`; then all three are
/// compared to `now` with the clock-skew leeway.
fn check_times(claims: &Map<String, Value>, bounds: &RoleBounds, now: i64) -> Result<(), JwtError> {
    let iat = time_claim(claims, "iat")?;
    let nbf = time_claim(claims, "nbf")?;
    let exp = time_claim(claims, "exp")?;
    let exp = match (exp, iat.max(nbf)) {
        (Some(exp), _) => exp,
        (None, Some(start)) => {
            start.saturating_add(leeway(bounds.expiration_leeway, DEFAULT_LEEWAY))
        }
        (None, None) => return Err(JwtError::NoTimeClaims),
    };
    let nbf = nbf
        .or(iat)
        .unwrap_or_else(|| exp.saturating_sub(leeway(bounds.not_before_leeway, DEFAULT_LEEWAY)));
    let skew = leeway(bounds.clock_skew_leeway, DEFAULT_CLOCK_SKEW_LEEWAY);
    if now.saturating_add(skew) < nbf {
        return Err(JwtError::NotYetValid);
    }
    if now.saturating_sub(skew) > exp {
        return Err(JwtError::Expired);
    }
    if iat.is_some_and(|iat| now.saturating_add(skew) < iat) {
        return Err(JwtError::IssuedInFuture);
    }
    Ok(())
}

fn check_audience(claims: &Map<String, Value>, bound: &[String]) -> Result<(), JwtError> {
    let audiences: Vec<&str> = match claims.get("aud") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(aud)) => vec![aud.as_str()],
        Some(Value::Array(auds)) => auds
            .iter()
            .map(Value::as_str)
            .collect::<Option<_>>()
            .ok_or(JwtError::InvalidAudience)?,
        Some(_) => return Err(JwtError::InvalidAudience),
    };
    match bound {
        [] if audiences.is_empty() => Ok(()),
        [] => Err(JwtError::AudienceNotBound),
        _ if bound.iter().any(|b| audiences.contains(&b.as_str())) => Ok(()),
        _ => Err(JwtError::AudienceMismatch),
    }
}

fn check_bound_claim(
    claims: &Map<String, Value>,
    name: &str,
    expected: &Value,
    how: ClaimMatch,
) -> Result<(), JwtError> {
    let expected =
        scalars(expected).ok_or_else(|| JwtError::InvalidBoundClaim(name.to_string()))?;
    let actual = lookup(claims, name).ok_or_else(|| JwtError::ClaimMissing(name.to_string()))?;
    let actual = scalars(actual).ok_or_else(|| JwtError::ClaimNotComparable(name.to_string()))?;
    let matches = |want: &String, got: &String| match how {
        ClaimMatch::String => want == got,
        ClaimMatch::Glob => glob_match(want, got),
    };
    if expected
        .iter()
        .any(|want| actual.iter().any(|got| matches(want, got)))
    {
        Ok(())
    } else {
        Err(JwtError::ClaimMismatch(name.to_string()))
    }
}

/// A scalar, or a list's scalar elements, as strings; `None` for anything else.
fn scalars(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => Some(items.iter().filter_map(scalar_string).collect()),
        other => scalar_string(other).map(|s| vec![s]),
    }
}

/// Strings as they are, numbers without a needless ".0", booleans as words.
fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(number_string(n)),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number_string(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() => f.to_string(),
        _ => n.to_string(),
    }
}

/// A claim by plain name, or by JSON pointer when the name starts with "/".
/// A null value counts as absent.
fn lookup<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let found = match name.strip_prefix('/') {
        None => claims.get(name),
        Some(path) => {
            let (head, rest) = path
                .split_once('/')
                .map_or((path, ""), |(head, _)| (head, &path[head.len()..]));
            let head = head.replace("~1", "/").replace("~0", "~");
            claims.get(&head).and_then(|v| v.pointer(rest))
        }
    };
    found.filter(|v| !v.is_null())
}

/// `*` matches any run of characters; everything else is literal.
fn glob_match(pattern: &str, value: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = value.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => {
                rest = rest
                    .get(at.saturating_add(part.len())..)
                    .unwrap_or_default()
            }
            None => return false,
        }
    }
    rest.ends_with(last)
}

fn user_name(claims: &Map<String, Value>, user_claim: &str) -> Result<String, JwtError> {
    let user_claim = if user_claim.is_empty() {
        "sub"
    } else {
        user_claim
    };
    match lookup(claims, user_claim) {
        None => Err(JwtError::UserClaimMissing(user_claim.to_string())),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(number_string(n)),
        Some(_) => Err(JwtError::UserClaimNotString(user_claim.to_string())),
    }
}

fn metadata(
    claims: &Map<String, Value>,
    mappings: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, JwtError> {
    let mut metadata = BTreeMap::new();
    for (claim, key) in mappings {
        if let Some(value) = lookup(claims, claim) {
            let value =
                scalar_string(value).ok_or_else(|| JwtError::MetadataNotString(claim.clone()))?;
            metadata.insert(key.clone(), value);
        }
    }
    Ok(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::jwt::jwt_keys::{jwks, TestKey};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    /// Baseline claims valid at NOW, with `extra` merged over them.
    fn claims(extra: Value) -> Value {
        let mut base =
            json!({"sub": "alice", "iss": "https://issuer", "iat": NOW, "exp": NOW + 300});
        for (k, v) in extra.as_object().unwrap() {
            base[k] = v.clone();
        }
        base
    }

    fn pem_keys(key: &TestKey) -> KeySet {
        KeySet::from_pems(std::slice::from_ref(&key.public_pem)).unwrap()
    }

    fn check(key: &TestKey, bounds: &RoleBounds, extra: Value) -> Result<Verified, JwtError> {
        verify(&pem_keys(key), bounds, &key.sign(&claims(extra)), NOW)
    }

    fn bound_claims(value: Value, how: ClaimMatch) -> RoleBounds {
        RoleBounds {
            bound_claims: value.as_object().unwrap().clone(),
            bound_claims_type: how,
            ..RoleBounds::default()
        }
    }

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
    fn each_algorithm_verifies_with_pem_and_jwks() {
        for key in [TestKey::rsa("r"), TestKey::ec("e"), TestKey::ed("d")] {
            let token = key.sign(&claims(json!({})));
            let from_pem = verify(&pem_keys(&key), &RoleBounds::default(), &token, NOW).unwrap();
            assert_eq!(from_pem.user, "alice", "{}", key.alg);
            let set = KeySet::from_jwks(&jwks(&[&key])).unwrap();
            let from_jwks = verify(&set, &RoleBounds::default(), &token, NOW).unwrap();
            assert_eq!(from_jwks, from_pem, "{}", key.alg);
        }
    }

    #[test]
    fn pkcs1_rsa_public_key_pem_is_accepted() {
        let key = TestKey::rsa("r");
        let mut child = std::process::Command::new("openssl")
            .args(["rsa", "-pubin", "-RSAPublicKey_out"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), key.public_pem.as_bytes())
            .unwrap();
        let pkcs1 = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
        assert!(pkcs1.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let set = KeySet::from_pems(&[pkcs1]).unwrap();
        verify(
            &set,
            &RoleBounds::default(),
            &key.sign(&claims(json!({}))),
            NOW,
        )
        .unwrap();
    }

    #[test]
    fn kid_selects_the_key_and_unknown_kid_tries_all() {
        let (mut a, b, c) = (TestKey::ec("a"), TestKey::ec("b"), TestKey::ed("c"));
        let set = KeySet::from_jwks(&jwks(&[&a, &b]))
            .unwrap()
            .merge(KeySet::from_pems(std::slice::from_ref(&c.public_pem)).unwrap());
        assert!(!set.is_empty());
        let check = |key: &TestKey| {
            verify(
                &set,
                &RoleBounds::default(),
                &key.sign(&claims(json!({}))),
                NOW,
            )
        };
        for key in [&a, &b, &c] {
            check(key).unwrap();
        }
        // An unknown kid tries every key of the right type.
        a.kid = "unknown".into();
        check(&a).unwrap();
        // A kid the set knows pins the key: a's signature under b's kid fails.
        a.kid = "b".into();
        assert_eq!(check(&a), Err(JwtError::BadSignature));
    }

    #[test]
    fn signature_from_another_key_is_refused() {
        let (trusted, other) = (TestKey::ed("same"), TestKey::ed("same"));
        let token = other.sign(&claims(json!({})));
        let err = verify(&pem_keys(&trusted), &RoleBounds::default(), &token, NOW).unwrap_err();
        assert_eq!(err, JwtError::BadSignature);
        // An RSA key is never tried for an EdDSA token.
        let rsa = pem_keys(&TestKey::rsa("r"));
        assert_eq!(
            verify(&rsa, &RoleBounds::default(), &token, NOW),
            Err(JwtError::BadSignature)
        );
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

    #[test]
    fn malformed_tokens_and_empty_keys() {
        let key = TestKey::ed("d");
        let keys = pem_keys(&key);
        for bad in ["", "abc", "a.b", "a.b.c", "!!.e30.e30"] {
            assert!(
                matches!(
                    verify(&keys, &RoleBounds::default(), bad, NOW),
                    Err(JwtError::Malformed(_))
                ),
                "{bad}"
            );
        }
        let token = key.sign(&claims(json!({})));
        let mut parts: Vec<&str> = token.split('.').collect();
        parts[1] = "not*base64";
        let broken = parts.join(".");
        assert_eq!(
            verify(&keys, &RoleBounds::default(), &broken, NOW),
            Err(JwtError::BadSignature)
        );
        let err = verify(&KeySet::default(), &RoleBounds::default(), &token, NOW).unwrap_err();
        assert_eq!(err, JwtError::NoKeys);
        assert!(!err.to_string().contains(&token));
    }

    #[test]
    fn expiry_uses_the_clock_skew_leeway() {
        let key = TestKey::ec("e");
        let b = RoleBounds::default();
        assert_eq!(
            check(&key, &b, json!({"iat": NOW - 600, "exp": NOW - 61})),
            Err(JwtError::Expired)
        );
        check(&key, &b, json!({"iat": NOW - 600, "exp": NOW - 60})).unwrap();
        let strict = RoleBounds {
            clock_skew_leeway: -1,
            ..RoleBounds::default()
        };
        assert_eq!(
            check(&key, &strict, json!({"exp": NOW - 1})),
            Err(JwtError::Expired)
        );
        let wide = RoleBounds {
            clock_skew_leeway: 3600,
            ..RoleBounds::default()
        };
        check(&key, &wide, json!({"exp": NOW - 3000})).unwrap();
    }

    #[test]
    fn not_before_in_the_future_is_refused() {
        let key = TestKey::ec("e");
        let b = RoleBounds::default();
        assert_eq!(
            check(&key, &b, json!({"nbf": NOW + 61})),
            Err(JwtError::NotYetValid)
        );
        check(&key, &b, json!({"nbf": NOW + 60})).unwrap();
    }

    #[test]
    fn issued_in_the_future_beyond_leeway_is_refused() {
        let key = TestKey::ec("e");
        let b = RoleBounds::default();
        let err = check(&key, &b, json!({"nbf": NOW, "iat": NOW + 61}));
        assert_eq!(err.unwrap_err().to_string(), "token issued in the future");
        check(&key, &b, json!({"nbf": NOW, "iat": NOW + 60})).unwrap();
        // Without nbf, Vault takes nbf from iat, so the nbf check fires first.
        assert_eq!(
            check(&key, &b, json!({"iat": NOW + 61})),
            Err(JwtError::NotYetValid)
        );
    }

    #[test]
    fn missing_time_claims_follow_vault() {
        let key = TestKey::ed("d");
        let token = key.sign(&json!({"sub": "alice"}));
        let err = verify(&pem_keys(&key), &RoleBounds::default(), &token, NOW).unwrap_err();
        assert_eq!(err, JwtError::NoTimeClaims);
        let none = |extra: Value| {
            let mut c = claims(extra);
            c.as_object_mut().unwrap().remove("exp");
            verify(&pem_keys(&key), &RoleBounds::default(), &key.sign(&c), NOW)
        };
        // No exp: implied as iat + 150, then the 60s skew applies.
        none(json!({"iat": NOW - 210})).unwrap();
        assert_eq!(none(json!({"iat": NOW - 211})), Err(JwtError::Expired));
        // Only exp: nbf implied as exp - 150.
        let only_exp = |exp: i64| {
            let token = key.sign(&json!({"sub": "alice", "exp": exp}));
            verify(&pem_keys(&key), &RoleBounds::default(), &token, NOW)
        };
        only_exp(NOW + 210).unwrap();
        assert_eq!(only_exp(NOW + 211), Err(JwtError::NotYetValid));
        assert_eq!(
            check(&key, &RoleBounds::default(), json!({"exp": "soon"})),
            Err(JwtError::InvalidTimeClaim("exp"))
        );
    }

    #[test]
    fn issuer_and_subject_bounds() {
        let key = TestKey::ed("d");
        let b = RoleBounds {
            bound_issuer: Some("https://issuer".into()),
            bound_subject: Some("alice".into()),
            ..RoleBounds::default()
        };
        check(&key, &b, json!({})).unwrap();
        let err = check(&key, &b, json!({"iss": "https://evil"})).unwrap_err();
        assert_eq!(err.to_string(), "invalid issuer (iss) claim");
        let err = check(&key, &b, json!({"sub": "bob"})).unwrap_err();
        assert_eq!(err.to_string(), "sub claim does not match bound subject");
    }

    #[test]
    fn audience_bounds() {
        let key = TestKey::ec("e");
        let b = RoleBounds {
            bound_audiences: vec!["vault".into(), "qm".into()],
            ..RoleBounds::default()
        };
        check(&key, &b, json!({"aud": "qm"})).unwrap();
        check(&key, &b, json!({"aud": ["other", "vault"]})).unwrap();
        assert_eq!(
            check(&key, &b, json!({"aud": "other"})),
            Err(JwtError::AudienceMismatch)
        );
        assert_eq!(check(&key, &b, json!({})), Err(JwtError::AudienceMismatch));
        assert_eq!(
            check(&key, &b, json!({"aud": 7})),
            Err(JwtError::InvalidAudience)
        );
        let unbound = RoleBounds::default();
        let err = check(&key, &unbound, json!({"aud": "qm"})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "audience claim found in JWT but no audiences bound to the role"
        );
        check(&key, &unbound, json!({"aud": []})).unwrap();
    }

    #[test]
    fn bound_claims_exact_and_any_of() {
        let key = TestKey::ed("d");
        let b = bound_claims(
            json!({"team": "ops", "groups": ["admins", "sre"]}),
            ClaimMatch::String,
        );
        check(&key, &b, json!({"team": "ops", "groups": "sre"})).unwrap();
        check(
            &key,
            &b,
            json!({"team": "ops", "groups": ["dev", "admins"]}),
        )
        .unwrap();
        let err = check(&key, &b, json!({"team": "ops", "groups": ["dev"]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claim \"groups\" does not match any associated bound claim values"
        );
        assert_eq!(
            check(&key, &b, json!({"team": "op", "groups": "sre"})),
            Err(JwtError::ClaimMismatch("team".into()))
        );
        assert_eq!(
            check(&key, &b, json!({"groups": "sre"})),
            Err(JwtError::ClaimMissing("team".into()))
        );
        let err = check(&key, &b, json!({"team": {"a": 1}, "groups": "sre"}));
        assert_eq!(err, Err(JwtError::ClaimNotComparable("team".into())));
        let scalars = bound_claims(json!({"n": "42", "ok": true, "f": 1.5}), ClaimMatch::String);
        check(&key, &scalars, json!({"n": 42, "ok": "true", "f": 1.5})).unwrap();
        let bad = bound_claims(json!({"x": {"y": 1}}), ClaimMatch::String);
        assert_eq!(
            check(&key, &bad, json!({"x": "y"})),
            Err(JwtError::InvalidBoundClaim("x".into()))
        );
    }

    #[test]
    fn bound_claims_glob() {
        let key = TestKey::ec("e");
        let b = bound_claims(
            json!({"email": "*@example.com", "sub": ["repo:org/*:ref:refs/heads/main"]}),
            ClaimMatch::Glob,
        );
        let sub = "repo:org/svc:ref:refs/heads/main";
        check(&key, &b, json!({"email": "a@example.com", "sub": sub})).unwrap();
        let err = check(&key, &b, json!({"email": "a@example.com.evil", "sub": sub}));
        assert_eq!(err, Err(JwtError::ClaimMismatch("email".into())));
        let err = check(
            &key,
            &b,
            json!({"email": "a@example.com", "sub": "repo:org/svc:ref:refs/heads/dev"}),
        );
        assert_eq!(err, Err(JwtError::ClaimMismatch("sub".into())));
        // Glob is not used for String matching.
        let exact = bound_claims(json!({"email": "*@example.com"}), ClaimMatch::String);
        assert!(check(&key, &exact, json!({"email": "a@example.com"})).is_err());
    }

    #[test]
    fn glob_matching() {
        for (pattern, value) in [
            ("*", ""),
            ("a*", "a"),
            ("*b", "ab"),
            ("a*b*c", "aXbYc"),
            ("a*a", "aa"),
            ("x", "x"),
        ] {
            assert!(glob_match(pattern, value), "{pattern} ~ {value}");
        }
        for (pattern, value) in [
            ("a*", "b"),
            ("*b", "ba"),
            ("ab*b", "ab"),
            ("a*b*c", "acb"),
            ("x", "xy"),
            ("a.c", "abc"),
        ] {
            assert!(!glob_match(pattern, value), "{pattern} !~ {value}");
        }
    }

    #[test]
    fn pointer_claims() {
        let key = TestKey::ed("d");
        let b = RoleBounds {
            claim_mappings: BTreeMap::from([
                ("/nested/key".into(), "k".into()),
                ("/a~1b".into(), "slash".into()),
            ]),
            ..bound_claims(
                json!({"/nested/key": "v", "/groups/1": "two"}),
                ClaimMatch::String,
            )
        };
        let extra = json!({"nested": {"key": "v"}, "groups": ["one", "two"], "a/b": "s"});
        let verified = check(&key, &b, extra).unwrap();
        assert_eq!(
            verified.metadata,
            BTreeMap::from([("k".into(), "v".into()), ("slash".into(), "s".into())])
        );
        let err = check(
            &key,
            &b,
            json!({"nested": {"key": "w"}, "groups": ["one", "two"]}),
        );
        assert_eq!(err, Err(JwtError::ClaimMismatch("/nested/key".into())));
        let err = check(&key, &b, json!({"nested": {}, "groups": ["one", "two"]}));
        assert_eq!(err, Err(JwtError::ClaimMissing("/nested/key".into())));
    }

    #[test]
    fn claim_mappings_fill_metadata() {
        let key = TestKey::rsa("r");
        let mappings = [
            ("email", "email"),
            ("count", "n"),
            ("admin", "admin"),
            ("absent", "x"),
            ("nil", "y"),
        ];
        let b = RoleBounds {
            claim_mappings: mappings
                .iter()
                .map(|(c, m)| (c.to_string(), m.to_string()))
                .collect(),
            ..RoleBounds::default()
        };
        let verified = check(
            &key,
            &b,
            json!({"email": "a@x", "count": 3, "admin": false, "nil": null}),
        )
        .unwrap();
        let want = [("email", "a@x"), ("n", "3"), ("admin", "false")];
        assert_eq!(
            verified.metadata,
            want.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        );
        assert_eq!(verified.claims["count"], json!(3));
        let err = check(&key, &b, json!({"email": ["a", "b"]})).unwrap_err();
        assert_eq!(err.to_string(), "error converting claim 'email' to string");
    }

    #[test]
    fn user_claim() {
        let key = TestKey::ed("d");
        let b = RoleBounds {
            user_claim: "email".into(),
            ..RoleBounds::default()
        };
        assert_eq!(
            check(&key, &b, json!({"email": "a@x"})).unwrap().user,
            "a@x"
        );
        assert_eq!(check(&key, &b, json!({"email": 12})).unwrap().user, "12");
        let err = check(&key, &b, json!({})).unwrap_err();
        assert_eq!(err.to_string(), "claim \"email\" not found in token");
        let err = check(&key, &b, json!({"email": ["a"]})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "claim \"email\" could not be converted to string"
        );
        let nested = RoleBounds {
            user_claim: "/user/name".into(),
            ..RoleBounds::default()
        };
        assert_eq!(
            check(&key, &nested, json!({"user": {"name": "n"}}))
                .unwrap()
                .user,
            "n"
        );
    }

    #[test]
    fn bad_key_configuration_is_reported_without_key_material() {
        let good = TestKey::ec("e").public_pem;
        let body = good.lines().nth(1).unwrap().to_string();
        let err = KeySet::from_pems(&[good.clone(), "garbage".into()]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "jwt_validation_pubkeys[1] is invalid: not a PEM block"
        );
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_string();
        let err = KeySet::from_pems(&[private]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("jwt_validation_pubkeys[0] is invalid: expected"),
            "{err}"
        );
        let broken = good.replace(&body[10..20], "AAAAAAAAAA");
        assert!(matches!(
            KeySet::from_pems(&[broken]),
            Err(JwtError::InvalidPem { index: 0, .. })
        ));
        let set = KeySet::from_pems(&[good]).unwrap();
        assert!(!format!("{set:?}").contains(&body[..20]));
        assert_eq!(
            KeySet::from_jwks("[]").unwrap_err().to_string(),
            "invalid JWKS: expected a JSON object with a \"keys\" array"
        );
        let hmac_only =
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, {"kty": "EC", "crv": "P-256"}]});
        assert!(matches!(
            KeySet::from_jwks(&hmac_only.to_string()),
            Err(JwtError::InvalidJwks(_))
        ));
        let mut enc = TestKey::ed("d").jwk;
        enc["use"] = json!("enc");
        assert!(KeySet::from_jwks(&json!({"keys": [enc]}).to_string()).is_err());
    }
}
