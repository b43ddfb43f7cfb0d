//! Signature verification: the token is checked against each trusted key of
//! the family its algorithm needs (only the one its `kid` names, when the set
//! knows that `kid`), and its claims are returned only once one key verifies.

use super::header::{algorithm, decode_header};
use super::{JwtError, KeySet};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use serde_json::{Map, Value};

/// The claims of `jwt` if one of `keys` verifies its signature. Time claims
/// and audience are left to the caller, which applies Vault's rules.
pub(super) fn verify_signature(keys: &KeySet, jwt: &str) -> Result<Map<String, Value>, JwtError> {
    if keys.is_empty() {
        return Err(JwtError::NoKeys);
    }
    let header = decode_header(jwt)?;
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

#[cfg(test)]
mod tests {
    use super::super::fixtures::{claims, pem_keys, NOW};
    use super::super::{verify, JwtError, KeySet, RoleBounds};
    use crate::auth::jwt::test_keys::{jwks, TestKey};
    use serde_json::json;

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
}
