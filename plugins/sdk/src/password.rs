//! Generated passwords: one generator for every plugin, driven by a
//! [`PasswordPolicy`] as Vault's password policies are: a length and
//! character sets, each with a minimum count. The rest of the length is
//! drawn from all the sets together, then the characters are shuffled, all
//! from the OS CSPRNG.
//!
//! The default policy gives 32 characters with at least one lower-case
//! letter, upper-case letter, digit and `-` (Vault's default asks for 20 of
//! the same classes): about 190 bits.

use crate::PluginError;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
/// The longest password a policy may ask for.
const MAX_LENGTH: usize = 1024;

/// A character set and how many of its characters a password must have.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Charset {
    chars: Vec<char>,
    min: usize,
}

/// How passwords are generated: length and character sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordPolicy {
    length: usize,
    charsets: Vec<Charset>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        let set = |chars: &str| Charset {
            chars: chars.chars().collect(),
            min: 1,
        };
        Self {
            length: 32,
            charsets: vec![set(LOWER), set(UPPER), set(DIGITS), set("-")],
        }
    }
}

impl PasswordPolicy {
    /// A policy of `length` characters from `charsets` (`(characters,
    /// minimum count)`). Characters must be printable ASCII other than
    /// quotes and backslash (they end up inside SQL literals and URLs).
    pub fn new(length: usize, charsets: &[(&str, usize)]) -> Result<Self, PluginError> {
        let bad = |m: String| Err(PluginError::BadRequest(format!("password policy: {m}")));
        if length == 0 || length > MAX_LENGTH {
            return bad(format!("length must be 1 to {MAX_LENGTH}"));
        }
        if charsets.is_empty() {
            return bad("needs at least one character set".into());
        }
        let mut required: usize = 0;
        let mut sets = Vec::with_capacity(charsets.len());
        for (chars, min) in charsets {
            let chars: Vec<char> = chars.chars().collect();
            if chars.is_empty() {
                return bad("a character set is empty".into());
            }
            if !chars
                .iter()
                .all(|c| c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '\\'))
            {
                return bad(
                    "characters must be printable ASCII without quotes or backslash".into(),
                );
            }
            required = required.saturating_add(*min);
            sets.push(Charset { chars, min: *min });
        }
        if required > length {
            return bad(format!(
                "the minimum counts ({required}) exceed the length ({length})"
            ));
        }
        Ok(Self {
            length,
            charsets: sets,
        })
    }

    /// A new password under this policy.
    pub fn generate(&self) -> String {
        let mut rng = OsRng;
        let all: Vec<char> = self
            .charsets
            .iter()
            .flat_map(|set| set.chars.iter().copied())
            .collect();
        let mut out: Vec<char> = Vec::with_capacity(self.length);
        for set in &self.charsets {
            out.extend((0..set.min).filter_map(|_| set.chars.choose(&mut rng).copied()));
        }
        while out.len() < self.length {
            match all.choose(&mut rng) {
                Some(c) => out.push(*c),
                None => break,
            }
        }
        out.shuffle(&mut rng);
        out.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_passwords_are_long_mixed_and_distinct() {
        let policy = PasswordPolicy::default();
        for _ in 0..200 {
            let p = policy.generate();
            assert_eq!(p.len(), 32);
            assert!(p.chars().any(|c| c.is_ascii_lowercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_uppercase()), "{p}");
            assert!(p.chars().any(|c| c.is_ascii_digit()), "{p}");
            assert!(p.contains('-'), "{p}");
            assert!(p.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        }
        assert_ne!(policy.generate(), policy.generate());
    }

    #[test]
    fn custom_policies_meet_their_minimums_and_are_validated() {
        let policy = PasswordPolicy::new(8, &[("ab", 6), ("!", 2)]).unwrap();
        let p = policy.generate();
        assert_eq!(p.len(), 8);
        assert_eq!(p.chars().filter(|c| *c == '!').count(), 2, "{p}");
        assert!(PasswordPolicy::new(4, &[("ab", 5)]).is_err());
        assert!(PasswordPolicy::new(8, &[("", 0)]).is_err());
        assert!(PasswordPolicy::new(8, &[("a'b", 1)]).is_err());
        assert!(PasswordPolicy::new(0, &[("ab", 0)]).is_err());
        assert!(PasswordPolicy::new(8, &[]).is_err());
    }
}
