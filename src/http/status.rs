//! The stores' own errors mapped to API errors (and so to HTTP statuses):
//! the one place where a ledger, token, policy or lease failure becomes a
//! 400, a 429, a 502 or a 500. The layers below never name a status.

use crate::error::ApiError;

impl From<crate::lease::LedgerError> for ApiError {
    fn from(e: crate::lease::LedgerError) -> Self {
        match e {
            crate::lease::LedgerError::Barrier(e) => e.into(),
        }
    }
}

impl From<crate::auth::token::store::TokenError> for ApiError {
    fn from(e: crate::auth::token::store::TokenError) -> Self {
        use crate::auth::token::store::TokenError as T;
        match e {
            T::Exists | T::NotRenewable => Self::BadRequest(e.to_string()),
            T::Corrupt(what) => Self::Internal(what.into()),
            T::Barrier(e) => e.into(),
        }
    }
}

impl From<crate::policy::PolicyError> for ApiError {
    fn from(e: crate::policy::PolicyError) -> Self {
        use crate::policy::PolicyError as P;
        match e {
            P::Invalid(message) => Self::BadRequest(message),
            P::Corrupt(..) => Self::Internal(e.to_string()),
            P::Barrier(e) => e.into(),
        }
    }
}

impl From<crate::lease::LeaseError> for ApiError {
    fn from(e: crate::lease::LeaseError) -> Self {
        use crate::lease::LeaseError as L;
        match e {
            L::Invalid(message) => Self::BadRequest(message),
            L::QuotaReached(message) => Self::TooManyRequests(message),
            L::Plugin(e) => e.into(),
            L::Ledger(e) => e.into(),
            L::Token(e) => e.into(),
            L::Barrier(e) => e.into(),
            L::Task(_) => Self::Internal(e.to_string()),
        }
    }
}
