//! Generated usernames. Without a `username_template` they are readable
//! and traceable: `v-<display>-<role>-<random>-<unix time>`, cut to the
//! driver's limit (63 for PostgreSQL, 32 for MySQL: at least 12 random
//! characters stay). Below 32 (MySQL before 5.7: 16) they are
//! `v-<role>-<random>`, as Vault's legacy MySQL template.
//!
//! With a config's `username_template` (Vault's Go template subset, see
//! [`qm_plugin_sdk::template`]) the name is the template's, and stricter
//! than Vault, every name must pass [`check`]: at most the driver's
//! length (Vault lets PostgreSQL cut a long name silently, so the user
//! revoked later is not the one created), only `A-Z a-z 0-9 - _ . @` (the
//! name lands unescaped in statement templates), and at least
//! [`MIN_RANDOM_CHARS`] characters from `random` or `uuid` (so two
//! credentials never get one name). The template is tried at config write
//! with sample fields and checked again on every name it makes.

use qm_plugin_sdk::template::{Fields, Template};
use qm_plugin_sdk::PluginError;
use rand::distributions::{Alphanumeric, DistString};

/// The shortest limit the full form fits with enough randomness.
const FULL_FORM_MIN: usize = 32;
/// How many characters of a templated name must be random.
pub(crate) const MIN_RANDOM_CHARS: usize = 8;
/// The fields a template is tried with at config write.
const SAMPLE: Fields<'static> = Fields {
    display_name: "token-example",
    role_name: "example-role",
};

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

/// The default name, of at most `max_len` characters.
fn default_name(display_name: &str, role: &str, now: i64, max_len: usize) -> String {
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

/// Whether a generated name may be used: not empty, at most `max_len`
/// characters, only the characters every driver's statements take.
pub(crate) fn check(name: &str, max_len: usize) -> Result<(), String> {
    let shown: String = name.chars().take(80).collect();
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.chars().count() > max_len {
        return Err(format!(
            "{shown:?} is longer than the database's {max_len} characters (use truncate)"
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')))
    {
        return Err(format!(
            "{shown:?} has {bad:?}; names take only A-Z a-z 0-9 - _ . @ (use replace)"
        ));
    }
    Ok(())
}

/// A template's name for `fields`, checked.
fn templated(
    template: &Template,
    fields: &Fields<'_>,
    now: i64,
    max_len: usize,
) -> Result<String, String> {
    let kept = template.random_chars_kept(fields, now)?;
    if kept < MIN_RANDOM_CHARS {
        return Err(format!(
            "only {kept} characters of the name come from random or uuid; at least \
             {MIN_RANDOM_CHARS} must (so two credentials never get one name)"
        ));
    }
    let name = template.render(fields, now)?;
    check(&name, max_len)?;
    Ok(name)
}

/// Parses a config's `username_template` and tries it with sample fields.
pub(crate) fn check_template(text: &str, now: i64, max_len: usize) -> Result<(), PluginError> {
    let template = Template::parse(text)
        .map_err(|e| PluginError::BadRequest(format!("username_template: {e}")))?;
    templated(&template, &SAMPLE, now, max_len)
        .map(|_| ())
        .map_err(|e| PluginError::BadRequest(format!("username_template: {e}")))
}

/// A new username of at most `max_len` characters, from the config's
/// template (`""`: the default form).
pub(crate) fn username(
    template: &str,
    display_name: &str,
    role: &str,
    now: i64,
    max_len: usize,
) -> Result<String, PluginError> {
    if template.is_empty() {
        return Ok(default_name(display_name, role, now, max_len));
    }
    let fields = Fields {
        display_name,
        role_name: role,
    };
    Template::parse(template)
        .and_then(|t| templated(&t, &fields, now, max_len))
        .map_err(|e| {
            PluginError::BadRequest(format!(
                "the database config's username_template makes no usable name here: {e}"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTGRES_DEFAULT: &str = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#;

    fn name(display: &str, role: &str, max_len: usize) -> String {
        username("", display, role, 1_700_000_000, max_len).unwrap()
    }

    #[test]
    fn usernames_are_traceable_and_fit_postgres() {
        let name = name("token-Billing API", "app-readonly-role", 63);
        assert!(name.starts_with("v-token-bi-app-read-"), "{name}");
        assert!(name.ends_with("-1700000000"), "{name}");
        assert!(name.len() <= 63);
        assert!(name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'));
        assert_ne!(self::name("a", "b", 63), self::name("a", "b", 63));
    }

    #[test]
    fn usernames_fit_mysql_limits_and_keep_their_randomness() {
        let name = name("token-Billing API", "app-readonly-role", 32);
        assert_eq!(name.len(), 32, "{name}");
        assert!(name.starts_with("v-token-bi-app-read-"), "{name}");
        let legacy = self::name("token-Billing API", "app-readonly-role", 16);
        assert_eq!(legacy.len(), 16, "{legacy}");
        assert!(legacy.starts_with("v-app--"), "{legacy}");
        assert_ne!(self::name("a", "b", 16), self::name("a", "b", 16));
    }

    #[test]
    fn templates_make_the_names_vault_would() {
        assert!(check_template(POSTGRES_DEFAULT, 1, 63).is_ok());
        let name = username(POSTGRES_DEFAULT, "token-billing", "app", 1_700_000_000, 63).unwrap();
        assert!(name.starts_with("v-token-bi-app-"), "{name}");
        assert!(name.ends_with("-1700000000"), "{name}");
        let mysql = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 10) (.RoleName | truncate 10) (random 20) (unix_time) | truncate 32 }}"#;
        assert!(check_template(mysql, 1_700_000_000, 32).is_ok());
        let legacy = r#"{{ printf "v-%s-%s" (.RoleName | truncate 4) (random 20) | truncate 16 }}"#;
        assert!(check_template(legacy, 1_700_000_000, 16).is_ok());
        let uuid = "app_{{ uuid | replace \"-\" \"\" }}";
        let name = username(uuid, "t", "r", 1, 63).unwrap();
        assert_eq!(name.len(), 36, "{name}");
    }

    #[test]
    fn templates_are_refused_where_names_could_collide_or_break() {
        for (template, max_len, expected) in [
            ("{{ .RoleName }}", 63, "at least 8 must"),
            ("v-{{ random 5 }}", 63, "only 5 characters"),
            (
                "{{ printf \"%s-%s\" .DisplayName (random 20) | truncate 16 }}",
                63,
                "only 2",
            ),
            (POSTGRES_DEFAULT, 32, "longer than the database's 32"),
            (
                "x\"; DROP ROLE admin; --{{ random 10 }}",
                63,
                "names take only",
            ),
            ("{{ random 10 }} {{ random 10 }}", 63, "names take only"),
            ("{{ sha256 .RoleName }}", 63, "unsupported function"),
            ("{{ random 10", 63, "never closed"),
        ] {
            let error = check_template(template, 1, max_len)
                .unwrap_err()
                .to_string();
            assert!(error.starts_with("username_template: "), "{error}");
            assert!(error.contains(expected), "{template}: {error}");
        }
        // A display name the sample did not have is checked when used.
        let error = username(
            "{{ .DisplayName }}-{{ random 10 }}",
            "token-a'b",
            "r",
            1,
            63,
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains("names take only"), "{error}");
    }
}
