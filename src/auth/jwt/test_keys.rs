//! Signing keys for the JWT unit tests, made by the `openssl` command-line
//! tool when a test runs, so no key material is kept in the tree. (The
//! integration tests have their own, in `tests/integration/jwt_keys.rs`.)

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// A signing key with its public half as PEM and as a JWK.
pub(crate) struct TestKey {
    /// The JWS `alg` it signs with: "RS256", "ES256" or "EdDSA".
    pub(crate) alg: &'static str,
    /// Put in the header of every token it signs.
    pub(crate) kid: String,
    /// SPKI ("PUBLIC KEY") PEM, as `jwt_validation_pubkeys` takes it.
    pub(crate) public_pem: String,
    /// Public JWK with `kid`, `alg` and `use`.
    pub(crate) jwk: Value,
    algorithm: Algorithm,
    encoding: EncodingKey,
}

impl TestKey {
    /// A 2048-bit RSA key signing RS256.
    pub(crate) fn rsa(kid: &str) -> Self {
        let private = openssl(
            "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:65537",
            b"",
        );
        let modulus = String::from_utf8(openssl("rsa -noout -modulus", &private)).unwrap();
        let n = hex::decode(modulus.trim().trim_start_matches("Modulus=")).unwrap();
        let params = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"});
        let encoding = EncodingKey::from_rsa_pem(&private).unwrap();
        Self::new(Algorithm::RS256, "RS256", kid, &private, params, encoding)
    }

    /// A P-256 key signing ES256.
    pub(crate) fn ec(kid: &str) -> Self {
        let private = openssl(
            "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256",
            b"",
        );
        // The uncompressed point ends the SPKI: 0x04, then x and y.
        let point = public_key_tail(&private, 64);
        let (x, y) = point.split_at(32);
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let params = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
        let encoding = EncodingKey::from_ec_pem(&private).unwrap();
        Self::new(Algorithm::ES256, "ES256", kid, &private, params, encoding)
    }

    /// An Ed25519 key signing EdDSA.
    pub(crate) fn ed(kid: &str) -> Self {
        let private = openssl("genpkey -algorithm ED25519", b"");
        let x = URL_SAFE_NO_PAD.encode(public_key_tail(&private, 32));
        let params = json!({"kty": "OKP", "crv": "Ed25519", "x": x});
        let encoding = EncodingKey::from_ed_pem(&private).unwrap();
        Self::new(Algorithm::EdDSA, "EdDSA", kid, &private, params, encoding)
    }

    fn new(
        algorithm: Algorithm,
        alg: &'static str,
        kid: &str,
        private_pem: &[u8],
        mut jwk: Value,
        encoding: EncodingKey,
    ) -> Self {
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg);
        jwk["use"] = json!("sig");
        let public_pem = String::from_utf8(openssl("pkey -pubout", private_pem)).unwrap();
        Self {
            alg,
            kid: kid.to_string(),
            public_pem,
            jwk,
            algorithm,
            encoding,
        }
    }

    /// A compact JWS over `claims`, with this key's `alg` and `kid` in the header.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// A JWKS document (`{"keys": [...]}`) holding the public halves of `keys`.
pub(crate) fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// The last `len` bytes of the DER public key (SPKI) of `private_pem`: the raw
/// key for EC and Ed25519 keys.
fn public_key_tail(private_pem: &[u8], len: usize) -> Vec<u8> {
    let mut der = openssl("pkey -pubout -outform DER", private_pem);
    der.split_off(der.len().saturating_sub(len))
}

/// Runs `openssl` with whitespace-separated `args`, feeding it `stdin`.
fn openssl(args: &str, stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args.split_whitespace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the `openssl` binary is needed to make JWT test keys");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args} failed: {stderr}");
    out.stdout
}
