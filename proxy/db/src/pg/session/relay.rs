//! After the login: the client's messages go up to the target (decoded, checked against the
//! SQL rules, remembered in the [`Pending`] queue) while the target's bytes come down as they
//! arrive, scanned message by message to advance the queue. Both directions run at once, as
//! PostgreSQL clients pipeline (Parse, Bind, Execute, Sync in one write; COPY data while the
//! server waits).

use super::super::frontend::{decode, render, Message};
use super::super::scan::Scan;
use super::super::wire::{self, message};
use super::io::{send, Side};
use super::pending::{Audit, Expect, Pending};
use super::{SessionError, MAX_REQUEST};
use crate::gather::{batched, Batching, Gather};
use crate::passage::Passage;
use crate::sql::rules::Rules;
use crate::sql::Dialect;
use crate::{Login, StatementSink};
use std::collections::HashMap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

/// The SQLSTATE of a statement the bastion's rules refuse (insufficient_privilege).
pub const REFUSED: &str = "42501";

/// The session's SQL rules and its database (for unqualified table names).
pub(super) struct Guard {
    rules: Rules,
    database: String,
}

impl Guard {
    pub fn new(login: &Login, database: String) -> Guard {
        Guard {
            rules: Rules::new(&login.rules, login.allow_unreadable).in_dialect(Dialect::PostgreSql),
            database,
        }
    }

    /// Why `sql` may not run, if it may not.
    fn check(&self, sql: &str) -> Option<String> {
        let blocked = self.rules.check(sql, Some(&self.database)).err()?;
        Some(format!("rule '{}': {}", blocked.rule, blocked.reason))
    }
}

/// Relays until either side ends the session. `started`: the target's messages up to its
/// first ReadyForQuery were relayed already.
pub(super) async fn relay<CR, CW, TR, TW>(
    client_r: Side<CR>,
    client_w: CW,
    target_r: Answers<'_, TR>,
    target_w: TW,
    guard: &Guard,
    started: bool,
    sink: &dyn StatementSink,
) -> Result<(), SessionError>
where
    CR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
    TR: AsyncRead + Unpin,
    TW: AsyncWrite + Unpin,
{
    let (tx, rx) = mpsc::unbounded_channel();
    let mut pending = Pending::default();
    if !started {
        pending.push(Expect::Start);
    }
    let result = tokio::select! {
        r = up(client_r, target_w, guard, tx) => r,
        r = down(target_r, client_w, &mut pending, rx, sink) => r,
    };
    pending.cut(sink);
    result
}

/// Prepared statements (name → text and parameter types) and portals (name → text and
/// rendered parameters) of the session, for audit.
#[derive(Default)]
struct Names {
    statements: HashMap<String, (String, Vec<u32>)>,
    portals: HashMap<String, (String, Vec<String>)>,
}

