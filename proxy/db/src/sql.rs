//! SQL as far as rules need it: statements split at top-level `;`, and each one's shape — its
//! verb (the first keyword, or the main one after a `WITH` clause), whether it has a top-level
//! `WHERE`, and the tables it names. This is a tokenizer, not a parser: it knows quotes,
//! comments (MySQL's executable `/*! ... */` comments count as code, since the server runs
//! them), backtick and double-quoted identifiers and PostgreSQL dollar quotes, and nothing of
//! the grammar beyond the keywords that introduce tables.
//!
//! What it cannot see, by design: SQL built at run time (`PREPARE s FROM @text`, stored
//! procedures, `EXECUTE IMMEDIATE`), statements inside routines and triggers, and anything the
//! server does on its own. Rules are a guard for mistakes and casual misuse on the statement
//! text, not a sandbox.

mod lex;
pub mod rules;

pub use lex::{split, split_in, Dialect, Token};

/// A statement's shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// The verb, upper case (`SELECT`, `DROP`...), empty for an empty statement.
    pub verb: String,
    /// The keyword after the verb, upper case (`TABLE` in `DROP TABLE`), if any.
    pub object_kind: String,
    /// A `WHERE` at the statement's top level.
    pub has_where: bool,
    /// Tables named (as written: `schema.table` or `table`), lower case, unquoted.
    pub tables: Vec<String>,
}

/// Why a statement could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("an unterminated quote or comment")]
    Unterminated,
}

/// The shape of one statement (no top-level `;` inside).
pub fn shape(statement: &str) -> Result<Shape, Unreadable> {
    shape_in(statement, Dialect::MySql)
}

/// [`shape`] in a given dialect.
pub fn shape_in(statement: &str, dialect: Dialect) -> Result<Shape, Unreadable> {
    let tokens = lex::tokens(statement, dialect)?;
    let mut shape = Shape::default();
    let (mut depth, mut in_with) = (0i32, false);
    for (i, t) in tokens.iter().enumerate() {
        match t {
            Token::Open => depth += 1,
            Token::Close => depth -= 1,
            Token::Word(w) if depth == 0 => {
                let up = w.to_ascii_uppercase();
                let main = matches!(
                    up.as_str(),
                    "SELECT" | "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "MERGE"
                );
                if !in_with && up == "WITH" {
                    in_with = true;
                } else if !in_with || main {
                    shape.verb = up;
                    shape.object_kind = next_word(&tokens, i + 1);
                    break;
                }
            }
            _ => {}
        }
    }
    let mut depth = 0i32;
    let mut k = 0;
    while k < tokens.len() {
        match &tokens[k] {
            Token::Open => depth += 1,
            Token::Close => depth -= 1,
            Token::Word(w) => {
                let up = w.to_ascii_uppercase();
                if depth == 0 && up == "WHERE" {
                    shape.has_where = true;
                }
                let introduces =
                    matches!(up.as_str(), "FROM" | "JOIN" | "INTO" | "UPDATE" | "TABLE")
                        || (up == "TRUNCATE" && next_word(&tokens, k + 1) != "TABLE");
                let schema = matches!(up.as_str(), "DATABASE" | "SCHEMA")
                    && matches!(shape.verb.as_str(), "DROP" | "CREATE" | "ALTER");
                if introduces {
                    k += tables(&tokens, k + 1, &mut shape.tables);
                } else if schema {
                    if let Some((name, used)) = table_name(&tokens, k + 1) {
                        shape.tables.push(format!("{name}.*"));
                        k += used;
                    }
                }
            }
            _ => {}
        }
        k += 1;
    }
    Ok(shape)
}

fn next_word(tokens: &[Token], from: usize) -> String {
    match tokens.get(from) {
        Some(Token::Word(w)) => w.to_ascii_uppercase(),
        _ => String::new(),
    }
}

/// Table names from `from`: one, then more after commas (each possibly with an alias); pushes
/// them and returns how many tokens they used.
fn tables(tokens: &[Token], from: usize, out: &mut Vec<String>) -> usize {
    let mut i = from;
    while let Some((name, used)) = table_name(tokens, i) {
        out.push(name);
        i += used;
        if matches!(tokens.get(i), Some(Token::Word(w)) if w.eq_ignore_ascii_case("AS")) {
            i += 1;
        }
        if let Some(Token::Word(w)) = tokens.get(i) {
            if !is_keyword(w) {
                i += 1;
            }
        }
        if tokens.get(i) != Some(&Token::Comma) {
            break;
        }
        i += 1;
    }
    i - from
}

/// Words that end a table list rather than alias a table.
fn is_keyword(w: &str) -> bool {
    matches!(
        w.to_ascii_uppercase().as_str(),
        "WHERE"
            | "SET"
            | "VALUES"
            | "VALUE"
            | "SELECT"
            | "JOIN"
            | "LEFT"
            | "RIGHT"
            | "INNER"
            | "OUTER"
            | "CROSS"
            | "NATURAL"
            | "ON"
            | "USING"
            | "GROUP"
            | "ORDER"
            | "LIMIT"
            | "HAVING"
            | "UNION"
            | "FOR"
            | "PARTITION"
            | "ADD"
            | "DROP"
            | "MODIFY"
            | "CHANGE"
            | "RENAME"
            | "TO"
            | "LIKE"
            | "AS"
            | "WINDOW"
            | "INTO"
            | "RETURNING"
            | "DEFAULT"
            | "STRAIGHT_JOIN"
            | "LOCK"
            | "OFFSET"
            | "FETCH"
            | "CASCADE"
            | "RESTRICT"
    )
}

/// The (possibly qualified) name starting at `from`, after `IF [NOT] EXISTS`, `ONLY` and
/// similar modifiers; its lower-case text and how many tokens it used.
fn table_name(tokens: &[Token], from: usize) -> Option<(String, usize)> {
    let mut i = from;
    while let Some(Token::Word(w)) = tokens.get(i) {
        let modifier = matches!(
            w.to_ascii_uppercase().as_str(),
            "IF" | "NOT"
                | "EXISTS"
                | "ONLY"
                | "LOW_PRIORITY"
                | "IGNORE"
                | "QUICK"
                | "DELAYED"
                | "HIGH_PRIORITY"
                | "TEMPORARY"
        );
        if !modifier {
            break;
        }
        i += 1;
    }
    let mut name = match tokens.get(i)? {
        Token::Word(w) if !is_keyword(w) => w.to_lowercase(),
        Token::Quoted(w) => w.to_lowercase(),
        _ => return None,
    };
    i += 1;
    if let (Some(Token::Dot), Some(Token::Word(w) | Token::Quoted(w))) =
        (tokens.get(i), tokens.get(i + 1))
    {
        name = format!("{name}.{}", w.to_lowercase());
        i += 2;
    }
    Some((name, i - from))
}

#[cfg(test)]
mod tests;
