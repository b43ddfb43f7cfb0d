//! The public keys a mount trusts ([`KeySet`]), parsed from PEM blocks or a
//! JWKS document, each tagged with the algorithm family it can verify.

use super::JwtError;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// The kind of public key an algorithm needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Family {
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
    pub(super) fn candidates(&self, family: Family, kid: Option<&str>) -> Vec<&DecodingKey> {
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{claims, NOW};
    use super::super::{verify, JwtError, KeySet, RoleBounds};
    use crate::auth::jwt::test_keys::{jwks, TestKey};
    use serde_json::json;

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
