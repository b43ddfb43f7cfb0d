//! A reader for the HCL that policies are written in, without recursion.
//!
//! Policy text comes from API callers, so its reader must not be a way to
//! crash the server: a general HCL parser recurses once per nesting level,
//! and a few hundred `[` (or `- - -`, `1+1+…`, `%{if}`) overflow the stack
//! and abort the process. Vault reads policies with HCL version 1, which has
//! no expressions at all; this reader takes the same language: blocks with
//! labels, `key = value` (or `key: value`), strings (with escapes, taken
//! literally: `${` is not interpolated, as in HCL 1), heredocs, numbers,
//! booleans, lists and objects, and `#`, `//` and `/* */` comments. It keeps
//! its own stack, at most [`MAX_DEPTH`] levels deep, and turns the text into
//! the JSON value a JSON policy would be.
//!
//! Repeated blocks with the same labels become a list, as HCL does.

use serde_json::{Map, Number, Value};

/// How deeply blocks, objects and lists may nest.
pub(crate) const MAX_DEPTH: usize = 32;

/// Reads `text` into a JSON object, or says where and why it cannot.
pub(crate) fn parse(text: &str) -> Result<Value, String> {
    let tokens = tokenize(text)?;
    Parser::new(tokens).run()
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Number(Number),
    Bool(bool),
    Assign,
    Comma,
    OpenBrace,
    CloseBrace,
    OpenBracket,
    CloseBracket,
}

fn tokenize(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let mut lexer = Lexer {
        rest: text.chars(),
        line: 1,
    };
    let mut tokens = Vec::new();
    while let Some(c) = lexer.peek() {
        let line = lexer.line;
        let single = match c {
            '=' | ':' => Some(Token::Assign),
            ',' => Some(Token::Comma),
            '{' => Some(Token::OpenBrace),
            '}' => Some(Token::CloseBrace),
            '[' => Some(Token::OpenBracket),
            ']' => Some(Token::CloseBracket),
            _ => None,
        };
        if let Some(token) = single {
            lexer.bump();
            tokens.push((token, line));
            continue;
        }
        match (c, lexer.peek_second()) {
            (c, _) if c.is_whitespace() => {
                lexer.bump();
            }
            ('#', _) | ('/', Some('/')) => lexer.skip_line(),
            ('/', Some('*')) => lexer.skip_block_comment()?,
            ('"', _) => {
                lexer.bump();
                tokens.push((Token::Str(lexer.quoted()?), line));
            }
            ('<', Some('<')) => {
                lexer.bump();
                lexer.bump();
                tokens.push((Token::Str(lexer.heredoc()?), line));
            }
            (c, _) if c.is_ascii_digit() || c == '-' || c == '+' => {
                let raw = lexer.take_while(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')
                });
                tokens.push((Token::Number(number(&raw, line)?), line));
            }
            (c, _) if c.is_alphabetic() || c == '_' => {
                let word = lexer.take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'));
                let token = match word.as_str() {
                    "true" => Token::Bool(true),
                    "false" => Token::Bool(false),
                    _ => Token::Ident(word),
                };
                tokens.push((token, line));
            }
            (other, _) => {
                return Err(format!(
                    "line {line}: unexpected character {other:?} (policies take blocks, attributes, strings, numbers, booleans, lists and objects)"
                ))
            }
        }
    }
    Ok(tokens)
}