/// Client to target.
async fn up<CR, TW>(
    mut client: Side<CR>,
    mut target: TW,
    guard: &Guard,
    queue: mpsc::UnboundedSender<Expect>,
) -> Result<(), SessionError>
where
    CR: AsyncRead + Unpin,
    TW: AsyncWrite + Unpin,
{
    let mut names = Names::default();
    // After a refused Parse: the batch is dropped up to its Sync, as a server does after an
    // error.
    let mut discarding = false;
    let push = |e: Expect| queue.send(e).map_err(|_| SessionError::TargetClosed);
    // What goes to the target, sent when the client's buffered messages are all handled: a
    // client's batch (Parse, Bind, Describe, Execute, Sync in one write) leaves in one write
    // too. Each message's expectation is queued as it is handled, before its bytes leave.
    let mut out = Vec::new();
    loop {
        if !client.has_message() && !out.is_empty() {
            send(&mut target, &out).await?;
            out.clear();
        }
        let Some((tag, body)) = client.read_message(MAX_REQUEST).await? else {
            if !out.is_empty() {
                send(&mut target, &out).await?;
            }
            return Ok(());
        };
        let decoded = match decode(tag, &body) {
            Ok(m) => m,
            Err(e) => {
                // What came before the bad message runs, as its expectations say.
                send(&mut target, &out).await?;
                let words = format!("the bastion could not read this message: {e}");
                push(Expect::Inject {
                    bytes: wire::fatal("08P01", &words),
                    audit: Audit::new("query", String::new(), Vec::new()),
                    reason: words.clone(),
                })?;
                return Err(SessionError::Client(words));
            }
        };
        if discarding {
            if decoded == Message::Sync {
                discarding = false;
                push(Expect::Sync)?;
                out.extend_from_slice(&message(tag, &body));
            }
            continue;
        }
        let expect = match decoded {
            Message::Query(text) => {
                if let Some(reason) = guard.check(&text) {
                    push(refusal("query", text, reason))?;
                    // The target's ReadyForQuery (with the transaction's true status) ends it.
                    push(Expect::Sync)?;
                    out.extend_from_slice(&message(b'S', &[]));
                    continue;
                }
                Some(Expect::Query(Audit::new("query", text, Vec::new())))
            }
            Message::Parse { name, text, types } => {
                if let Some(reason) = guard.check(&text) {
                    push(refusal("prepare", text, reason))?;
                    discarding = true;
                    continue;
                }
                names.statements.insert(name.clone(), (text.clone(), types));
                Some(Expect::Parse {
                    audit: Audit::new("prepare", text, Vec::new()),
                    named: !name.is_empty(),
                })
            }
            Message::Bind {
                portal,
                statement,
                params,
            } => {
                let (text, types) = names
                    .statements
                    .get(&statement)
                    .cloned()
                    .unwrap_or_default();
                let shown: Vec<String> = (params.iter().enumerate())
                    .map(|(i, p)| render(p, types.get(i).copied().unwrap_or(0)))
                    .collect();
                names.portals.insert(portal, (text.clone(), shown.clone()));
                Some(Expect::Bind(Audit::new("bind", text, shown)))
            }
            Message::Execute { portal } => {
                let (text, params) = names.portals.get(&portal).cloned().unwrap_or_default();
                Some(Expect::Execute(Audit::new("execute", text, params)))
            }
            Message::Describe => Some(Expect::Describe),
            Message::Close { kind, name } => {
                match kind {
                    b'S' => names.statements.remove(&name),
                    _ => names.portals.remove(&name).map(|(t, _)| (t, Vec::new())),
                };
                Some(Expect::Close)
            }
            Message::Sync => Some(Expect::Sync),
            Message::FunctionCall => Some(Expect::FunctionCall(Audit::new(
                "function_call",
                String::new(),
                Vec::new(),
            ))),
            Message::Terminate => {
                out.extend_from_slice(&message(tag, &body));
                send(&mut target, &out).await?;
                return Ok(());
            }
            Message::Flush | Message::Copy | Message::Other(_) => None,
        };
        if let Some(e) = expect {
            push(e)?;
        }
        out.extend_from_slice(&message(tag, &body));
    }
}

/// A refusal in the client's protocol, with its audit.
fn refusal(kind: &'static str, text: String, reason: String) -> Expect {
    let words = format!("Statement blocked by the bastion's SQL {reason}");
    Expect::Inject {
        bytes: wire::error(REFUSED, &words),
        audit: Audit::new(kind, text, Vec::new()),
        reason,
    }
}

/// The target's side of the relay: read here, or moved to the client by a [`Passage`] while
/// this side scans a copy. What the login left buffered is read here first either way.
pub(super) struct Answers<'p, TR> {
    side: Side<TR>,
    passage: Option<Box<dyn Passage + 'p>>,
    /// The copy of what the passage holds and has not delivered yet.
    copy: Vec<u8>,
    batching: Batching,
    /// Bytes forwarded since the target's last complete reply.
    answered: usize,
}

