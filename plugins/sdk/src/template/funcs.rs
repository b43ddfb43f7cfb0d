//! The functions a template may call, as Vault's `sdk/helper/template`
//! defines them (`random`, `truncate`, `uppercase`, `lowercase`,
//! `replace`, `unix_time`, `unix_time_millis`, `uuid`) plus Go's `printf`
//! with the verbs `%s`, `%v`, `%d` and `%%`. Type errors, wrong verbs and
//! missing or extra `printf` arguments are errors, where Go would print
//! `%!d(string=…)` into the name.

use super::render::{Entropy, Value};

/// Base62, as Vault's `random`.
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const HEX: &[u8] = b"0123456789abcdef";
/// The longest `random N`.
const MAX_RANDOM: i64 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Random,
    Truncate,
    Uppercase,
    Lowercase,
    Replace,
    UnixTime,
    UnixTimeMillis,
    Uuid,
    Printf,
}

const NAMES: [(&str, Func); 9] = [
    ("random", Func::Random),
    ("truncate", Func::Truncate),
    ("uppercase", Func::Uppercase),
    ("lowercase", Func::Lowercase),
    ("replace", Func::Replace),
    ("unix_time", Func::UnixTime),
    ("unix_time_millis", Func::UnixTimeMillis),
    ("uuid", Func::Uuid),
    ("printf", Func::Printf),
];

impl Func {
    pub(super) fn named(name: &str) -> Result<Self, String> {
        NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| *f)
            .ok_or_else(|| {
                let shown: String = name.chars().take(32).collect();
                let supported: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                format!(
                    "unsupported function {shown:?} (supported: {})",
                    supported.join(", ")
                )
            })
    }

    fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, f)| *f == self)
            .map_or("?", |(n, _)| *n)
    }

    /// Refuses a call with the wrong number of arguments.
    pub(super) fn check_arity(self, argc: usize) -> Result<(), String> {
        let expected = match self {
            Self::UnixTime | Self::UnixTimeMillis | Self::Uuid => 0,
            Self::Random | Self::Uppercase | Self::Lowercase => 1,
            Self::Truncate => 2,
            Self::Replace => 3,
            Self::Printf if argc >= 1 => return Ok(()),
            Self::Printf => 1,
        };
        if argc == expected {
            Ok(())
        } else {
            Err(format!(
                "{} takes {expected} argument(s), not {argc} (a value piped in with | counts as the last)",
                self.name()
            ))
        }
    }

    /// Calls the function (the arity is checked at compile time).
    pub(super) fn call(self, args: &[Value], now: i64, entropy: Entropy) -> Result<Value, String> {
        let name = self.name();
        let text = |i: usize| match args.get(i) {
            Some(Value::Str(s)) => Ok(s.as_str()),
            _ => Err(format!(
                "{name}: argument {} must be a string",
                i.saturating_add(1)
            )),
        };
        let int = |i: usize| match args.get(i) {
            Some(Value::Int(n)) => Ok(*n),
            _ => Err(format!(
                "{name}: argument {} must be an integer",
                i.saturating_add(1)
            )),
        };
        let value = match self {
            Self::Random => {
                let n = int(0)?;
                if !(1..=MAX_RANDOM).contains(&n) {
                    return Err(format!(
                        "random: the length must be 1 to {MAX_RANDOM}, not {n}"
                    ));
                }
                entropy.draw(BASE62, usize::try_from(n).unwrap_or(0))
            }
            Self::Truncate => {
                let n = int(0)?;
                if n <= 0 {
                    return Err(format!("truncate: the length must be > 0, not {n}"));
                }
                text(1)?
                    .chars()
                    .take(usize::try_from(n).unwrap_or(usize::MAX))
                    .collect()
            }
            Self::Uppercase => text(0)?.to_uppercase(),
            Self::Lowercase => text(0)?.to_lowercase(),
            Self::Replace => text(2)?.replace(text(0)?, text(1)?),
            Self::UnixTime => now.to_string(),
            Self::UnixTimeMillis => now.saturating_mul(1000).to_string(),
            Self::Uuid => {
                let hex = entropy.draw(HEX, 32);
                let mut out = String::with_capacity(36);
                for (i, c) in hex.chars().enumerate() {
                    if matches!(i, 8 | 12 | 16 | 20) {
                        out.push('-');
                    }
                    out.push(c);
                }
                out
            }
            Self::Printf => printf(text(0)?, args.get(1..).unwrap_or_default())?,
        };
        Ok(Value::Str(value))
    }
}

/// Go's `printf` for `%s`, `%v`, `%d` and `%%`.
fn printf(format: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let verb = chars.next();
        if verb == Some('%') {
            out.push('%');
            continue;
        }
        let arg = args
            .next()
            .ok_or_else(|| format!("printf: {format:?} needs more arguments"))?;
        match (verb, arg) {
            (Some('s' | 'v'), Value::Str(s)) => out.push_str(s),
            (Some('d' | 'v'), Value::Int(n)) => out.push_str(&n.to_string()),
            (Some('s'), Value::Int(_)) => return Err("printf: %s needs a string".into()),
            (Some('d'), Value::Str(_)) => return Err("printf: %d needs an integer".into()),
            (other, _) => {
                return Err(format!(
                    "printf: unsupported verb %{} (supported: %s, %v, %d, %%)",
                    other.map(String::from).unwrap_or_default()
                ))
            }
        }
    }
    if args.next().is_some() {
        return Err(format!("printf: more arguments than {format:?} uses"));
    }
    Ok(out)
}
