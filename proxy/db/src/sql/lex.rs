//! The tokenizer: words, quoted identifiers, punctuation that matters (parentheses, dots,
//! commas); strings, numbers, operators and comments dropped. MySQL's executable comments
//! (`/*! ... */`, `/*!50001 ... */`, MariaDB's `/*M! ... */`) are read as code.
//!
//! The dialect matters where the two languages disagree on what is quoted or commented: MySQL
//! escapes with a backslash in every string, quotes identifiers with backticks and comments
//! with `#`; PostgreSQL (with `standard_conforming_strings`, on by default since 9.1) escapes
//! only in `E'...'` strings, reads `#` and backticks as operators and nests block comments.

use super::Unreadable;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Word(String),
    /// A backtick- or double-quoted identifier, unquoted.
    Quoted(String),
    Open,
    Close,
    Dot,
    Comma,
}

/// The tokens of one statement.
pub(super) fn tokens(sql: &str, dialect: Dialect) -> Result<Vec<Token>, Unreadable> {
    let mut out = Vec::new();
    walk(sql, dialect, |piece| {
        if let Piece::Token(t) = piece {
            out.push(t);
        }
    })?;
    Ok(out)
}

/// The statements of a request, split at top-level `;` (text between them trimmed; empty ones
/// dropped). An unterminated quote or comment makes the whole request unreadable.
pub fn split(sql: &str) -> Result<Vec<&str>, Unreadable> {
    split_in(sql, Dialect::MySql)
}

/// [`split`] in a given dialect.
pub fn split_in(sql: &str, dialect: Dialect) -> Result<Vec<&str>, Unreadable> {
    let mut cuts = Vec::new();
    walk(sql, dialect, |piece| {
        if let Piece::Semicolon(at) = piece {
            cuts.push(at);
        }
    })?;
    let mut out = Vec::new();
    let mut start = 0;
    for end in cuts.into_iter().chain([sql.len()]) {
        let s = sql[start..end].trim();
        if !s.is_empty() {
            out.push(s);
        }
        start = (end + 1).min(sql.len());
    }
    Ok(out)
}

enum Piece {
    Token(Token),
    Semicolon(usize),
}

/// Which SQL the text is written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Dialect {
    #[default]
    MySql,
    PostgreSql,
}

fn walk(sql: &str, dialect: Dialect, mut emit: impl FnMut(Piece)) -> Result<(), Unreadable> {
    let pg = dialect == Dialect::PostgreSql;
    let b = sql.as_bytes();
    let mut i = 0;
    // Inside an executable comment: its closing `*/` is skipped as code ends.
    let mut executable = 0u32;
    while i < b.len() {
        let c = b[i];
        match c {
            b'-' if b.get(i + 1) == Some(&b'-')
                && b.get(i + 2).is_none_or(|x| x.is_ascii_whitespace()) =>
            {
                i = line_end(b, i);
            }
            b'#' if !pg => i = line_end(b, i),
            b'/' if pg && b.get(i + 1) == Some(&b'*') => i = nested_comment_end(b, i)?,
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let exec = b.get(i + 2) == Some(&b'!')
                    || (b.get(i + 2) == Some(&b'M') && b.get(i + 3) == Some(&b'!'));
                if exec {
                    executable += 1;
                    i += if b[i + 2] == b'M' { 4 } else { 3 };
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                } else {
                    let Some(end) = find(b, i + 2, b"*/") else {
                        return Err(Unreadable::Unterminated);
                    };
                    i = end + 2;
                }
            }
            b'*' if executable > 0 && b.get(i + 1) == Some(&b'/') => {
                executable -= 1;
                i += 2;
            }
            b'`' if pg => i += 1,
            b'\'' | b'"' | b'`' => {
                let escapes = !pg || (c == b'\'' && escape_string(b, i));
                let end = quoted_end(b, i, escapes)?;
                if c != b'\'' {
                    let inner = &sql[i + 1..end];
                    let doubled = if c == b'`' { "``" } else { "\"\"" };
                    let quote = if c == b'`' { "`" } else { "\"" };
                    emit(Piece::Token(Token::Quoted(inner.replace(doubled, quote))));
                }
                i = end + 1;
            }
            b'$' if dollar_tag(b, i).is_some() => {
                let tag_end = dollar_tag(b, i).unwrap_or(i);
                let tag = &b[i..=tag_end];
                let Some(end) = find(b, tag_end + 1, tag) else {
                    return Err(Unreadable::Unterminated);
                };
                i = end + tag.len();
            }
            b'(' => {
                emit(Piece::Token(Token::Open));
                i += 1;
            }
            b')' => {
                emit(Piece::Token(Token::Close));
                i += 1;
            }
            b'.' if !b.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                emit(Piece::Token(Token::Dot));
                i += 1;
            }
            b',' => {
                emit(Piece::Token(Token::Comma));
                i += 1;
            }
            b';' => {
                emit(Piece::Semicolon(i));
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                let start = i;
                while i < b.len()
                    && (b[i].is_ascii_alphanumeric()
                        || b[i] == b'_'
                        || b[i] == b'$'
                        || b[i] >= 0x80)
                {
                    i += 1;
                }
                emit(Piece::Token(Token::Word(sql[start..i].to_string())));
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.' || b[i] == b'_')
                {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    if executable > 0 {
        return Err(Unreadable::Unterminated);
    }
    Ok(())
}

fn line_end(b: &[u8], from: usize) -> usize {
    b[from..]
        .iter()
        .position(|c| *c == b'\n')
        .map_or(b.len(), |p| from + p + 1)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > b.len() {
        return None;
    }
    b[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The index of the quote closing the one at `start` (doubled quotes and, in strings with
/// `escapes`, backslash escapes stay inside).
fn quoted_end(b: &[u8], start: usize, escapes: bool) -> Result<usize, Unreadable> {
    let q = b[start];
    let mut i = start + 1;
    while i < b.len() {
        if escapes && b[i] == b'\\' && q != b'`' {
            i += 2;
            continue;
        }
        if b[i] == q {
            if b.get(i + 1) == Some(&q) {
                i += 2;
                continue;
            }
            return Ok(i);
        }
        i += 1;
    }
    Err(Unreadable::Unterminated)
}

/// A PostgreSQL dollar-quote opening at `start` (`$$` or `$tag$`): the index of its last `$`.
fn dollar_tag(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
        if i == start + 1 && b[i].is_ascii_digit() {
            return None;
        }
        i += 1;
    }
    (b.get(i) == Some(&b'$')).then_some(i)
}

/// Whether the quote at `start` opens a PostgreSQL escape string (`E'...'`, not `xE'...'`).
fn escape_string(b: &[u8], start: usize) -> bool {
    start >= 1
        && b[start - 1].eq_ignore_ascii_case(&b'e')
        && (start < 2 || !(b[start - 2].is_ascii_alphanumeric() || b[start - 2] == b'_'))
}

/// The index after the end of a PostgreSQL block comment opening at `start` (they nest).
fn nested_comment_end(b: &[u8], start: usize) -> Result<usize, Unreadable> {
    let (mut depth, mut i) = (0usize, start);
    while i + 1 < b.len() {
        match (b[i], b[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return Ok(i);
                }
            }
            _ => i += 1,
        }
    }
    Err(Unreadable::Unterminated)
}
