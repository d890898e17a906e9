//! The database gateway's protocol side: the bastion speaks the database protocol to the
//! engineer's client and to the target, so that the hosted credential is injected at the target
//! login (the engineer never sees it) and every statement is attributed, timed and audited.
//!
//! The codecs are pure functions over bytes (no sockets), so they are tested and fuzzed without
//! I/O; [`mysql::session`] is the thin async driver that moves bytes between the two sides.
//! This crate knows nothing of the bastion's state: the caller hands it the login to perform
//! ([`Login`]) and a [`StatementSink`] for what it observed.

pub mod console;
pub mod fuzzing;
pub mod gather;
pub mod mysql;
pub mod passage;
pub mod pg;
pub mod sql;
mod statement;
pub mod tls;

pub use statement::{Outcome, Statement, StatementSink};

use std::fmt;

/// A secret string whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// What a native port's session may do with the target's socket besides reading and writing
/// it as a stream (nothing, by default: the session then copies every answer and wakes for
/// every read).
#[derive(Default)]
pub struct TargetSocket<'p> {
    /// The answers moved outside the session (splice(2)) when both legs are plain TCP; not
    /// used once the target's connection is TLS.
    pub passage: Option<Box<dyn passage::Passage + 'p>>,
    /// Batched wakeups in large answers ([`gather`]).
    pub gather: Option<Box<dyn gather::Gather>>,
}

/// The target login a session performs.
#[derive(Clone, Debug)]
pub struct Login {
    /// The database account.
    pub account: String,
    /// The hosted password; None when the account's credential is not hosted (the client's own
    /// login is then relayed to the target unchanged).
    pub password: Option<Secret>,
    /// The database to select when the client names none (an O&M token's schema).
    pub default_database: Option<String>,
    /// SQL rules: statements refused before they reach the database.
    pub rules: Vec<sql::rules::RuleSpec>,
    /// Whether statements the gateway cannot read pass when rules apply.
    pub allow_unreadable: bool,
    /// TLS to the target when it offers it; None: the connection to it stays plain.
    pub tls: Option<tls::TargetTls>,
}
