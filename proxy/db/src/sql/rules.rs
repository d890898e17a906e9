//! SQL rules: which statements the gateway refuses before they reach the database. A rule
//! matches by verb (`DROP`, or `DROP DATABASE` for the verb and the word after it), by
//! `DELETE`/`UPDATE` without a top-level `WHERE`, by table (globs on `schema.table`, `*` and
//! `?`), or by regular expression over the statement text (case-insensitive). Every statement
//! of a multi-statement request is checked; the first matching rule refuses the whole request.
//! A statement the tokenizer cannot read (an unterminated quote or comment) is refused when
//! rules apply, unless the rules say otherwise ([`Rules::allow_unreadable`]).

use super::{shape_in, split_in, Dialect, Shape};

/// One rule as stored and handed to the gateway (plain data).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub name: String,
    pub matcher: Matcher,
}

/// What a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matcher {
    /// Verbs, or `VERB OBJECT` pairs (`DROP`, `DROP DATABASE`, `TRUNCATE`), any case.
    Verbs(Vec<String>),
    /// `DELETE` or `UPDATE` without a top-level `WHERE`.
    WithoutWhere,
    /// Tables: globs on `schema.table` (`hr.*`, `*.salaries`).
    Tables(Vec<String>),
    /// A regular expression over the statement text.
    Regex(String),
}

/// A statement refused, and why, in words for the engineer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocked {
    pub rule: String,
    pub reason: String,
}

enum Compiled {
    Verbs(Vec<(String, Option<String>)>),
    WithoutWhere,
    Tables(Vec<String>),
    Regex(Option<regex::Regex>),
}

/// The rules applying to one session, ready to check statements.
#[derive(Default)]
pub struct Rules {
    rules: Vec<(String, Compiled)>,
    allow_unreadable: bool,
    dialect: Dialect,
}

impl Rules {
    pub fn new(specs: &[RuleSpec], allow_unreadable: bool) -> Rules {
        let rules = specs
            .iter()
            .map(|s| {
                let c = match &s.matcher {
                    Matcher::Verbs(v) => Compiled::Verbs(
                        v.iter()
                            .map(|x| {
                                let mut w = x.split_whitespace().map(str::to_ascii_uppercase);
                                (w.next().unwrap_or_default(), w.next())
                            })
                            .collect(),
                    ),
                    Matcher::WithoutWhere => Compiled::WithoutWhere,
                    Matcher::Tables(t) => {
                        Compiled::Tables(t.iter().map(|x| x.to_lowercase()).collect())
                    }
                    // An expression that does not compile (it was checked when the rule was
                    // made) refuses everything rather than nothing.
                    Matcher::Regex(r) => Compiled::Regex(
                        regex::RegexBuilder::new(r)
                            .case_insensitive(true)
                            .build()
                            .ok(),
                    ),
                };
                (s.name.clone(), c)
            })
            .collect();
        Rules {
            rules,
            allow_unreadable,
            dialect: Dialect::MySql,
        }
    }

    /// The same rules reading statements in `dialect` (MySQL unless told).
    pub fn in_dialect(self, dialect: Dialect) -> Rules {
        Rules { dialect, ..self }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether unreadable statements pass when rules apply.
    pub fn allow_unreadable(&self) -> bool {
        self.allow_unreadable
    }

    /// Checks a request's SQL; `database` is the session's current database, for unqualified
    /// table names.
    pub fn check(&self, sql: &str, database: Option<&str>) -> Result<(), Blocked> {
        if self.rules.is_empty() {
            return Ok(());
        }
        let unreadable = |what: String| -> Result<(), Blocked> {
            if self.allow_unreadable {
                return Ok(());
            }
            Err(Blocked {
                rule: "unreadable statements".into(),
                reason: format!("the bastion cannot read this statement ({what}), and rules apply to this database"),
            })
        };
        let statements = match split_in(sql, self.dialect) {
            Ok(s) => s,
            Err(e) => return unreadable(e.to_string()),
        };
        for statement in statements {
            let shape = match shape_in(statement, self.dialect) {
                Ok(s) => s,
                Err(e) => return unreadable(e.to_string()),
            };
            for (name, rule) in &self.rules {
                if let Some(reason) = matches(rule, &shape, statement, database) {
                    return Err(Blocked {
                        rule: name.clone(),
                        reason,
                    });
                }
            }
        }
        Ok(())
    }
}

fn matches(rule: &Compiled, shape: &Shape, text: &str, database: Option<&str>) -> Option<String> {
    match rule {
        Compiled::Verbs(verbs) => verbs
            .iter()
            .find(|(verb, object)| {
                *verb == shape.verb && object.as_ref().is_none_or(|o| *o == shape.object_kind)
            })
            .map(|(verb, object)| match object {
                Some(o) => format!("{verb} {o} is not allowed"),
                None => format!("{verb} is not allowed"),
            }),
        Compiled::WithoutWhere => (matches!(shape.verb.as_str(), "DELETE" | "UPDATE")
            && !shape.has_where)
            .then(|| format!("{} without WHERE is not allowed", shape.verb)),
        Compiled::Tables(globs) => shape.tables.iter().find_map(|t| {
            globs
                .iter()
                .find(|g| table_matches(g, t, database))
                .map(|g| format!("table {t} is not allowed (rule {g})"))
        }),
        Compiled::Regex(Some(re)) => re
            .is_match(text)
            .then(|| "the statement matches a forbidden pattern".to_string()),
        Compiled::Regex(None) => {
            Some("the rule's pattern is invalid, so every statement is refused".into())
        }
    }
}

/// `glob` against `table`, qualified with the current database when it is not; an unqualified
/// name with no current database is matched against the glob's table part.
fn table_matches(glob: &str, table: &str, database: Option<&str>) -> bool {
    if table.contains('.') {
        return glob_match(glob, table);
    }
    match database {
        Some(db) => glob_match(glob, &format!("{}.{table}", db.to_lowercase())),
        None => glob_match(glob.rsplit('.').next().unwrap_or(glob), table),
    }
}

/// `*` (any run) and `?` (one character) globbing.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let (g, t): (Vec<char>, Vec<char>) = (glob.chars().collect(), text.chars().collect());
    let (mut gi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == t[ti]) {
            gi += 1;
            ti += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ti;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while gi < g.len() && g[gi] == '*' {
        gi += 1;
    }
    gi == g.len()
}
