//! Watching a running session from any node: the member serving a recorded session keeps its
//! newest output (`portunus_proxy::live`); another member asks it, over the cluster's own
//! mutually authenticated connections, for the lines after the last one its viewer saw. The
//! asking node has checked the viewer's role; the serving member answers only with output a
//! recording would hold anyway (never the keys typed).

use portunus_proxy::live::{LiveChunk, LiveSessions};
use portunus_raft::Replica;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// The name of the service other members call.
const SERVICE: &str = "session-live";

/// How long the serving member may take to answer.
const ASK_WITHIN: Duration = Duration::from_secs(3);

/// A member's question: session `id`'s output from line `from` on.
#[derive(Serialize, Deserialize)]
struct Ask {
    id: u64,
    from: u64,
}

/// Answers other members' questions about this node's running sessions.
pub(crate) fn serve(replica: &Replica, live: Arc<LiveSessions>) {
    replica.serve_calls(
        SERVICE,
        Arc::new(move |body: Vec<u8>| {
            let live = live.clone();
            Box::pin(async move {
                let ask: Ask = serde_json::from_slice(&body)
                    .map_err(|e| format!("a live-view question is unreadable: {e}"))?;
                serde_json::to_vec(&live.read(ask.id, ask.from)).map_err(|e| e.to_string())
            })
        }),
    );
}

/// Session `id`'s output from line `from` on, from `node_id`, the member serving it (this node
/// reads its own `live`); None when that member does not (or no longer) hold it.
pub(crate) async fn read(
    replica: &Replica,
    live: Option<&LiveSessions>,
    node_id: u64,
    id: u64,
    from: u64,
) -> Result<Option<LiveChunk>, String> {
    if node_id == replica.id() {
        return Ok(live.and_then(|l| l.read(id, from)));
    }
    let body = serde_json::to_vec(&Ask { id, from }).map_err(|e| e.to_string())?;
    let answer = replica
        .call_member(node_id, SERVICE, body, ASK_WITHIN)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_slice(&answer)
        .map_err(|e| format!("member {node_id} answered unreadably: {e}"))
}
