//! libpq's key/value connection strings (`host=db user=qm sslmode=require`),
//! which tokio-postgres accepts besides URLs: split into pairs so the TLS
//! parameters can be taken out, and the rest written back for tokio-postgres.
//! The grammar is tokio-postgres's (and libpq's): `key = value` separated by
//! white space, a value bare or in single quotes, `\` escaping any character.
//! Errors give a byte offset, never the text, which may be a password.

/// One `key=value`, the value with its quotes and escapes removed.
pub(crate) struct Pair<'a> {
    pub(crate) key: &'a str,
    pub(crate) value: String,
    /// The value as written (quotes and escapes kept), to scrub it from messages.
    pub(crate) raw: &'a str,
}

/// Splits `text` into its pairs.
pub(crate) fn split(text: &str) -> Result<Vec<Pair<'_>>, String> {
    let mut pairs = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        let at = |rest: &str| text.len().saturating_sub(rest.len());
        let key_len = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let (key, after_key) = rest.split_at(key_len);
        let after_eq = after_key
            .trim_start()
            .strip_prefix('=')
            .ok_or_else(|| format!("connection string: expected `=` at byte {}", at(after_key)))?
            .trim_start();
        let (value, raw_len) = read_value(after_eq)
            .ok_or_else(|| format!("connection string: bad value at byte {}", at(after_eq)))?;
        let (raw, after_value) = after_eq.split_at(raw_len);
        if key.is_empty() {
            return Err(format!(
                "connection string: missing key at byte {}",
                at(rest)
            ));
        }
        pairs.push(Pair { key, value, raw });
        rest = after_value.trim_start();
    }
    Ok(pairs)
}

/// The value at the start of `text` and the bytes it takes: quoted up to
/// the closing quote, else bare up to white space. `None` if unterminated
/// or empty.
fn read_value(text: &str) -> Option<(String, usize)> {
    let quoted = text.starts_with('\'');
    let mut value = String::new();
    let mut chars = text.char_indices().skip(usize::from(quoted));
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => value.push(chars.next()?.1),
            '\'' if quoted => return Some((value, i.checked_add(1)?)),
            c if c.is_whitespace() && !quoted => return Some((value, i)),
            c => value.push(c),
        }
    }
    (!quoted && !value.is_empty()).then_some((value, text.len()))
}

/// `pairs` written back as one string, every value quoted.
pub(crate) fn join<'p>(pairs: impl IntoIterator<Item = (&'p str, &'p str)>) -> String {
    pairs
        .into_iter()
        .map(|(key, value)| format!("{key}='{}'", escape(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `value` with `\`, `'` and white space escaped: the same text whether it
/// lands bare or inside quotes.
pub(crate) fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c == '\\' || c == '\'' || c.is_whitespace() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String, String)> {
        split(text)
            .expect(text)
            .into_iter()
            .map(|p| (p.key.to_string(), p.value, p.raw.to_string()))
            .collect()
    }

    #[test]
    fn values_bare_quoted_and_escaped() {
        let got = pairs(" host=db  user = qm password='it\\'s a secret' sslkey=/k\\ x.pem ");
        let want = [
            ("host", "db", "db"),
            ("user", "qm", "qm"),
            ("password", "it's a secret", "'it\\'s a secret'"),
            ("sslkey", "/k x.pem", "/k\\ x.pem"),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for ((key, value, raw), want) in got.iter().zip(want) {
            assert_eq!((key.as_str(), value.as_str(), raw.as_str()), want);
        }
        assert!(pairs("").is_empty());
        assert_eq!(pairs("password=''")[0].1, "");
    }

    #[test]
    fn what_is_joined_parses_back_the_same_in_tokio_postgres() {
        let value = "a b'c\\d";
        let joined = join([("user", value), ("password", value), ("dbname", "qm")]);
        let config: tokio_postgres::Config = joined.parse().expect("tokio-postgres parses it");
        assert_eq!(config.get_user(), Some(value));
        assert_eq!(config.get_password(), Some(value.as_bytes()));
        assert_eq!(config.get_dbname(), Some("qm"));
        let back = pairs(&joined);
        assert_eq!(back[0].1, value);
        assert_eq!(pairs(&format!("password={}", escape(value)))[0].1, value);
    }

    #[test]
    fn errors_give_a_place_not_the_text() {
        for bad in [
            "password='hunter2",
            "hunter2",
            "password=",
            "=hunter2",
            "password=hunter2\\",
        ] {
            let err = split(bad).err().unwrap_or_else(|| panic!("{bad} parsed"));
            assert!(!err.contains("hunter2"), "{bad}: {err}");
            assert!(err.contains("byte"), "{bad}: {err}");
        }
    }
}
