//! Splits a template into literal text and the tokens of each `{{ … }}`
//! action, with Go's trim markers (`{{- ` and ` -}}`), string literals
//! (`"…"` with escapes, `` `…` `` raw) and integers. Anything else inside
//! an action (variables, comments, `.` alone) is refused here.

/// One token inside an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    /// `.Name`
    Field(String),
    Str(String),
    Int(i64),
    /// A function name (or a Go keyword, refused when compiled).
    Ident(String),
    Open,
    Close,
    Pipe,
}

/// Literal text, or one action's tokens.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    Text(String),
    Action(Vec<Token>),
}

/// The text still to read.
struct Cursor<'a> {
    rest: std::str::Chars<'a>,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<char> {
        self.rest.clone().next()
    }

    fn starts_with(&self, prefix: &str) -> bool {
        self.rest.as_str().starts_with(prefix)
    }

    fn bump(&mut self) -> Option<char> {
        self.rest.next()
    }

    fn skip(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut taken = String::new();
        while let Some(c) = self.peek().filter(|c| keep(*c)) {
            taken.push(c);
            self.bump();
        }
        taken
    }
}

fn ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Reads the whole template.
pub(super) fn pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut cursor = Cursor { rest: text.chars() };
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut trim_next = false;
    loop {
        if cursor.peek().is_none() {
            break;
        }
        if !cursor.starts_with("{{") {
            literal.extend(cursor.bump());
            continue;
        }
        cursor.skip(2);
        if cursor.starts_with("- ") || cursor.starts_with("-\t") || cursor.starts_with("-\n") {
            cursor.skip(1);
            literal.truncate(literal.trim_end().len());
        }
        let text = std::mem::take(&mut literal);
        let text = if trim_next {
            text.trim_start().to_string()
        } else {
            text
        };
        if !text.is_empty() {
            out.push(Piece::Text(text));
        }
        let (tokens, trim) = action(&mut cursor)?;
        trim_next = trim;
        out.push(Piece::Action(tokens));
    }
    let text = if trim_next {
        literal.trim_start().to_string()
    } else {
        literal
    };
    if !text.is_empty() {
        out.push(Piece::Text(text));
    }
    Ok(out)
}

/// The tokens up to the action's `}}`, and whether it ended with ` -}}`.
fn action(cursor: &mut Cursor<'_>) -> Result<(Vec<Token>, bool), String> {
    let mut tokens = Vec::new();
    loop {
        let Some(c) = cursor.peek() else {
            return Err("an action opened with {{ is never closed with }}".into());
        };
        if cursor.starts_with("}}") {
            cursor.skip(2);
            return Ok((tokens, false));
        }
        if c.is_whitespace() {
            cursor.bump();
            if cursor.starts_with("-}}") {
                cursor.skip(3);
                return Ok((tokens, true));
            }
            continue;
        }
        let token = match c {
            '(' => {
                cursor.bump();
                Token::Open
            }
            ')' => {
                cursor.bump();
                Token::Close
            }
            '|' => {
                cursor.bump();
                Token::Pipe
            }
            '"' => {
                cursor.bump();
                Token::Str(quoted(cursor)?)
            }
            '`' => {
                cursor.bump();
                let raw = cursor.take_while(|c| c != '`');
                if cursor.bump() != Some('`') {
                    return Err("a raw string opened with ` is never closed".into());
                }
                Token::Str(raw)
            }
            '.' => {
                cursor.bump();
                let name = cursor.take_while(ident_char);
                if name.is_empty() {
                    return Err(
                        "`.` alone is not supported: name a field (.DisplayName, .RoleName)".into(),
                    );
                }
                Token::Field(name)
            }
            c if c.is_ascii_digit() || c == '-' => {
                cursor.bump();
                let digits = format!("{c}{}", cursor.take_while(|c| c.is_ascii_alphanumeric()));
                let number = digits
                    .parse()
                    .map_err(|_| format!("{digits:?} is not an integer"))?;
                Token::Int(number)
            }
            c if c.is_ascii_alphabetic() || c == '_' => Token::Ident(cursor.take_while(ident_char)),
            '$' => return Err("variables ($name) are not supported".into()),
            '/' if cursor.starts_with("/*") => {
                return Err("comments ({{/* */}}) are not supported".into())
            }
            other => return Err(format!("unexpected character {other:?} in an action")),
        };
        tokens.push(token);
    }
}

/// A `"…"` string, just past its opening quote, with Go's common escapes.
fn quoted(cursor: &mut Cursor<'_>) -> Result<String, String> {
    let mut value = String::new();
    loop {
        match cursor.bump() {
            None | Some('\n') => return Err("a string opened with \" is never closed".into()),
            Some('"') => return Ok(value),
            Some('\\') => match cursor.bump() {
                Some('n') => value.push('\n'),
                Some('t') => value.push('\t'),
                Some('\\') => value.push('\\'),
                Some('"') => value.push('"'),
                other => {
                    return Err(format!(
                        "unsupported escape \\{} in a string",
                        other.map(String::from).unwrap_or_default()
                    ))
                }
            },
            Some(c) => value.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_actions_strings_and_trim_markers() {
        let got =
            pieces("v- {{- .RoleName | truncate 8 -}} \n-{{ printf \"}}%s\" `a\"b` }}").unwrap();
        assert_eq!(
            got,
            vec![
                Piece::Text("v-".into()),
                Piece::Action(vec![
                    Token::Field("RoleName".into()),
                    Token::Pipe,
                    Token::Ident("truncate".into()),
                    Token::Int(8),
                ]),
                Piece::Text("-".into()),
                Piece::Action(vec![
                    Token::Ident("printf".into()),
                    Token::Str("}}%s".into()),
                    Token::Str("a\"b".into()),
                ]),
            ]
        );
        assert_eq!(
            pieces("plain }} text").unwrap(),
            vec![Piece::Text("plain }} text".into())]
        );
    }

    #[test]
    fn what_the_lexer_refuses() {
        for (text, expected) in [
            ("{{ .RoleName", "never closed"),
            ("a {{", "never closed"),
            ("{{ \"open }}", "never closed"),
            ("{{ `open }}", "never closed"),
            ("{{ $x }}", "variables"),
            ("{{/* c */}}", "comments"),
            ("{{ . }}", "alone"),
            ("{{ 99999999999999999999 }}", "not an integer"),
            ("{{ 12ab }}", "not an integer"),
            ("{{ \"\\q\" }}", "unsupported escape"),
            ("{{ # }}", "unexpected character"),
        ] {
            let error = pieces(text).unwrap_err();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
