//! Generated passwords: one generator for every plugin, driven by a
//! [`PasswordPolicy`] as Vault's password policies are: a length and
//! character sets, each with a minimum count. The minimums are drawn from
//! their sets first, the rest of the length from the pool of every set's
//! characters (a character in two sets is in the pool once, so it is not
//! drawn twice as often), then the characters are shuffled, all from the OS
//! CSPRNG. Unlike Vault's generator, which draws and retries until the
//! rules hold, this one meets the minimums by construction: a valid policy
//! never fails or loops.
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
/// The shortest password a policy may ask for (Vault's minimum).
pub const MIN_LENGTH: usize = 4;
/// The longest password a policy may ask for.
pub const MAX_LENGTH: usize = 1024;
/// The most character sets (rules) one policy may have.
pub const MAX_RULES: usize = 64;

/// A character set (each character once) and how many of its characters a
/// password must have.
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
    /// Every set's characters, each once.
    pool: Vec<char>,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        let sets = [(LOWER, 1), (UPPER, 1), (DIGITS, 1), ("-", 1)];
        Self::new(32, &sets).unwrap_or_else(|_| unreachable!("the default policy is valid"))
    }
}

/// Whether `c` may be in a generated password: printable ASCII other than
/// quotes and backslash, since passwords end up inside SQL literals and
/// URLs.
fn allowed(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '\'' | '"' | '\\')
}

/// `chars` sorted, each once.
fn distinct(chars: impl Iterator<Item = char>) -> Vec<char> {
    let mut chars: Vec<char> = chars.collect();
    chars.sort_unstable();
    chars.dedup();
    chars
}

impl PasswordPolicy {
    /// A policy of `length` characters from `charsets` (`(characters,
    /// minimum count)`). Characters must be printable ASCII other than
    /// quotes and backslash.
    pub fn new(length: usize, charsets: &[(&str, usize)]) -> Result<Self, PluginError> {
        let bad = |m: String| Err(PluginError::BadRequest(format!("password policy: {m}")));
        if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
            return bad(format!(
                "length must be {MIN_LENGTH} to {MAX_LENGTH}, not {length}"
            ));
        }
        if charsets.is_empty() {
            return bad("needs at least one charset rule".into());
        }
        if charsets.len() > MAX_RULES {
            return bad(format!("at most {MAX_RULES} rules, not {}", charsets.len()));
        }
        let mut required: usize = 0;
        let mut sets = Vec::with_capacity(charsets.len());
        for (chars, min) in charsets {
            if chars.is_empty() {
                return bad("a charset is empty".into());
            }
            if !chars.chars().all(allowed) {
                return bad(
                    "charset characters must be printable ASCII without quotes or backslashes"
                        .into(),
                );
            }
            required = required.saturating_add(*min);
            sets.push(Charset {
                chars: distinct(chars.chars()),
                min: *min,
            });
        }
        if required > length {
            return bad(format!(
                "the rules need at least {required} characters but the length is {length}"
            ));
        }
        let pool = distinct(sets.iter().flat_map(|set| set.chars.iter().copied()));
        Ok(Self {
            length,
            charsets: sets,
            pool,
        })
    }

    /// The length of every password under this policy.
    pub fn length(&self) -> usize {
        self.length
    }

    /// A new password under this policy.
    pub fn generate(&self) -> String {
        let mut rng = OsRng;
        let mut out: Vec<char> = Vec::with_capacity(self.length);
        for set in &self.charsets {
            out.extend((0..set.min).filter_map(|_| set.chars.choose(&mut rng).copied()));
        }
        while out.len() < self.length {
            match self.pool.choose(&mut rng) {
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
        let digits = PasswordPolicy::new(12, &[("0123456789", 0)]).unwrap();
        let p = digits.generate();
        assert!(
            p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()),
            "{p}"
        );
        for (length, sets) in [
            (4, &[("ab", 5)][..]),
            (8, &[("", 0)]),
            (8, &[("a'b", 1)]),
            (8, &[("a b", 1)]),
            (8, &[("aé", 1)]),
            (3, &[("ab", 0)]),
            (MAX_LENGTH + 1, &[("ab", 0)]),
            (8, &[]),
            (8, &[("a", usize::MAX), ("b", usize::MAX)]),
        ] {
            assert!(
                PasswordPolicy::new(length, sets).is_err(),
                "{length} {sets:?}"
            );
        }
        let many: Vec<(&str, usize)> = vec![("a", 0); MAX_RULES + 1];
        assert!(PasswordPolicy::new(8, &many).is_err());
        assert!(PasswordPolicy::new(MAX_LENGTH, &many[..MAX_RULES]).is_ok());
    }

    #[test]
    fn a_character_in_two_sets_is_drawn_as_often_as_the_others() {
        // "a" in both sets: the pool is {a, b}, so about half the characters
        // are "a" (not two thirds, as a pool of a, a, b would give).
        let policy = PasswordPolicy::new(1000, &[("ab", 0), ("a", 0)]).unwrap();
        let p = policy.generate();
        let a = p.chars().filter(|c| *c == 'a').count();
        assert!((400..600).contains(&a), "{a} of 1000");
        let repeated = PasswordPolicy::new(8, &[("aaaaab", 0)]).unwrap();
        assert_eq!(repeated.pool, vec!['a', 'b']);
    }
}
