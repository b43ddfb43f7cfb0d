//! [`JwtError`]: every reason a token or a key configuration is refused,
//! worded as Vault words it where Vault has a message.

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
