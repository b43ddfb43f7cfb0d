//! Durations as Vault accepts them: a bare number of seconds (`3600`,
//! `"3600"`) or a Go duration string (`"1h30m"`, `"90s"`, `"1.5h"`), plus `d`
//! for days as Vault's parseutil allows.
//!
//! This is the one parser every duration from a client goes through, and it
//! has one bound: [`MAX_SECONDS`]. Anything longer, negative, fractional in
//! a JSON number, or not a duration at all is an error naming the field, so
//! no later `now + ttl`, date formatting or comparison can overflow or panic.
//! Callers still clamp to the mount's and the system's max TTL.

use serde_json::Value;

/// The longest duration accepted anywhere: 100 years. `now + MAX_SECONDS`
/// and sums of a few such values stay far inside `i64` and before year 9999.
pub const MAX_SECONDS: i64 = 100 * 365 * 86_400;

/// Parses a Vault-style duration into whole seconds.
pub fn parse_seconds(input: &str) -> Result<i64, String> {
    let text = input.trim();
    let input = shown(input);
    let input = input.as_str();
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
        let (digits, after) = rest
            .split_at_checked(number_len)
            .ok_or_else(|| format!("invalid duration {input:?}"))?;
        let number: f64 = digits
            .parse()
            .map_err(|_| format!("invalid duration {input:?}"))?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after
            .split_at_checked(unit_len)
            .ok_or_else(|| format!("invalid duration {input:?}"))?;
        let scale = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            unit => return Err(format!("invalid duration {input:?}: unknown unit {unit:?}")),
        };
        rest = after;
        total += number * scale;
    }
    if !total.is_finite() || total > MAX_SECONDS as f64 {
        return Err(too_long(input));
    }
    // Whole seconds; the float-to-int cast is bounded by the check above.
    #[allow(clippy::cast_possible_truncation)]
    let seconds = total.floor() as i64;
    non_negative(seconds, input)
}

fn non_negative(seconds: i64, input: &str) -> Result<i64, String> {
    if seconds < 0 {
        Err(format!("invalid duration {input:?}: negative"))
    } else if seconds > MAX_SECONDS {
        Err(too_long(input))
    } else {
        Ok(seconds)
    }
}

fn too_long(input: &str) -> String {
    format!(
        "invalid duration {input:?}: longer than the maximum of {MAX_SECONDS} seconds (100 years)"
    )
}

/// The input as errors quote it: at most 40 characters.
fn shown(input: &str) -> String {
    let mut chars = input.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

/// Reads a duration field from request data, which clients send as a number
/// or a string. `Ok(None)` when the field is absent or null.
pub fn field_seconds(value: Option<&Value>, field: &str) -> Result<Option<i64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(seconds) => non_negative(seconds, &n.to_string())
                .map(Some)
                .map_err(|e| format!("{field}: {e}")),
            None => Err(format!(
                "{field}: expected a non-negative whole number of seconds"
            )),
        },
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
    fn refuses_durations_past_the_bound() {
        assert_eq!(parse_seconds("876000h"), Ok(MAX_SECONDS));
        for hostile in [
            "300000000000",
            "9223372036854775807",
            "99999999999999999999999",
            "1e300h",
            "876001h",
            "-1s",
            "NaNh",
            "infh",
        ] {
            assert!(parse_seconds(hostile).is_err(), "{hostile}");
        }
        for hostile in [
            serde_json::json!(300_000_000_000i64),
            serde_json::json!(i64::MAX),
            serde_json::json!(u64::MAX),
            serde_json::json!(-5),
            serde_json::json!(1.5),
            serde_json::json!([1]),
        ] {
            assert!(field_seconds(Some(&hostile), "ttl").is_err(), "{hostile}");
        }
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
