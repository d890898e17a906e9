//! MySQL `KILL`s across the cluster: a client of the native MySQL port knows its session by the
//! connection id it was greeted with, which names the serving node
//! (`portunus_proxy::db::native::MySqlThreads`). The `mysql` client's Ctrl-C sends
//! `KILL QUERY <id>` on a new connection, which a load balancer may send to another node: that
//! node asks the serving one, over the cluster's own authenticated connections, for the
//! database thread id, and the serving node answers only a session of the same bastion user,
//! database account and database. The asking session sends the translated `KILL` itself.

use portunus_proxy::db::native::{KillRefusal, MySqlThreads, ThreadOwner, ThreadRouter};
use portunus_proxy::gate::BoxFuture;
use portunus_raft::Replica;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The name of the service other members call.
const SERVICE: &str = "mysql-thread";

/// How long the serving member may take to answer.
const ASK_WITHIN: Duration = Duration::from_secs(5);

/// A member's question: the thread of its session `id`, for `asker`.
#[derive(Serialize, Deserialize)]
struct Ask {
    id: u64,
    asker: ThreadOwner,
}

/// The serving member's answer.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
enum Answer {
    Thread(u64),
    Refused { code: u16, words: String },
}

impl From<Result<u64, KillRefusal>> for Answer {
    fn from(r: Result<u64, KillRefusal>) -> Answer {
        match r {
            Ok(thread) => Answer::Thread(thread),
            Err((code, words)) => Answer::Refused { code, words },
        }
    }
}

impl From<Answer> for Result<u64, KillRefusal> {
    fn from(a: Answer) -> Self {
        match a {
            Answer::Thread(thread) => Ok(thread),
            Answer::Refused { code, words } => Err((code, words)),
        }
    }
}

/// This node's native MySQL sessions, answering other members' questions about them.
pub fn serve(replica: &Replica) -> Arc<MySqlThreads> {
    let threads = Arc::new(MySqlThreads::new(replica.id()));
    let serving = threads.clone();
    replica.serve_calls(
        SERVICE,
        Arc::new(move |body: Vec<u8>| {
            let threads = serving.clone();
            Box::pin(async move {
                let ask: Ask = serde_json::from_slice(&body)
                    .map_err(|e| format!("a thread question is unreadable: {e}"))?;
                let answer = Answer::from(threads.thread_for(ask.id, &ask.asker));
                serde_json::to_vec(&answer).map_err(|e| e.to_string())
            })
        }),
    );
    threads
}

/// Asks other members.
pub struct Router(pub Replica);

impl ThreadRouter for Router {
    fn thread(
        &self,
        node_id: u64,
        id: u64,
        asker: ThreadOwner,
    ) -> BoxFuture<'_, Result<Result<u64, KillRefusal>, String>> {
        Box::pin(async move {
            let body = serde_json::to_vec(&Ask { id, asker }).map_err(|e| e.to_string())?;
            let answer = self
                .0
                .call_member(node_id, SERVICE, body, ASK_WITHIN)
                .await
                .map_err(|e| e.to_string())?;
            let answer: Answer = serde_json::from_slice(&answer)
                .map_err(|e| format!("member {node_id} answered unreadably: {e}"))?;
            Ok(answer.into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_keep_the_thread_or_the_refusal() {
        for r in [
            Ok(42),
            Err((1095, "You are not owner of thread 7".to_string())),
        ] {
            let bytes = serde_json::to_vec(&Answer::from(r.clone())).unwrap();
            let back: Answer = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(Result::<u64, KillRefusal>::from(back), r);
        }
    }
}