impl<'p, TR: AsyncRead + Unpin> Answers<'p, TR> {
    pub(super) fn new(
        side: Side<TR>,
        passage: Option<Box<dyn Passage + 'p>>,
        gather: Option<Box<dyn Gather>>,
    ) -> Self {
        Answers {
            side,
            passage,
            copy: Vec::new(),
            batching: Batching::new(gather),
            answered: 0,
        }
    }

    /// The bytes read and not forwarded yet.
    fn buffered(&self) -> &[u8] {
        match &self.passage {
            Some(_) if self.side.buffered().is_empty() => &self.copy,
            _ => self.side.buffered(),
        }
    }

    /// Reads more bytes; 0 at end of stream. Cancel-safe. Called only when everything read
    /// before was forwarded. In a large reply the read waits for a batch ([`crate::gather`]).
    async fn fill(&mut self) -> std::io::Result<usize> {
        let Answers {
            side,
            passage,
            copy,
            batching,
            answered,
        } = self;
        match passage {
            Some(passage) => batched!(batching, *answered, passage.fill(copy)),
            None => batched!(batching, *answered, side.fill()),
        }
    }

    /// Forwards the first `n` buffered bytes to the client.
    async fn forward<CW: AsyncWrite + Unpin>(
        &mut self,
        client: &mut CW,
        n: usize,
    ) -> std::io::Result<()> {
        match &mut self.passage {
            Some(passage) if self.side.buffered().is_empty() => {
                passage.pass(n).await?;
                self.copy.drain(..n);
            }
            _ => {
                send(client, &self.side.buffered()[..n]).await?;
                self.side.consume(n);
            }
        }
        Ok(())
    }
}

/// Target to client.
async fn down<TR, CW>(
    mut target: Answers<'_, TR>,
    mut client: CW,
    pending: &mut Pending,
    mut queue: mpsc::UnboundedReceiver<Expect>,
    sink: &dyn StatementSink,
) -> Result<(), SessionError>
where
    TR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
{
    let mut scan = Scan::new();
    let mut open = true;
    // What the target sent with its AuthenticationOk (ParameterStatus, BackendKeyData,
    // ReadyForQuery) may already be buffered by the login: forwarded before waiting for more.
    forward(&mut target, &mut client, &mut scan, pending, sink).await?;
    loop {
        tokio::select! {
            e = queue.recv(), if open => match e {
                Some(e) => {
                    pending.push(e);
                    let bytes = pending.injections(sink);
                    if !bytes.is_empty() {
                        send(&mut client, &bytes).await?;
                    }
                }
                None => open = false,
            },
            n = target.fill() => {
                if n? == 0 {
                    return Err(SessionError::TargetClosed);
                }
                // Every expectation is queued before its message goes to the target, so the
                // ones behind these replies are in the queue now: take them first, or a reply
                // would be matched against an older expectation (and an injected refusal would
                // reach the client after the reply that ends its batch).
                while let Ok(e) = queue.try_recv() {
                    pending.push(e);
                    let bytes = pending.injections(sink);
                    if !bytes.is_empty() {
                        send(&mut client, &bytes).await?;
                    }
                }
                forward(&mut target, &mut client, &mut scan, pending, sink).await?;
            }
        }
    }
}

/// Forwards what is buffered from the target, advancing the queue by each reply.
async fn forward<TR, CW>(
    target: &mut Answers<'_, TR>,
    client: &mut CW,
    scan: &mut Scan,
    pending: &mut Pending,
    sink: &dyn StatementSink,
) -> Result<(), SessionError>
where
    TR: AsyncRead + Unpin,
    CW: AsyncWrite + Unpin,
{
    let mut at = 0;
    while at < target.buffered().len() {
        let (n, reply) = scan.feed(&target.buffered()[at..])?;
        at += n;
        target.answered += n;
        let Some(reply) = reply else { break };
        target.answered = 0;
        pending.on_reply(reply, scan.take_rows(), sink);
        let bytes = pending.injections(sink);
        if !bytes.is_empty() {
            target.forward(client, at).await?;
            at = 0;
            send(client, &bytes).await?;
        }
    }
    target.forward(client, at).await?;
    Ok(())
}
