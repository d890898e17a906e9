//! PostgreSQL query cancels across the cluster: a client's CancelRequest opens a new
//! connection, which a load balancer may send to any node. The key the client holds names the
//! node serving its session (`portunus_proxy::db::native::Cancels`); another node passes the
//! request there over the cluster's own authenticated connections.

use portunus_proxy::db::native::{CancelRouter, Cancels};
use portunus_proxy::gate::BoxFuture;
use portunus_raft::Replica;
use std::sync::Arc;
use std::time::Duration;

/// The name of the service other members call.
const SERVICE: &str = "postgres-cancel";

/// How long a forwarded cancel may take.
const FORWARD_WITHIN: Duration = Duration::from_secs(5);

/// This node's PostgreSQL sessions by client key, answering other members' forwarded cancels.
pub fn serve(replica: &Replica) -> Arc<Cancels> {
    let cancels = Arc::new(Cancels::new(replica.id()));
    let serving = cancels.clone();
    replica.serve_calls(
        SERVICE,
        Arc::new(move |body: Vec<u8>| {
            let cancels = serving.clone();
            Box::pin(async move {
                let Some((pid, key)) = decode(&body) else {
                    return Err("a cancel request is a process id and a key".to_string());
                };
                Ok(vec![u8::from(cancels.cancel_here(pid, key).await)])
            })
        }),
    );
    cancels
}

/// Passes cancels to other members.
pub struct Router(pub Replica);

impl CancelRouter for Router {
    fn forward(&self, node_id: u64, pid: i32, key: Vec<u8>) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let mut body = pid.to_be_bytes().to_vec();
            body.extend_from_slice(&key);
            match self
                .0
                .call_member(node_id, SERVICE, body, FORWARD_WITHIN)
                .await
            {
                Ok(answer) => answer == [1],
                Err(e) => {
                    tracing::info!(node_id, error = %e, "postgres: cancel request not passed on");
                    false
                }
            }
        })
    }
}

fn decode(body: &[u8]) -> Option<(i32, Vec<u8>)> {
    let pid = i32::from_be_bytes(body.get(..4)?.try_into().ok()?);
    Some((pid, body[4..].to_vec()))
}
