//! The one table from failures to HTTP: each error kind has a status code and
//! a client-facing message, rendered as Vault's `{"errors": [...]}` body.
//! Messages name the problem, never a secret value.

use crate::barrier::BarrierError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed or asks for something invalid (400).
    #[error("{0}")]
    BadRequest(String),
    /// No token, an unknown token, or a token without the capability (403).
    #[error("permission denied")]
    PermissionDenied,
    /// Refused, with a reason the client may see (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing stored at the path; Vault answers with an empty error list (404).
    #[error("not found")]
    NotFound,
    /// No mount or handler serves the path (404).
    #[error("{0}")]
    NoHandler(String),
    /// The path exists but not for this operation (405).
    #[error("unsupported operation")]
    UnsupportedOperation,
    /// The request body exceeds the listener's limit (413).
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A quota or rate limit was hit (429).
    #[error("{0}")]
    TooManyRequests(String),
    /// A backend (database, cloud API) failed (502). The message is sanitized.
    #[error("{0}")]
    BadGateway(String),
    /// The server is sealed (503).
    #[error("Vault is sealed")]
    Sealed,
    /// This node is not the active node of its cluster, and the request
    /// could not be handed to one (503: retry).
    #[error("{0}")]
    Standby(String),
    /// The disk under the store is full: writes are refused until space is
    /// freed; reads go on (503: retry).
    #[error("{0}")]
    StorageFull(String),
    /// The server is not initialized yet (503 for data paths, like Vault).
    #[error("Vault is not initialized")]
    NotInitialized,
    /// Something broke inside the server (500). The message is safe to show.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::BadRequest(_) => 400,
            Self::PermissionDenied | Self::Forbidden(_) => 403,
            Self::NotFound | Self::NoHandler(_) => 404,
            Self::UnsupportedOperation => 405,
            Self::PayloadTooLarge(_) => 413,
            Self::TooManyRequests(_) => 429,
            Self::Sealed | Self::NotInitialized | Self::Standby(_) | Self::StorageFull(_) => 503,
            Self::Internal(_) => 500,
            Self::BadGateway(_) => 502,
        }
    }

    /// The entries of the `errors` array.
    pub fn messages(&self) -> Vec<String> {
        match self {
            Self::NotFound => Vec::new(),
            other => vec![other.to_string()],
        }
    }
}

impl From<BarrierError> for ApiError {
    fn from(e: BarrierError) -> Self {
        match e {
            BarrierError::Sealed => Self::Sealed,
            BarrierError::Storage(crate::storage::StorageError::Fenced(message)) => {
                Self::Standby(message)
            }
            BarrierError::Storage(full @ crate::storage::StorageError::Full(_)) => {
                Self::StorageFull(full.to_string())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<qm_plugin_sdk::PluginError> for ApiError {
    fn from(e: qm_plugin_sdk::PluginError) -> Self {
        use qm_plugin_sdk::PluginError as P;
        match e {
            P::BadRequest(m) => Self::BadRequest(m),
            P::NotFound => Self::NotFound,
            P::NoHandler(m) => Self::NoHandler(m),
            P::UnsupportedOperation => Self::UnsupportedOperation,
            P::TooMany(m) => Self::TooManyRequests(m),
            P::Backend(m) | P::Unreachable(m) => Self::BadGateway(m),
            P::Storage(m) => Self::Internal(m),
            P::StorageFull(m) => Self::StorageFull(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::StorageError;

    #[test]
    fn a_full_disk_is_a_503_that_says_so() {
        let full = || StorageError::Full("less than 16 MiB free".into());
        for error in [
            ApiError::from(BarrierError::Storage(full())),
            ApiError::from(qm_plugin_sdk::PluginError::StorageFull(full().to_string())),
        ] {
            assert_eq!(error.status(), 503);
            assert_eq!(error.messages(), ["storage is full: less than 16 MiB free"]);
        }
    }
}
