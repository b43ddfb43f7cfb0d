//! Authentication: the token store (every identity ends up holding a token).

pub mod token;
