//! The requests sent to the target and not yet answered, in order, and how each reply of the
//! target advances them: PostgreSQL answers in order, so the head of the queue is the request
//! a reply belongs to. After an error in the extended protocol the server skips everything up
//! to the next Sync; so does the queue. The gateway's own refusals wait in the queue as
//! [`Expect::Inject`] so that they reach the client in their place among the target's replies.

use super::super::scan::{counts, Reply};
use super::super::wire::Fields;
use crate::{Outcome, Statement, StatementSink};
use std::collections::VecDeque;
use std::time::Instant;

/// A statement being answered, for audit.
#[derive(Debug)]
pub(super) struct Audit {
    pub kind: &'static str,
    pub text: String,
    pub params: Vec<String>,
    pub started: Instant,
    affected: u64,
    rows: u64,
    error: Option<Fields>,
    copy_out: bool,
}

impl Audit {
    pub fn new(kind: &'static str, text: String, params: Vec<String>) -> Audit {
        Audit {
            kind,
            text,
            params,
            started: Instant::now(),
            affected: 0,
            rows: 0,
            error: None,
            copy_out: false,
        }
    }

    fn complete(&mut self, tag: &str) {
        let (affected, rows) = counts(tag, self.copy_out);
        // The target's numbers: sums over many commands must not overflow.
        self.affected = self.affected.saturating_add(affected);
        self.rows = self.rows.saturating_add(rows);
    }

    fn report(mut self, sink: &dyn StatementSink) {
        let outcome = match self.error.take() {
            Some(f) => Outcome::SqlError {
                sqlstate: f.code,
                message: f.message,
            },
            None => Outcome::Ok {
                affected: self.affected,
                rows: self.rows,
            },
        };
        self.report_as(outcome, sink);
    }

    pub fn report_as(self, outcome: Outcome, sink: &dyn StatementSink) {
        sink.statement(Statement {
            kind: self.kind,
            text: self.text,
            params: self.params,
            outcome,
            duration: self.started.elapsed(),
        });
    }
}

/// What a request sent to the target waits for.
#[derive(Debug)]
pub(super) enum Expect {
    /// The session's start: parameters, backend key, the first ReadyForQuery.
    Start,
    /// A simple query: results up to ReadyForQuery.
    Query(Audit),
    /// Parse: audited when the statement is named, or when it fails.
    Parse {
        audit: Audit,
        named: bool,
    },
    Bind(Audit),
    Execute(Audit),
    Describe,
    Close,
    Sync,
    FunctionCall(Audit),
    /// A refusal of the gateway's: these bytes go to the client when their turn comes.
    Inject {
        bytes: Vec<u8>,
        audit: Audit,
        reason: String,
    },
}

/// The queue.
#[derive(Debug, Default)]
pub(super) struct Pending {
    queue: VecDeque<Expect>,
    skipping: bool,
}

impl Pending {
    pub fn push(&mut self, e: Expect) {
        self.queue.push_back(e);
    }

    /// The gateway's refusals now at the head of the queue: their bytes, to write to the
    /// client now (none while the target skips to a Sync: it would not answer them either).
    pub fn injections(&mut self, sink: &dyn StatementSink) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(Expect::Inject { .. }) = self.queue.front() {
            let Some(Expect::Inject {
                bytes,
                audit,
                reason,
            }) = self.queue.pop_front()
            else {
                break;
            };
            if !self.skipping {
                out.extend_from_slice(&bytes);
            }
            audit.report_as(Outcome::Refused { reason }, sink);
        }
        out
    }

    /// Advances the queue by one reply of the target (`rows`: data rows since the last one).
    pub fn on_reply(&mut self, reply: Reply, rows: u64, sink: &dyn StatementSink) {
        match reply {
            Reply::Aside => return,
            Reply::Ready(_) => return self.ready(sink),
            _ => {}
        }
        if self.skipping {
            return;
        }
        let Some(head) = self.queue.front_mut() else {
            return;
        };
        let done = match (head, reply) {
            (Expect::Query(a) | Expect::FunctionCall(a), reply) => {
                match reply {
                    Reply::Complete(tag) => a.complete(&tag),
                    Reply::CopyOut => a.copy_out = true,
                    Reply::Error(f) => {
                        a.error.get_or_insert(f);
                    }
                    _ => {}
                }
                false
            }
            (Expect::Execute(a), Reply::CopyOut) => {
                a.copy_out = true;
                false
            }
            (Expect::Execute(a), Reply::Complete(tag)) => {
                a.complete(&tag);
                true
            }
            (Expect::Execute(a), Reply::Suspended) => {
                a.rows = a.rows.saturating_add(rows);
                true
            }
            (Expect::Execute(_), Reply::EmptyQuery) => true,
            (Expect::Parse { .. }, Reply::ParseComplete)
            | (Expect::Bind(_), Reply::BindComplete)
            | (Expect::Describe, Reply::NoData | Reply::RowDescription)
            | (Expect::Close, Reply::CloseComplete) => true,
            (
                Expect::Parse { audit: a, .. } | Expect::Bind(a) | Expect::Execute(a),
                Reply::Error(f),
            ) => {
                a.error = Some(f);
                self.skipping = true;
                true
            }
            (Expect::Describe | Expect::Close, Reply::Error(_)) => {
                self.skipping = true;
                true
            }
            _ => false,
        };
        if done {
            self.finish_head(sink);
        }
    }

    fn finish_head(&mut self, sink: &dyn StatementSink) {
        match self.queue.pop_front() {
            Some(Expect::Execute(a) | Expect::Query(a) | Expect::FunctionCall(a)) => a.report(sink),
            Some(Expect::Parse { audit, named }) if named || audit.error.is_some() => {
                audit.report(sink)
            }
            Some(Expect::Bind(mut a)) if a.error.is_some() => {
                a.kind = "execute";
                a.report(sink)
            }
            _ => {}
        }
    }

    /// ReadyForQuery: ends the request that waited for it, and anything skipped before it.
    fn ready(&mut self, sink: &dyn StatementSink) {
        while let Some(e) = self.queue.pop_front() {
            match e {
                Expect::Start | Expect::Sync => break,
                Expect::Query(a) | Expect::FunctionCall(a) => {
                    a.report(sink);
                    break;
                }
                Expect::Inject { audit, reason, .. } => {
                    audit.report_as(Outcome::Refused { reason }, sink)
                }
                _ => {}
            }
        }
        self.skipping = false;
    }

    /// The connection ended: what was still waiting was cut.
    pub fn cut(&mut self, sink: &dyn StatementSink) {
        for e in self.queue.drain(..) {
            match e {
                Expect::Query(a) | Expect::Execute(a) | Expect::FunctionCall(a) => {
                    a.report_as(Outcome::Cut, sink)
                }
                Expect::Inject { audit, reason, .. } => {
                    audit.report_as(Outcome::Refused { reason }, sink)
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests;
