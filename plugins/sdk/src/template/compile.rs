//! Turns the lexer's pieces into a flat program for a stack machine, so
//! rendering needs no recursion. Parentheses are the only nesting; the
//! compiler descends into them at most [`MAX_DEPTH`] levels deep.
//!
//! A pipeline `a | f x | g` is Go's: each command after a `|` is a
//! function that gets the value before it as its last argument, so it
//! compiles to `a`, `x`, `call f (2, piped)`, `call g (1, piped)`.

use super::funcs::Func;
use super::lexer::{Piece, Token};
use std::iter::Peekable;
use std::vec::IntoIter;

/// How deeply parentheses may nest.
pub(super) const MAX_DEPTH: usize = 8;

/// A field of the template's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    DisplayName,
    RoleName,
}

impl Field {
    fn named(name: &str) -> Result<Self, String> {
        match name {
            "DisplayName" => Ok(Self::DisplayName),
            "RoleName" => Ok(Self::RoleName),
            other => Err(format!(
                "unknown field .{other} (the fields are .DisplayName and .RoleName)"
            )),
        }
    }
}

/// One step of the program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    /// Appends literal text to the output.
    Text(String),
    Str(String),
    Int(i64),
    Field(Field),
    /// Calls `func` with the top `argc` values; `piped`: the deepest of
    /// them came through `|` and is the last argument.
    Call {
        func: Func,
        argc: usize,
        piped: bool,
    },
    /// Appends the top value to the output.
    Emit,
}

type Tokens = Peekable<IntoIter<Token>>;

/// The program of a whole template.
pub(super) fn compile(pieces: Vec<Piece>) -> Result<Vec<Op>, String> {
    let mut program = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => program.push(Op::Text(text)),
            Piece::Action(tokens) => {
                let mut tokens = tokens.into_iter().peekable();
                if tokens.peek().is_none() {
                    return Err("an empty action {{ }}".into());
                }
                pipeline(&mut tokens, 0, &mut program)?;
                if let Some(extra) = tokens.next() {
                    return Err(format!("unexpected {} in an action", describe(&extra)));
                }
                program.push(Op::Emit);
            }
        }
    }
    Ok(program)
}

fn describe(token: &Token) -> String {
    match token {
        Token::Close => "\")\"".into(),
        Token::Open => "\"(\"".into(),
        Token::Pipe => "\"|\"".into(),
        Token::Field(name) => format!(".{name}"),
        Token::Str(s) => format!("{s:?}"),
        Token::Int(n) => n.to_string(),
        Token::Ident(name) => format!("{name:?}"),
    }
}

fn at_command_end(tokens: &mut Tokens) -> bool {
    matches!(tokens.peek(), None | Some(Token::Pipe | Token::Close))
}

/// `command ("|" command)*`.
fn pipeline(tokens: &mut Tokens, depth: usize, out: &mut Vec<Op>) -> Result<(), String> {
    command(tokens, depth, false, out)?;
    while tokens.next_if_eq(&Token::Pipe).is_some() {
        command(tokens, depth, true, out)?;
    }
    Ok(())
}

/// A function with its arguments, or (not after `|`) a single value.
fn command(
    tokens: &mut Tokens,
    depth: usize,
    piped: bool,
    out: &mut Vec<Op>,
) -> Result<(), String> {
    if let Some(Token::Ident(name)) = tokens.peek() {
        let func = Func::named(name)?;
        tokens.next();
        let mut argc: usize = 0;
        while !at_command_end(tokens) {
            operand(tokens, depth, out)?;
            argc = argc.saturating_add(1);
        }
        if piped {
            argc = argc.saturating_add(1);
        }
        func.check_arity(argc)?;
        out.push(Op::Call { func, argc, piped });
        return Ok(());
    }
    if at_command_end(tokens) {
        return Err("a command is missing (before or after \"|\", or inside \"()\")".into());
    }
    if piped {
        return Err("only a function can follow \"|\"".into());
    }
    operand(tokens, depth, out)?;
    if !at_command_end(tokens) {
        return Err("a value cannot take arguments: only functions can".into());
    }
    Ok(())
}

/// One argument: a field, a literal, a function called without arguments,
/// or a parenthesized pipeline.
fn operand(tokens: &mut Tokens, depth: usize, out: &mut Vec<Op>) -> Result<(), String> {
    match tokens.next() {
        Some(Token::Field(name)) => out.push(Op::Field(Field::named(&name)?)),
        Some(Token::Str(s)) => out.push(Op::Str(s)),
        Some(Token::Int(n)) => out.push(Op::Int(n)),
        Some(Token::Ident(name)) => {
            let func = Func::named(&name)?;
            func.check_arity(0)?;
            out.push(Op::Call {
                func,
                argc: 0,
                piped: false,
            });
        }
        Some(Token::Open) => {
            let inner = depth.saturating_add(1);
            if inner > MAX_DEPTH {
                return Err(format!(
                    "parentheses nested more than {MAX_DEPTH} levels deep"
                ));
            }
            pipeline(tokens, inner, out)?;
            if tokens.next() != Some(Token::Close) {
                return Err("a \"(\" is never closed".into());
            }
        }
        Some(other) => return Err(format!("unexpected {}", describe(&other))),
        None => return Err("an argument is missing".into()),
    }
    Ok(())
}
