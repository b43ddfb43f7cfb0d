//! Durations as Vault accepts them: a bare number of seconds (`3600`,
//! `"3600"`) or a Go duration string (`"1h30m"`, `"90s"`, `"1.5h"`), plus `d`
//! for days as Vault's parseutil allows.

use serde_json::Value;

/// Parses a Vault-style duration into whole seconds.
pub fn parse_seconds(input: &str) -> Result<i64, String> {
    let text = input.trim();
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(seconds) = text.parse::<i64>() {
        return non_negative(seconds, input);
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("invalid duration {input:?}: missing unit"))?;
        if number_len == 0 {
            return Err(format!("invalid duration {input:?}"));
        }
        let number: f64 = rest[..number_len]
            .parse()
            .map_err(|_| format!("invalid duration {input:?}"))?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            unit => return Err(format!("invalid duration {input:?}: unknown unit {unit:?}")),
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if !total.is_finite() || total > 1e15 {
        return Err(format!("invalid duration {input:?}: too large"));
    }
    // Whole seconds; the float-to-int cast is bounded by the check above.
    #[allow(clippy::cast_possible_truncation)]
    let seconds = total.floor() as i64;
    non_negative(seconds, input)
}

fn non_negative(seconds: i64, input: &str) -> Result<i64, String> {
    if seconds < 0 {
        Err(format!("invalid duration {input:?}: negative"))
    } else {
        Ok(seconds)
    }
}

/// Reads a duration field from request data, which clients send as a number
/// or a string. `Ok(None)` when the field is absent or null.
pub fn field_seconds(value: Option<&Value>, field: &str) -> Result<Option<i64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|s| *s >= 0)
            .map(Some)
            .ok_or_else(|| format!("{field}: expected a non-negative whole number of seconds")),
        Some(Value::String(s)) => parse_seconds(s)
            .map(Some)
            .map_err(|e| format!("{field}: {e}")),
        Some(_) => Err(format!(
            "{field}: expected a duration such as \"1h\" or 3600"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vault_duration_forms() {
        assert_eq!(parse_seconds("3600"), Ok(3600));
        assert_eq!(parse_seconds("1h30m"), Ok(5400));
        assert_eq!(parse_seconds("90s"), Ok(90));
        assert_eq!(parse_seconds("1.5h"), Ok(5400));
        assert_eq!(parse_seconds("768h"), Ok(2_764_800));
        assert_eq!(parse_seconds("2d"), Ok(172_800));
        assert_eq!(parse_seconds(""), Ok(0));
        assert!(parse_seconds("ten minutes").is_err());
        assert!(parse_seconds("5x").is_err());
        assert!(parse_seconds("-5").is_err());
        assert!(parse_seconds("h").is_err());
    }

    #[test]
    fn reads_fields_as_number_or_string() {
        assert_eq!(field_seconds(Some(&Value::from(30)), "ttl"), Ok(Some(30)));
        assert_eq!(field_seconds(Some(&Value::from("1m")), "ttl"), Ok(Some(60)));
        assert_eq!(field_seconds(None, "ttl"), Ok(None));
        let err = field_seconds(Some(&Value::Bool(true)), "ttl").unwrap_err();
        assert!(err.starts_with("ttl:"));
    }
}
