//! Command approval for the gate: a held command becomes a replicated request that any node's
//! administrator can decide; the serving node waits for the decision in its own copy of the
//! state.

use super::refusal::{from_replica, refusal};
use portunus_model::{ApprovalState, Command, Response};
use portunus_proxy::gate::{Decision, Refusal, RefusalKind};
use portunus_raft::Replica;
use std::time::Duration;

pub(crate) async fn ask(
    replica: &Replica,
    metrics: &portunus_ops::Metrics,
    session_id: u64,
    command: &str,
) -> Result<u64, Refusal> {
    let wait_secs = replica
        .view()
        .read(|s| s.settings().command_approval_wait_secs);
    let deadline_ms = super::now_ms() + wait_secs.saturating_mul(1000);
    let cmd = Command::AskCommandApproval {
        session_id,
        command: command.to_string(),
        deadline_ms,
    };
    match crate::metered::propose(replica, metrics, cmd).await {
        Ok(Response::Created { id }) => Ok(id),
        Ok(other) => Err(refusal(
            RefusalKind::Internal,
            format!("unexpected answer {other:?}"),
        )),
        Err(e) => Err(from_replica(&e)),
    }
}

/// Waits until request `id` is decided, or its deadline passes.
pub(crate) async fn decision(replica: Replica, id: u64) -> Decision {
    let view = replica.view().clone();
    let mut changed = view.subscribe();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The request was committed; this node may apply it a moment later.
    let known_by = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = super::now_ms();
        let seen = view.read(|s| {
            s.command_approval(id).map(|a| {
                (
                    a.state,
                    a.decided_by.clone().unwrap_or_default(),
                    a.deadline_ms,
                    a.asked_at_ms,
                )
            })
        });
        match seen {
            None if tokio::time::Instant::now() >= known_by => {
                return Decision::Undecided {
                    why: "the request is not known on this node".into(),
                }
            }
            None => {}
            Some((ApprovalState::Accepted, by, _, _)) => return Decision::Accepted { by },
            Some((ApprovalState::Rejected, by, _, _)) => return Decision::Rejected { by },
            Some((ApprovalState::Withdrawn, _, _, _)) => {
                return Decision::Undecided {
                    why: "it was withdrawn".into(),
                }
            }
            Some((ApprovalState::Waiting, _, deadline, asked)) if now >= deadline => {
                return Decision::Undecided {
                    why: format!("no decision within {}", waited(asked, deadline)),
                }
            }
            Some(_) => {}
        }
        tokio::select! {
            c = changed.changed() => if c.is_err() {
                return Decision::Undecided { why: "this node is stopping".into() };
            },
            _ = tick.tick() => {}
        }
    }
}

/// A wait in words: "5 minutes", "90 seconds".
fn waited(asked_ms: u64, deadline_ms: u64) -> String {
    let secs = deadline_ms.saturating_sub(asked_ms).div_ceil(1000);
    if secs >= 60 && secs.is_multiple_of(60) {
        let m = secs / 60;
        format!("{m} minute{}", if m == 1 { "" } else { "s" })
    } else {
        format!("{secs} seconds")
    }
}

/// The engineer gave up waiting for request `id`.
pub(crate) async fn withdraw(
    replica: &Replica,
    metrics: &portunus_ops::Metrics,
    session_id: u64,
    id: u64,
) -> Result<(), Refusal> {
    let cmd = Command::WithdrawCommandApproval {
        approval_id: id,
        session_id,
    };
    match crate::metered::propose(replica, metrics, cmd).await {
        Ok(_) => Ok(()),
        Err(e) => Err(from_replica(&e)),
    }
}