/// The text still to read and the line it is on.
struct Lexer<'a> {
    rest: std::str::Chars<'a>,
    line: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.clone().next()
    }

    fn peek_second(&self) -> Option<char> {
        self.rest.clone().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.rest.next()?;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
        }
        Some(c)
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut taken = String::new();
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            taken.push(c);
            self.bump();
        }
        taken
    }

    /// Up to (not past) the end of the line.
    fn skip_line(&mut self) {
        while self.peek().is_some_and(|c| c != '\n') {
            self.bump();
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), String> {
        let start = self.line;
        self.bump();
        self.bump();
        loop {
            match self.bump() {
                None => return Err(format!("line {start}: unclosed /* comment")),
                Some('*') if self.peek() == Some('/') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => {}
            }
        }
    }

    /// A `"…"` string, just past its opening quote.
    fn quoted(&mut self) -> Result<String, String> {
        let line = self.line;
        let unclosed = || format!("line {line}: unclosed string");
        let mut value = String::new();
        loop {
            match self.bump().ok_or_else(unclosed)? {
                '"' => return Ok(value),
                '\n' => return Err(format!("line {line}: a string ends at the end of its line")),
                '\\' => match self.bump().ok_or_else(unclosed)? {
                    'n' => value.push('\n'),
                    't' => value.push('\t'),
                    'r' => value.push('\r'),
                    '"' => value.push('"'),
                    '\\' => value.push('\\'),
                    '\n' => {}
                    escape @ ('u' | 'U') => {
                        let width = if escape == 'u' { 4 } else { 8 };
                        let hex: String = (0..width).filter_map(|_| self.bump()).collect();
                        let decoded = u32::from_str_radix(&hex, 16)
                            .ok()
                            .filter(|_| hex.chars().count() == width)
                            .and_then(char::from_u32)
                            .ok_or_else(|| format!("line {line}: invalid \\{escape} escape"))?;
                        value.push(decoded);
                    }
                    other => return Err(format!("line {line}: invalid escape \\{other}")),
                },
                c => value.push(c),
            }
        }
    }

    /// A `<<EOF` or `<<-EOF` heredoc, just past `<<`.
    fn heredoc(&mut self) -> Result<String, String> {
        let line = self.line;
        let indented = self.peek() == Some('-');
        if indented {
            self.bump();
        }
        let marker = self.take_while(|c| c.is_alphanumeric() || c == '_');
        if marker.is_empty() || self.bump() != Some('\n') {
            return Err(format!(
                "line {line}: a heredoc needs a marker and a new line after <<"
            ));
        }
        let mut body = String::new();
        loop {
            if self.peek().is_none() {
                return Err(format!("line {line}: heredoc {marker} is never closed"));
            }
            let text = self.take_while(|c| c != '\n');
            let closes = if indented {
                text.trim() == marker
            } else {
                text == marker
            };
            if closes {
                return Ok(body);
            }
            body.push_str(&text);
            body.push('\n');
            self.bump();
        }
    }
}

fn number(raw: &str, line: usize) -> Result<Number, String> {
    if let Ok(n) = raw.parse::<i64>() {
        return Ok(n.into());
    }
    raw.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .ok_or_else(|| format!("line {line}: {raw:?} is not a number"))
}

/// Where a finished body or list goes in its parent.
enum Slot {
    Root,
    Attribute(String),
    Block(String, Vec<String>),
    Item,
}

enum Frame {
    Body { map: Map<String, Value>, slot: Slot },
    List { items: Vec<Value>, slot: Slot },
}

struct Parser {
    tokens: std::vec::IntoIter<(Token, usize)>,
    peeked: Option<(Token, usize)>,
    line: usize,
}

impl Parser {
    fn new(tokens: Vec<(Token, usize)>) -> Self {
        Self {
            tokens: tokens.into_iter(),
            peeked: None,
            line: 1,
        }
    }

    fn next(&mut self) -> Option<Token> {
        let (token, line) = self.peeked.take().or_else(|| self.tokens.next())?;
        self.line = line;
        Some(token)
    }

    fn peek(&mut self) -> Option<&Token> {
        if self.peeked.is_none() {
            self.peeked = self.tokens.next();
        }
        self.peeked.as_ref().map(|(token, _)| token)
    }

    fn error(&self, what: &str) -> String {
        format!("line {}: {what}", self.line)
    }

    fn run(mut self) -> Result<Value, String> {
        let mut stack = vec![Frame::Body {
            map: Map::new(),
            slot: Slot::Root,
        }];
        loop {
            if stack.len() > MAX_DEPTH {
                return Err(self.error(&format!("nested more than {MAX_DEPTH} levels deep")));
            }
            let in_list = matches!(stack.last(), Some(Frame::List { .. }));
            let token = self.next();
            let opened = if in_list {
                self.list_step(token, &mut stack)?
            } else {
                self.body_step(token, &mut stack)?
            };
            match opened {
                Step::Continue => {}
                Step::Push(frame) => stack.push(frame),
                Step::Close => {
                    let frame = stack.pop().expect("a frame to close");
                    let (value, slot) = match frame {
                        Frame::Body { map, slot } => (Value::Object(map), slot),
                        Frame::List { items, slot } => (Value::Array(items), slot),
                    };
                    match stack.last_mut() {
                        None => return Ok(value),
                        Some(parent) => self.place(parent, slot, value)?,
                    }
                }
            }
        }
    }

