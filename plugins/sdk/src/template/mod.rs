//! Username templates as Vault's `username_template` takes them: Go
//! templates over the fields `.DisplayName` and `.RoleName`, with Vault's
//! functions (see [`funcs`] for the list), pipes `|` and parentheses, e.g.
//! Vault's PostgreSQL default:
//!
//! ```text
//! {{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}
//! ```
//!
//! The text comes from API callers, so it is read without recursion on its
//! length (a flat program run on a value stack; parentheses at most
//! [`compile::MAX_DEPTH`] deep), at most [`MAX_TEMPLATE_BYTES`] long, and
//! every value it makes is bounded. Go's control structures (`if`,
//! `range`, …), variables and Vault's hashing functions (`sha256`,
//! `truncate_sha256`, `base64`, `timestamp`) are refused when the template
//! is parsed, naming what is supported.

mod compile;
mod funcs;
mod lexer;
mod render;

use render::Entropy;

/// The longest template accepted.
pub const MAX_TEMPLATE_BYTES: usize = 4096;

/// The data a template sees.
#[derive(Debug, Clone, Copy)]
pub struct Fields<'a> {
    pub display_name: &'a str,
    pub role_name: &'a str,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    program: Vec<compile::Op>,
}

impl Template {
    /// Parses `text`; the error names the problem.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.len() > MAX_TEMPLATE_BYTES {
            return Err(format!(
                "longer than {MAX_TEMPLATE_BYTES} bytes ({} bytes)",
                text.len()
            ));
        }
        if text.trim().is_empty() {
            return Err("empty".into());
        }
        let program = compile::compile(lexer::pieces(text)?)?;
        Ok(Self { program })
    }

    /// A name for `fields` at unix time `now` (seconds), with fresh
    /// randomness from the OS.
    pub fn render(&self, fields: &Fields<'_>, now: i64) -> Result<String, String> {
        render::run(&self.program, fields, now, Entropy::Os)
    }

    /// How many characters of the output come from `random` or `uuid` for
    /// these fields: the template is run twice with each random character
    /// fixed to a different letter, and the outputs compared. A template
    /// whose random part is missing, or cut off by `truncate`, keeps none.
    pub fn random_chars_kept(&self, fields: &Fields<'_>, now: i64) -> Result<usize, String> {
        let first = render::run(&self.program, fields, now, Entropy::Fixed('a'))?;
        let second = render::run(&self.program, fields, now, Entropy::Fixed('b'))?;
        let differing = first
            .chars()
            .zip(second.chars())
            .filter(|(a, b)| a != b)
            .count();
        Ok(differing.saturating_add(first.chars().count().abs_diff(second.chars().count())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTGRES_DEFAULT: &str = r#"{{ printf "v-%s-%s-%s-%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 20) (unix_time) | truncate 63 }}"#;
    const FIELDS: Fields<'static> = Fields {
        display_name: "token-billing-api",
        role_name: "app-readonly",
    };

    fn render(text: &str) -> Result<String, String> {
        Template::parse(text)?.render(&FIELDS, 1_700_000_000)
    }

    #[test]
    fn vaults_postgres_default_renders_as_vault_would() {
        let name = render(POSTGRES_DEFAULT).unwrap();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 7, "{name}");
        assert!(name.starts_with("v-token-bi-app-read-"), "{name}");
        assert!(name.ends_with("-1700000000"), "{name}");
        let random = parts.get(5).copied().unwrap_or_default();
        assert_eq!(random.len(), 20, "{name}");
        assert!(random.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
        assert_ne!(render(POSTGRES_DEFAULT), render(POSTGRES_DEFAULT));
        let template = Template::parse(POSTGRES_DEFAULT).unwrap();
        assert_eq!(template.random_chars_kept(&FIELDS, 1).unwrap(), 20);
    }

    #[test]
    fn functions_pipes_and_parentheses() {
        for (text, expected) in [
            ("{{ .RoleName | uppercase }}", "APP-READONLY"),
            ("{{ .RoleName | replace \"-\" \"_\" }}", "app_readonly"),
            ("{{ \"ABC\" | lowercase | truncate 2 }}", "ab"),
            ("{{ truncate 3 .DisplayName }}", "tok"),
            (
                "x-{{ unix_time }}-{{ unix_time_millis }}",
                "x-1700000000-1700000000000",
            ),
            (
                "{{ printf \"%s/%d/%v/%%\" .RoleName 7 (.RoleName | truncate 3) }}",
                "app-readonly/7/app/%",
            ),
            (
                "{{ printf \"%s\" (printf \"%s\" (printf \"%s\" .RoleName)) }}",
                "app-readonly",
            ),
            ("a {{- \" b \" -}} c", "a b c"),
            ("{{ 42 }}", "42"),
        ] {
            assert_eq!(render(text).as_deref(), Ok(expected), "{text}");
        }
        let uuid = render("{{ uuid }}").unwrap();
        assert_eq!(uuid.len(), 36, "{uuid}");
        assert_eq!(uuid.matches('-').count(), 4, "{uuid}");
        assert_eq!(render("{{ random 12 }}").unwrap().len(), 12);
    }

    #[test]
    fn random_parts_cut_off_by_truncate_are_seen() {
        let kept = |text: &str| {
            Template::parse(text)
                .unwrap()
                .random_chars_kept(&FIELDS, 1)
                .unwrap()
        };
        assert_eq!(kept("v-{{ .RoleName }}"), 0);
        assert_eq!(
            kept("{{ printf \"%s-%s\" .DisplayName (random 20) | truncate 20 }}"),
            2
        );
        assert_eq!(kept("{{ uuid }}"), 32);
        assert_eq!(kept("{{ random 5 | uppercase }}-{{ random 3 }}"), 8);
    }

    #[test]
    fn bad_templates_are_errors_that_say_why() {
        for (text, expected) in [
            ("", "empty"),
            ("{{ sha256 .RoleName }}", "unsupported function \"sha256\""),
            (
                "{{ if .RoleName }}x{{ end }}",
                "unsupported function \"if\"",
            ),
            ("{{ .Nope }}", "unknown field .Nope"),
            ("{{ }}", "empty action"),
            ("{{ .RoleName | }}", "command is missing"),
            ("{{ | truncate 3 }}", "command is missing"),
            ("{{ .RoleName | .DisplayName }}", "only a function"),
            ("{{ .RoleName 3 }}", "cannot take arguments"),
            ("{{ truncate 3 }}", "takes 2 argument"),
            ("{{ unix_time 3 }}", "takes 0 argument"),
            ("{{ (random 3 }}", "never closed"),
            ("{{ random 3) }}", "unexpected \")\""),
            ("{{ truncate \"3\" .RoleName }}", "must be an integer"),
            ("{{ truncate 0 .RoleName }}", "must be > 0"),
            ("{{ truncate -5 .RoleName }}", "must be > 0"),
            ("{{ random 100000 }}", "1 to 256"),
            ("{{ printf \"%s %s\" .RoleName }}", "more arguments"),
            ("{{ printf \"%s\" .RoleName 1 }}", "more arguments than"),
            ("{{ printf \"%x\" .RoleName }}", "unsupported verb"),
            ("{{ printf \"%d\" .RoleName }}", "needs an integer"),
            ("{{ uppercase 3 }}", "must be a string"),
        ] {
            let error = render(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }

    #[test]
    fn hostile_templates_are_bounded() {
        let deep =
            "{{ ".to_string() + &"(".repeat(100_000) + "random 3" + &")".repeat(100_000) + " }}";
        assert!(Template::parse(&deep).unwrap_err().contains("longer than"));
        let deep = "{{ ".to_string() + &"(".repeat(500) + "random 3" + &")".repeat(500) + " }}";
        assert!(Template::parse(&deep).unwrap_err().contains("levels deep"));
        let fine = "{{ ".to_string() + &"(".repeat(8) + "random 3" + &")".repeat(8) + " }}";
        assert_eq!(render(&fine).unwrap().len(), 3);
        let growing =
            "{{ .RoleName".to_string() + &" | replace \"\" \"xxxxxxxx\"".repeat(20) + " }}";
        assert!(render(&growing).unwrap_err().contains("grows past"));
        let long_pipe = "{{ .RoleName".to_string() + &" | lowercase".repeat(300) + " }}";
        assert_eq!(render(&long_pipe).unwrap(), "app-readonly");
        let many = "{{ random 200 }}".repeat(10);
        assert!(render(&many).unwrap_err().contains("grows past"));
    }
}
