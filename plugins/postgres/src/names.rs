//! Generated usernames and passwords. Usernames are readable and traceable:
//! `v-<display>-<role>-<random>-<unix time>`, within Postgres' 63 bytes.
//! Passwords come from the SDK's generator under its default policy.

use qm_plugin_sdk::password::PasswordPolicy;
use rand::distributions::{Alphanumeric, DistString};

const MAX_IDENTIFIER: usize = 63;

/// Lower-case letters, digits, `-` and `_`, cut to `max` characters.
fn clean(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(max)
        .collect()
}

/// The role-name fragment used in usernames (also used to find our users).
pub(crate) fn role_fragment(role: &str) -> String {
    clean(role, 8)
}

pub(crate) fn username(display_name: &str, role: &str, now: i64) -> String {
    let random = Alphanumeric
        .sample_string(&mut rand::rngs::OsRng, 20)
        .to_lowercase();
    let mut name = format!(
        "v-{}-{}-{}-{}",
        clean(display_name, 8),
        role_fragment(role),
        random,
        now
    );
    name.truncate(MAX_IDENTIFIER);
    name
}

/// 32 characters, always with upper case, lower case, a digit and `-`.
pub(crate) fn password() -> String {
    PasswordPolicy::default().generate()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_traceable_and_fit_postgres() {
        let name = username("token-Billing API", "app-readonly-role", 1_700_000_000);
        assert!(name.starts_with("v-token-bi-app-read-"), "{name}");
        assert!(name.len() <= 63);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'));
        assert_ne!(username("a", "b", 1), username("a", "b", 1));
    }

    #[test]
    fn passwords_are_long_and_distinct() {
        let a = password();
        assert_eq!(a.len(), 32);
        assert_ne!(a, password());
    }
}
