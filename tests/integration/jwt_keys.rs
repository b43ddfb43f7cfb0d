//! Test signing keys for the JWT auth method, made fresh at test time so no
//! key material is committed. Ed25519 and P-256 keys come from `ring`; RSA
//! keys come from the `openssl` command-line tool, which is quick even in
//! debug builds (pure-Rust RSA key generation is not).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// SPKI DER header for a P-256 key; the 65-byte uncompressed point follows.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
    0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// SPKI DER header for an Ed25519 key; the 32-byte public key follows.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A signing key with its public half as PEM and as a JWK.
pub(crate) struct TestKey {
    /// The JWS `alg` it signs with: "RS256", "ES256" or "EdDSA".
    pub(crate) alg: &'static str,
    pub(crate) kid: String,
    /// SPKI ("PUBLIC KEY") PEM, as `jwt_validation_pubkeys` takes it.
    pub(crate) public_pem: String,
    /// Public JWK with `kid`, `alg` and `use`.
    pub(crate) jwk: Value,
    algorithm: Algorithm,
    encoding: EncodingKey,
}

impl TestKey {
    /// A 2048-bit RSA key signing RS256 (needs the `openssl` binary).
    pub(crate) fn rsa(kid: &str) -> Self {
        let keygen = "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048";
        let private_pem = openssl(&format!("{keygen} -pkeyopt rsa_keygen_pubexp:65537"), b"");
        let public_pem = String::from_utf8(openssl("pkey -pubout", &private_pem)).expect("ASCII");
        let modulus =
            String::from_utf8(openssl("rsa -noout -modulus", &private_pem)).expect("ASCII");
        let n_hex = modulus
            .trim()
            .strip_prefix("Modulus=")
            .expect("openssl prints Modulus=HEX");
        let n = URL_SAFE_NO_PAD.encode(hex_decode(n_hex));
        let params = json!({"kty": "RSA", "n": n, "e": "AQAB"});
        let encoding =
            EncodingKey::from_rsa_pem(&private_pem).expect("openssl made a usable RSA key");
        Self::new("RS256", Algorithm::RS256, kid, public_pem, params, encoding)
    }

    /// A P-256 key signing ES256.
    pub(crate) fn ec(kid: &str) -> Self {
        let rng = SystemRandom::new();
        let alg = &ECDSA_P256_SHA256_FIXED_SIGNING;
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).expect("generate P-256 key");
        let pair = EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).expect("parse P-256 key");
        let point = pair.public_key().as_ref();
        let (x, y) = point[1..].split_at(32);
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let params = json!({"kty": "EC", "crv": "P-256", "x": x, "y": y});
        let pem = spki_pem(&P256_SPKI_PREFIX, point);
        Self::new(
            "ES256",
            Algorithm::ES256,
            kid,
            pem,
            params,
            EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
    }

    /// An Ed25519 key signing EdDSA.
    pub(crate) fn ed(kid: &str) -> Self {
        let pkcs8 =
            Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).expect("generate Ed25519 key");
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).expect("parse Ed25519 key");
        let public = pair.public_key().as_ref();
        let params = json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode(public)});
        let pem = spki_pem(&ED25519_SPKI_PREFIX, public);
        Self::new(
            "EdDSA",
            Algorithm::EdDSA,
            kid,
            pem,
            params,
            EncodingKey::from_ed_der(pkcs8.as_ref()),
        )
    }

    fn new(
        alg: &'static str,
        algorithm: Algorithm,
        kid: &str,
        public_pem: String,
        mut jwk: Value,
        encoding: EncodingKey,
    ) -> Self {
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg);
        jwk["use"] = json!("sig");
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
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("sign test token")
    }
}

/// A JWKS document (`{"keys": [...]}`) holding the public halves of `keys`.
pub(crate) fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

fn spki_pem(prefix: &[u8], public: &[u8]) -> String {
    let der = [prefix, public].concat();
    let body = STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    )
}

/// Runs `openssl` with whitespace-separated `args`, feeding it `stdin`.
fn openssl(args: &str, stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args.split_whitespace())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the `openssl` binary is needed to make RSA test keys (apt-get install openssl)");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(stdin)
        .expect("write to openssl");
    let out = child.wait_with_output().expect("run openssl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "openssl {args} failed: {stderr}");
    out.stdout
}

fn hex_decode(hex: &str) -> Vec<u8> {
    hex::decode(hex).expect("openssl prints hex")
}
