//! What the gateway reports about each statement: the statement as the target received it, how
//! it ended, and how long it took.

use std::time::Duration;

/// How a statement ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Succeeded: rows changed (`affected`) and rows returned (`rows`), summed over every
    /// result of a multi-statement or multi-result call.
    Ok { affected: u64, rows: u64 },
    /// The target answered with an error (MySQL: its error number).
    Error { code: u16, message: String },
    /// The target answered with an error identified by its SQLSTATE (PostgreSQL: `42P01`).
    SqlError { sqlstate: String, message: String },
    /// The gateway refused it (a rule, or a command the gateway does not relay); never sent.
    Refused { reason: String },
    /// The connection ended before the answer did.
    Cut,
}

/// One statement of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Statement {
    /// What kind of request: `query`, `prepare`, `execute`, `init_db`, `load_local_infile`...
    pub kind: &'static str,
    /// The SQL text (for `execute`, the prepared statement's text).
    pub text: String,
    /// Bound parameters of an `execute`, rendered as SQL literals.
    pub params: Vec<String>,
    pub outcome: Outcome,
    pub duration: Duration,
}

/// Where statements go.
pub trait StatementSink: Send + Sync {
    fn statement(&self, statement: Statement);
}