    fn body_step(&mut self, token: Option<Token>, stack: &mut [Frame]) -> Result<Step, String> {
        let Some(Frame::Body { map, slot }) = stack.last_mut() else {
            unreachable!("body_step on a body")
        };
        let key = match token {
            None if matches!(slot, Slot::Root) => return Ok(Step::Close),
            None => return Err(self.error("a block or object is never closed")),
            Some(Token::CloseBrace) if !matches!(slot, Slot::Root) => return Ok(Step::Close),
            Some(Token::Comma) => return Ok(Step::Continue),
            Some(Token::Ident(key) | Token::Str(key)) => key,
            Some(_) => return Err(self.error("expected an attribute name or a block")),
        };
        match self.next() {
            Some(Token::Assign) => {
                let value = self.next();
                match self.scalar_or_open(value, Slot::Attribute(key.clone()))? {
                    Ok(value) => {
                        map.insert(key, value);
                        Ok(Step::Continue)
                    }
                    Err(frame) => Ok(Step::Push(frame)),
                }
            }
            Some(Token::OpenBrace) => Ok(Step::Push(Frame::Body {
                map: Map::new(),
                slot: Slot::Block(key, Vec::new()),
            })),
            Some(Token::Str(label) | Token::Ident(label)) => {
                let mut labels = vec![label];
                loop {
                    match self.next() {
                        Some(Token::Str(label) | Token::Ident(label)) => labels.push(label),
                        Some(Token::OpenBrace) => break,
                        _ => return Err(self.error(&format!("block {key:?}: expected {{"))),
                    }
                }
                Ok(Step::Push(Frame::Body {
                    map: Map::new(),
                    slot: Slot::Block(key, labels),
                }))
            }
            _ => Err(self.error(&format!("{key:?}: expected = or a block"))),
        }
    }

    fn list_step(&mut self, token: Option<Token>, stack: &mut [Frame]) -> Result<Step, String> {
        let Some(Frame::List { items, .. }) = stack.last_mut() else {
            unreachable!("list_step on a list")
        };
        match token {
            Some(Token::CloseBracket) => Ok(Step::Close),
            Some(Token::Comma) => {
                if self.peek() == Some(&Token::Comma) {
                    return Err(self.error("two commas in a row in a list"));
                }
                Ok(Step::Continue)
            }
            other => match self.scalar_or_open(other, Slot::Item)? {
                Ok(value) => {
                    items.push(value);
                    Ok(Step::Continue)
                }
                Err(frame) => Ok(Step::Push(frame)),
            },
        }
    }

    /// A value: a scalar at once, or the frame a list or object opens.
    fn scalar_or_open(
        &self,
        token: Option<Token>,
        slot: Slot,
    ) -> Result<Result<Value, Frame>, String> {
        Ok(match token {
            Some(Token::Str(s)) => Ok(Value::String(s)),
            Some(Token::Number(n)) => Ok(Value::Number(n)),
            Some(Token::Bool(b)) => Ok(Value::Bool(b)),
            Some(Token::OpenBracket) => Err(Frame::List {
                items: Vec::new(),
                slot,
            }),
            Some(Token::OpenBrace) => Err(Frame::Body {
                map: Map::new(),
                slot,
            }),
            Some(Token::Ident(word)) => {
                return Err(self.error(&format!(
                    "{word:?} is not a value (strings need quotes; expressions are not supported)"
                )))
            }
            None => return Err(self.error("a value is missing at the end")),
            Some(_) => return Err(self.error("expected a value")),
        })
    }

