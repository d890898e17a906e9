//! Command approval on the data path: a command line (or an exec) that the session's control
//! policy holds waits here for an administrator's decision, the engineer told what happens.

use super::conn::Conn;
use super::lease::Lease;
use super::taps::notice;
use crate::gate::{AuditSink, Decision, Refusal, SessionGate};

/// Where the engineer's notices go: the channel's output (a shell with a PTY) or its error
/// stream.
#[derive(Clone, Copy)]
pub(crate) struct Notices {
    pub channel: russh::ChannelId,
    pub on_stdout: bool,
}

impl Notices {
    pub async fn say<G: SessionGate, A: AuditSink>(&self, conn: &Conn<G, A>, words: &str) {
        let bytes = notice(words).into_bytes();
        let _ = match self.on_stdout {
            true => conn.handle.data(self.channel, bytes).await,
            false => conn.handle.extended_data(self.channel, 1, bytes).await,
        };
    }
}

/// Asks for approval of `line` and waits for the decision (or the end of the session, or until
/// `withdrawn` resolves with why the engineer gave up): Ok when an administrator accepted it,
/// else the refusal to show and audit.
pub(crate) async fn wait<G: SessionGate, A: AuditSink>(
    conn: &Conn<G, A>,
    lease: &Lease<G>,
    notices: Notices,
    line: &str,
    withdrawn: impl std::future::Future<Output = String>,
) -> Result<(), Refusal> {
    let say = |words: String| async move { notices.say(conn, &words).await };
    let left = async {
        conn.closed.cancelled().await;
        "the engineer left".to_string()
    };
    let withdrawn = async {
        tokio::select! {
            why = withdrawn => why,
            why = left => why,
        }
    };
    decide(&*conn.shared.gate, lease, line, say, withdrawn).await
}

/// Whether keys typed while a command waits withdraw it (Ctrl-C).
pub(crate) fn interrupts(data: &[u8]) -> bool {
    data.contains(&0x03)
}

/// How long the withdrawal of a request may take before the command is refused anyway.
const WITHDRAW_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Messages kept while a command waits for approval (keys typed ahead, window changes); past
/// this the engineer is taken to have given up.
pub(crate) const MAX_QUEUED: usize = 1024;

/// Words for too much input while a command waits.
pub(crate) const TOO_MUCH: &str = "too much input arrived while the command waited";

/// Words for a command withdrawn with Ctrl-C.
pub(crate) const CTRL_C: &str = "the engineer pressed Ctrl-C";

/// [`wait`] for any client: `say` shows the engineer what happens.
pub(crate) async fn decide<G, S, F>(
    gate: &G,
    lease: &Lease<G>,
    line: &str,
    say: S,
    withdrawn: impl std::future::Future<Output = String>,
) -> Result<(), Refusal>
where
    G: SessionGate,
    S: Fn(String) -> F,
    F: std::future::Future<Output = ()>,
{
    let controls = &lease.permit().controls;
    let id = match gate.ask_approval(lease.session_id(), line).await {
        Ok(id) => id,
        Err(r) => {
            let why = format!(
                "it needs an administrator's approval, which could not be asked ({})",
                r.message
            );
            return Err(controls.approval_refusal(line, &why));
        }
    };
    say(format!(
        "the command \"{line}\" needs an administrator's approval (request {id}); waiting for the decision (Ctrl-C withdraws it)"
    ))
    .await;
    let given_up = async {
        tokio::select! {
            () = lease.terminated() => "the session ended".to_string(),
            why = withdrawn => why,
        }
    };
    let decision = tokio::select! {
        d = gate.approval_decision(id) => d,
        why = given_up => {
            // The command never runs once the engineer gave up (or the session ended), even
            // when a decision raced ahead of the withdrawal; administrators no longer see it
            // waiting once the withdrawal is in.
            let withdraw = gate.withdraw_approval(lease.session_id(), id);
            let words = match tokio::time::timeout(WITHDRAW_WAIT, withdraw).await {
                Ok(Ok(())) => format!("request {id} withdrawn: {why}"),
                Ok(Err(r)) => {
                    tracing::info!(request = id, reason = %r.message, "approval: not withdrawn");
                    format!("request {id} given up ({why}); it was decided meanwhile")
                }
                Err(_) => {
                    tracing::info!(request = id, "approval: the withdrawal did not complete in time");
                    format!("request {id} given up ({why}); its withdrawal is not confirmed")
                }
            };
            say(words.clone()).await;
            return Err(controls.approval_refusal(line, &words));
        }
    };
    match decision {
        Decision::Accepted { by } => {
            say(format!("request {id} accepted by {by}")).await;
            Ok(())
        }
        Decision::Rejected { by } => {
            Err(controls.approval_refusal(line, &format!("request {id} rejected by {by}")))
        }
        Decision::Undecided { why } => {
            Err(controls.approval_refusal(line, &format!("request {id}: {why}")))
        }
    }
}
