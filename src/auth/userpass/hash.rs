//! Password hashing for userpass: argon2id at OWASP's minimum costs
//! (19 MiB, t=2, p=1), a random 16-byte salt per hash, stored as a PHC
//! string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) so costs can be
//! raised later without breaking stored users. Verification compares in
//! constant time (the `password-hash` crate's output comparison) and runs on
//! the blocking pool, a few at a time, so a flood of logins cannot take all
//! memory or every worker thread.

use crate::error::ApiError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::OnceLock;
use zeroize::Zeroizing;

/// Memory cost in KiB (19 MiB), iterations, lanes: OWASP's argon2id minimum.
const MEMORY_KIB: u32 = 19 * 1024;
const ITERATIONS: u32 = 2;
const LANES: u32 = 1;

/// Hashes running at once, at most (each holds 19 MiB).
const CONCURRENT: usize = 4;

/// The longest password accepted, in bytes.
pub(super) const MAX_PASSWORD: usize = 1024;

/// A stored password hash (a PHC string). Not a secret like the password,
/// but never printed either: its Debug is redacted.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub(super) struct StoredHash(String);

impl std::fmt::Debug for StoredHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoredHash(<redacted>)")
    }
}

/// A password from a request. Its Debug is redacted; it is wiped on drop.
pub(super) struct Password(Zeroizing<String>);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

impl Password {
    /// A password as a client sent it: not empty, at most [`MAX_PASSWORD`]
    /// bytes. The error never contains the password.
    pub(super) fn new(value: &str) -> Result<Self, ApiError> {
        if value.is_empty() {
            return Err(ApiError::bad("missing password"));
        }
        if value.len() > MAX_PASSWORD {
            return Err(ApiError::bad(format!(
                "password: longer than {MAX_PASSWORD} bytes"
            )));
        }
        Ok(Self(Zeroizing::new(value.to_string())))
    }
}

fn argon() -> Result<Argon2<'static>, ApiError> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, LANES, None)
        .map_err(|_| ApiError::Internal("userpass hash parameters are invalid".into()))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn gate() -> &'static tokio::sync::Semaphore {
    static GATE: OnceLock<tokio::sync::Semaphore> = OnceLock::new();
    GATE.get_or_init(|| tokio::sync::Semaphore::new(CONCURRENT))
}

/// Runs `work` on the blocking pool once one of the few hashing slots is free.
async fn gated<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let _slot = gate()
        .acquire()
        .await
        .map_err(|_| ApiError::Internal("password hashing is shut down".into()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| ApiError::Internal("password hashing failed".into()))?
}

/// Hashes a new password.
pub(super) async fn hash(password: Password) -> Result<StoredHash, ApiError> {
    gated(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let hashed = argon()?
            .hash_password(password.0.as_bytes(), &salt)
            .map_err(|_| ApiError::Internal("password hashing failed".into()))?;
        Ok(StoredHash(hashed.to_string()))
    })
    .await
}

/// A hash of a random password, computed once: an unknown user's login is
/// checked against it, so it costs what a known user's does.
fn decoy() -> Result<&'static str, ApiError> {
    static DECOY: OnceLock<String> = OnceLock::new();
    if let Some(decoy) = DECOY.get() {
        return Ok(decoy);
    }
    let random: [u8; 32] = rand::random();
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hashed = argon()?
        .hash_password(&random, &salt)
        .map_err(|_| ApiError::Internal("password hashing failed".into()))?
        .to_string();
    Ok(DECOY.get_or_init(|| hashed))
}

/// Whether `password` matches `stored`; with no stored hash (an unknown
/// user) a decoy hash is checked at the same cost and the answer is false.
pub(super) async fn verify(
    password: Password,
    stored: Option<StoredHash>,
) -> Result<bool, ApiError> {
    gated(move || {
        let known = stored.is_some();
        let text = match &stored {
            Some(StoredHash(text)) => text.as_str(),
            None => decoy()?,
        };
        let parsed = PasswordHash::new(text)
            .map_err(|_| ApiError::Internal("a stored password hash is corrupt".into()))?;
        // The stored string names its own costs; verify with those.
        let matched = Argon2::default()
            .verify_password(password.0.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matched)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_never_print() {
        let stored = hash(Password::new("correct horse").unwrap()).await.unwrap();
        assert!(stored.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert_eq!(format!("{stored:?}"), "StoredHash(<redacted>)");
        let password = Password::new("correct horse").unwrap();
        assert!(!format!("{password:?}").contains("horse"));
        assert!(verify(password, Some(stored.clone())).await.unwrap());
        let wrong = Password::new("correct horsf").unwrap();
        assert!(!verify(wrong, Some(stored)).await.unwrap());
        let unknown = Password::new("anything").unwrap();
        assert!(!verify(unknown, None).await.unwrap());
    }

    #[test]
    fn passwords_are_bounded() {
        assert!(Password::new("").is_err());
        let long = "x".repeat(MAX_PASSWORD + 1);
        let error = Password::new(&long).unwrap_err().to_string();
        assert!(!error.contains("xxxx"), "{error}");
    }
}