    fn place(&self, parent: &mut Frame, slot: Slot, value: Value) -> Result<(), String> {
        match (parent, slot) {
            (Frame::List { items, .. }, Slot::Item) => items.push(value),
            (Frame::Body { map, .. }, Slot::Attribute(key)) => {
                map.insert(key, value);
            }
            (Frame::Body { map, .. }, Slot::Block(key, labels)) => {
                let mut keys = std::iter::once(key).chain(labels);
                let mut last = keys.next().expect("a block has a name");
                let mut here = map;
                for next in keys {
                    let entry = here
                        .entry(last.clone())
                        .or_insert_with(|| Value::Object(Map::new()));
                    here = entry.as_object_mut().ok_or_else(|| {
                        self.error(&format!("block {last:?} conflicts with an attribute"))
                    })?;
                    last = next;
                }
                match here.get_mut(&last) {
                    None => {
                        here.insert(last, value);
                    }
                    Some(Value::Array(blocks)) => blocks.push(value),
                    Some(existing) => {
                        let first = existing.take();
                        *existing = Value::Array(vec![first, value]);
                    }
                }
            }
            _ => unreachable!("a slot matches the frame it was opened in"),
        }
        Ok(())
    }
}

enum Step {
    Continue,
    Push(Frame),
    Close,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_blocks_attributes_lists_and_objects() {
        let text = r#"
            # a comment
            path "secret/data/*" {
                capabilities = ["read", "list",]   // trailing comma
                allowed_parameters = { "k" = ["a"], other: [] }
            }
            /* block
               comment */
            rule "charset" { charset = "abc" min-chars = 1 }
            length = 20
            ratio = 0.5
            on = true
        "#;
        assert_eq!(
            parse(text).unwrap(),
            json!({
                "path": {"secret/data/*": {
                    "capabilities": ["read", "list"],
                    "allowed_parameters": {"k": ["a"], "other": []}
                }},
                "rule": {"charset": {"charset": "abc", "min-chars": 1}},
                "length": 20, "ratio": 0.5, "on": true
            })
        );
    }

    #[test]
    fn repeated_blocks_become_a_list() {
        let text = r#"path "a" { capabilities = ["read"] }
            path "a" { capabilities = ["update"] }
            path "a" { capabilities = ["list"] }
            path "b" {}"#;
        assert_eq!(
            parse(text).unwrap(),
            json!({"path": {
                "a": [{"capabilities": ["read"]}, {"capabilities": ["update"]}, {"capabilities": ["list"]}],
                "b": {}
            }})
        );
    }

    #[test]
    fn strings_are_literal_as_in_hcl_1() {
        let text = "path \"kv/${x}/%{if y}\\u00e9\\\"\" {}\nnote = <<EOT\nline one\n  two\nEOT\n";
        assert_eq!(
            parse(text).unwrap(),
            json!({"path": {"kv/${x}/%{if y}é\"": {}}, "note": "line one\n  two\n"})
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        for hostile in [
            "a = ".to_string() + &"[".repeat(100_000),
            "a = ".to_string() + &"{x = ".repeat(100_000),
            "path ".to_string() + &"\"x\" ".repeat(10) + &"{ a ".repeat(100_000),
        ] {
            let err = parse(&hostile).unwrap_err();
            assert!(err.contains("levels deep"), "{err}");
        }
        let levels = MAX_DEPTH.saturating_sub(1);
        let fine = "a = ".to_string() + &"[".repeat(levels) + &"]".repeat(levels);
        assert!(parse(&fine).is_ok());
    }

    #[test]
    fn expressions_and_bad_syntax_are_clear_errors() {
        for (text, expected) in [
            ("a = - - - 1", "not a number"),
            ("a = 1+1+1", "not a number"),
            ("a = b", "is not a value"),
            ("a = (1)", "unexpected character '('"),
            ("path \"x\" {", "never closed"),
            ("path {", "never closed"),
            ("a = \"open", "unclosed string"),
            ("a = [1,,2]", "two commas"),
            ("}", "expected an attribute name"),
            ("a =", "missing"),
            ("/* x", "unclosed /*"),
            ("a = <<EOT\nnever", "never closed"),
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains(expected), "{text:?}: {err}");
        }
    }
}
