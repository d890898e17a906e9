//! Group commit of proposals. openraft 0.9's core appends one entry per `client_write` and waits
//! for that entry's fsync before it takes the next, so on the leader every log entry costs one
//! fsync, one after the other: throughput is bounded by the disk's fsync rate whatever the
//! number of clients. A [`Batcher`] folds the commands proposed concurrently on a node into one
//! `Command::Batch` entry, so N waiting proposals cost one entry (one fsync per node in the
//! quorum) instead of N.
//!
//! A batch is proposed like any command (forwarded to the leader, stamped, applied once thanks
//! to its request id); each command in it is applied or refused on its own, in order, exactly
//! as consecutive entries would be. A lone command is proposed as itself, so an idle node adds
//! no batching delay: batches form only while earlier ones are in flight.

use crate::ReplicaError;
use futures::future::BoxFuture;
use portunus_model::{Command, Response};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Batches in flight at once from one node; further commands wait and join the next batch.
/// Measured with a 4 ms fsync, 3 nodes: 1 gives the most commands per second and the lowest
/// latency at 16 and 256 clients (more in flight means smaller entries queued behind each
/// other in the leader's core, each still paying its own fsync). Measured again with a
/// 0.19 ms fsync (bench/README.md): 2 and 4 are slower still, each entry costing CPU on every
/// node.
const IN_FLIGHT: usize = 1;
/// Most commands in one batch (one log entry).
const MAX_BATCH: usize = 256;

type Answer = Result<Response, ReplicaError>;
pub(crate) type Propose = Arc<dyn Fn(Command) -> BoxFuture<'static, Answer> + Send + Sync>;

struct Pending {
    command: Command,
    answer: oneshot::Sender<Answer>,
}

/// Proposes commands through a [`crate::Replica`], several to a log entry when they arrive together.
/// Cheap to clone: clones share one queue. Needs a Tokio runtime.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::UnboundedSender<Pending>,
}

impl Batcher {
    /// A batcher proposing through `propose` (which answers like [`Replica::propose`]): what
    /// `Replica` itself would use over its unbatched proposal path.
    pub(crate) fn with(propose: Propose) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, propose));
        Batcher { tx }
    }

    /// Propose `command`, answered like [`Replica::propose`].
    pub async fn propose(&self, command: Command) -> Answer {
        let (answer, rx) = oneshot::channel();
        self.tx
            .send(Pending { command, answer })
            .map_err(|_| ReplicaError::ShuttingDown)?;
        rx.await.unwrap_or(Err(ReplicaError::ShuttingDown))
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<Pending>, propose: Propose) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        // Wait for a free slot before collecting: what arrives meanwhile joins this batch.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let propose = propose.clone();
        tokio::spawn(async move {
            settle(batch, &propose).await;
            drop(slot);
        });
    }
}

async fn settle(mut batch: Vec<Pending>, propose: &Propose) {
    if batch.len() == 1 {
        let p = batch.pop().expect("one pending");
        let _ = p.answer.send(propose(p.command).await);
        return;
    }
    let (commands, answers): (Vec<Command>, Vec<oneshot::Sender<Answer>>) =
        batch.into_iter().map(|p| (p.command, p.answer)).unzip();
    let count = commands.len();
    match propose(Command::Batch(commands)).await {
        Ok(Response::Batch(results)) if results.len() == count => {
            for (tx, r) in answers.into_iter().zip(results) {
                let _ = tx.send(match r {
                    Response::Rejected(rej) => Err(ReplicaError::Rejected(rej)),
                    other => Ok(other),
                });
            }
        }
        Ok(other) => {
            let e = format!("a batch of {count} was answered with {other:?}");
            for tx in answers {
                let _ = tx.send(Err(ReplicaError::Protocol(e.clone())));
            }
        }
        Err(e) => {
            for tx in answers {
                let _ = tx.send(Err(duplicate(&e)));
            }
        }
    }
}

/// The same error for every command of a failed batch.
fn duplicate(e: &ReplicaError) -> ReplicaError {
    match e {
        ReplicaError::Rejected(r) => ReplicaError::Rejected(r.clone()),
        ReplicaError::NoQuorum(s) => ReplicaError::NoQuorum(s.clone()),
        ReplicaError::Timeout(ms) => ReplicaError::Timeout(*ms),
        ReplicaError::Unknown(s) => ReplicaError::Unknown(s.clone()),
        ReplicaError::ShuttingDown => ReplicaError::ShuttingDown,
        ReplicaError::Protocol(s) => ReplicaError::Protocol(s.clone()),
        ReplicaError::Membership(s) => ReplicaError::Membership(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portunus_model::{NewUser, Request, State};
    use std::sync::Mutex;

    fn user(name: &str) -> Command {
        Command::CreateUser(NewUser {
            name: name.into(),
            ..Default::default()
        })
    }

    /// A slow single "leader": applies each proposal to one state after a delay, and records
    /// the size of every entry it was given.
    fn slow_state() -> (Batcher, Arc<Mutex<Vec<usize>>>) {
        let state = Arc::new(Mutex::new(State::default()));
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let s = sizes.clone();
        let batcher = Batcher::with(Arc::new(move |command: Command| {
            let (state, sizes) = (state.clone(), s.clone());
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let n = match &command {
                    Command::Batch(c) => c.len(),
                    _ => 1,
                };
                sizes.lock().unwrap().push(n);
                let req = Request {
                    now_ms: 1,
                    command,
                    id: None,
                };
                match state.lock().unwrap().apply(&req) {
                    Response::Rejected(r) => Err(ReplicaError::Rejected(r)),
                    other => Ok(other),
                }
            })
        }));
        (batcher, sizes)
    }

    #[tokio::test]
    async fn concurrent_commands_share_entries_and_each_gets_its_own_answer() {
        let (b, sizes) = slow_state();
        let mut names: Vec<String> = (0..50).map(|i| format!("u{i}")).collect();
        names.push("u7".into()); // a duplicate: refused on its own
        let calls = names.iter().map(|n| b.propose(user(n)));
        let answers = futures::future::join_all(calls).await;
        let created = answers
            .iter()
            .filter(|a| matches!(a, Ok(Response::Created { .. })))
            .count();
        let refused = answers
            .iter()
            .filter(|a| matches!(a, Err(ReplicaError::Rejected(_))))
            .count();
        assert_eq!((created, refused), (50, 1), "{answers:?}");
        let sizes = sizes.lock().unwrap().clone();
        assert_eq!(sizes.iter().sum::<usize>(), 51);
        assert!(sizes.len() < 10, "51 commands in {} entries", sizes.len());
    }

    #[tokio::test]
    async fn a_lone_command_is_proposed_as_itself() {
        let (b, sizes) = slow_state();
        assert!(matches!(
            b.propose(user("solo")).await,
            Ok(Response::Created { .. })
        ));
        assert!(matches!(
            b.propose(user("solo")).await,
            Err(ReplicaError::Rejected(_))
        ));
        assert_eq!(*sizes.lock().unwrap(), vec![1, 1]);
    }

    #[test]
    fn batches_do_not_nest() {
        let mut s = State::default();
        let req = Request {
            now_ms: 1,
            command: Command::Batch(vec![user("a"), Command::Batch(vec![user("b")])]),
            id: None,
        };
        match s.apply(&req) {
            Response::Batch(r) => {
                assert!(matches!(r[0], Response::Created { .. }));
                assert!(matches!(r[1], Response::Rejected(_)));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.users().count(), 1);
    }
}
