//! A driver error as an operator needs to read it. tokio-postgres prints
//! only the top of an error ("error performing TLS handshake", "db
//! error"); why it happened (`invalid peer certificate: UnknownIssuer`,
//! `no pg_hba.conf entry ... no encryption`) is in its sources. Callers
//! still scrub the result of their secrets.

use std::error::Error;

/// `error` and each of its sources, joined by `: `; a source whose text the
/// message already holds (deadpool repeats its inner error) is not repeated.
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Layer {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn the_reason_follows_the_summary_once() {
        let error = Layer(
            "creating a connection: error performing TLS handshake",
            Some(Box::new(Layer(
                "error performing TLS handshake",
                Some(Box::new(Layer(
                    "invalid peer certificate: UnknownIssuer",
                    None,
                ))),
            ))),
        );
        assert_eq!(
            error_chain(&error),
            "creating a connection: error performing TLS handshake: \
             invalid peer certificate: UnknownIssuer"
        );
    }
}
