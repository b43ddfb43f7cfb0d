//! Statement templates as Vault renders them (`{{name}}`, `{{username}}`,
//! `{{password}}`, `{{expiration}}`), and the one way drivers take secrets
//! out of error messages.

use std::time::Duration;

/// Values substituted into templates.
pub struct Vars<'a> {
    pub name: &'a str,
    pub password: &'a str,
    pub expiration: &'a str,
}

/// Renders one template.
pub fn render(template: &str, vars: &Vars<'_>) -> String {
    template
        .replace("{{name}}", vars.name)
        .replace("{{username}}", vars.name)
        .replace("{{password}}", vars.password)
        .replace("{{expiration}}", vars.expiration)
}

/// Renders each statement and joins them into one multi-statement string.
pub fn render_all(statements: &[String], vars: &Vars<'_>) -> String {
    statements
        .iter()
        .map(|s| render(s, vars))
        .collect::<Vec<_>>()
        .join(";\n")
}

/// Unix seconds as Vault's `{{expiration}}` text (`2026-01-02 15:04:05+0000`,
/// Go's `2006-01-02 15:04:05-0700`), which PostgreSQL and MySQL both read.
pub fn expiration(unix: i64) -> String {
    let secs = u64::try_from(unix).unwrap_or(0);
    let text = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH
            .checked_add(Duration::from_secs(secs))
            .unwrap_or(std::time::UNIX_EPOCH),
    )
    .to_string();
    text.replace('T', " ").replace('Z', "+0000")
}

/// Removes every occurrence of each secret (of 4 characters or more) from a
/// message.
pub fn sanitize(message: &str, secrets: &[&str]) -> String {
    secrets
        .iter()
        .filter(|s| s.len() >= 4)
        .fold(message.to_string(), |m, s| m.replace(s, "[redacted]"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_expirations_and_sanitizing() {
        let vars = Vars {
            name: "v-a",
            password: "pw123456",
            expiration: "2030-01-01 00:00:00+0000",
        };
        assert_eq!(
            render(
                "CREATE ROLE \"{{name}}\" PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'",
                &vars
            ),
            "CREATE ROLE \"v-a\" PASSWORD 'pw123456' VALID UNTIL '2030-01-01 00:00:00+0000'"
        );
        assert_eq!(
            render_all(&["A {{username}}".into(), "B".into()], &vars),
            "A v-a;\nB"
        );
        assert_eq!(
            sanitize("bad password hunter22 here", &["hunter22", "x"]),
            "bad password [redacted] here"
        );
        assert_eq!(expiration(0), "1970-01-01 00:00:00+0000");
    }
}
