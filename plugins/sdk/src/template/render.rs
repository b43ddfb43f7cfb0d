//! Runs a compiled template: a loop over its program with a value stack,
//! no recursion. Every value and the output are bounded by
//! [`MAX_VALUE_CHARS`], so no chain of `replace` can grow a name without
//! limit.

use super::compile::{Field, Op};
use super::Fields;
use rand::rngs::OsRng;
use rand::seq::SliceRandom;

/// The longest value or output a template may produce.
pub(super) const MAX_VALUE_CHARS: usize = 1024;

/// A value on the stack: Go's templates here see strings and integers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Value {
    Str(String),
    Int(i64),
}

impl Value {
    fn chars(&self) -> usize {
        match self {
            Self::Str(s) => s.chars().count(),
            Self::Int(_) => 0,
        }
    }

    fn push_to(&self, out: &mut String) {
        match self {
            Self::Str(s) => out.push_str(s),
            Self::Int(n) => out.push_str(&n.to_string()),
        }
    }
}

/// Where `random` and `uuid` get their characters: the OS CSPRNG, or
/// (to see which output characters come from them) one fixed character.
#[derive(Debug, Clone, Copy)]
pub(super) enum Entropy {
    Os,
    Fixed(char),
}

impl Entropy {
    /// `n` characters from `alphabet` (which holds the fixed character).
    pub(super) fn draw(self, alphabet: &[u8], n: usize) -> String {
        match self {
            Self::Os => (0..n)
                .filter_map(|_| alphabet.choose(&mut OsRng).map(|b| char::from(*b)))
                .collect(),
            Self::Fixed(c) => std::iter::repeat_n(c, n).collect(),
        }
    }
}

fn too_long() -> String {
    format!("a value grows past {MAX_VALUE_CHARS} characters")
}

/// The template's output for `fields` at unix time `now`.
pub(super) fn run(
    program: &[Op],
    fields: &Fields<'_>,
    now: i64,
    entropy: Entropy,
) -> Result<String, String> {
    let mut out = String::new();
    let mut stack: Vec<Value> = Vec::new();
    for op in program {
        match op {
            Op::Text(text) => out.push_str(text),
            Op::Str(s) => stack.push(Value::Str(s.clone())),
            Op::Int(n) => stack.push(Value::Int(*n)),
            Op::Field(Field::DisplayName) => stack.push(Value::Str(fields.display_name.into())),
            Op::Field(Field::RoleName) => stack.push(Value::Str(fields.role_name.into())),
            Op::Call { func, argc, piped } => {
                let at = stack
                    .len()
                    .checked_sub(*argc)
                    .ok_or("the template's program is inconsistent")?;
                let mut args = stack.split_off(at);
                if *piped {
                    args.rotate_left(1);
                }
                let value = func.call(&args, now, entropy)?;
                if value.chars() > MAX_VALUE_CHARS {
                    return Err(too_long());
                }
                stack.push(value);
            }
            Op::Emit => stack
                .pop()
                .ok_or("the template's program is inconsistent")?
                .push_to(&mut out),
        }
        if out.chars().count() > MAX_VALUE_CHARS {
            return Err(too_long());
        }
    }
    Ok(out)
}
