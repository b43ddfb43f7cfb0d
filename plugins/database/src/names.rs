//! Generated usernames and passwords. Usernames are readable and traceable:
//! `v-<display>-<role>-<random>-<unix time>`, cut to the driver's limit
//! (63 for PostgreSQL, 32 for MySQL: at least 12 random characters stay).
//! Below 32 (MySQL before 5.7: 16) they are `v-<role>-<random>`, as Vault's
//! legacy MySQL template. Passwords come from the SDK's generator under its
//! default policy.

use qm_plugin_sdk::password::PasswordPolicy;
use rand::distributions::{Alphanumeric, DistString};

/// The shortest limit the full form fits with enough randomness.
const FULL_FORM_MIN: usize = 32;

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

/// A new username of at most `max_len` characters.
pub(crate) fn username(display_name: &str, role: &str, now: i64, max_len: usize) -> String {
    let random = Alphanumeric
        .sample_string(&mut rand::rngs::OsRng, 20)
        .to_lowercase();
    let mut name = if max_len >= FULL_FORM_MIN {
        format!(
            "v-{}-{}-{}-{}",
            clean(display_name, 8),
            clean(role, 8),
            random,
            now
        )
    } else {
        format!("v-{}-{}", clean(role, 4), random)
    };
    name.truncate(max_len);
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
        let name = username("token-Billing API", "app-readonly-role", 1_700_000_000, 63);
        assert!(name.starts_with("v-token-bi-app-read-"), "{name}");
        assert!(name.ends_with("-1700000000"), "{name}");
        assert!(name.len() <= 63);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'));
        assert_ne!(username("a", "b", 1, 63), username("a", "b", 1, 63));
    }

    #[test]
    fn usernames_fit_mysql_limits_and_keep_their_randomness() {
        let name = username("token-Billing API", "app-readonly-role", 1_700_000_000, 32);
        assert_eq!(name.len(), 32, "{name}");
        assert!(name.starts_with("v-token-bi-app-read-"), "{name}");
        let legacy = username("token-Billing API", "app-readonly-role", 1_700_000_000, 16);
        assert_eq!(legacy.len(), 16, "{legacy}");
        assert!(legacy.starts_with("v-app--"), "{legacy}");
        assert_ne!(username("a", "b", 1, 16), username("a", "b", 1, 16));
    }

    #[test]
    fn passwords_are_long_and_distinct() {
        let a = password();
        assert_eq!(a.len(), 32);
        assert_ne!(a, password());
    }
}
