//! Serving requests: the leader-side work behind proposals, read points and membership
//! changes, and the dispatch of every RPC that arrives from a peer.

use super::{Inner, LEADER_WAIT, MAX_HOPS, QUORUM_STALE_MS};
use crate::network::{PeerRefusal, RpcRequest, RpcResponse};
use crate::{NodeId, ReplicaError};
use openraft::error::{ClientWriteError, RaftError};
use openraft::ChangeMembers;
use portunus_model::{Command, Request, Response};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

impl From<ReplicaError> for PeerRefusal {
    fn from(e: ReplicaError) -> Self {
        match e {
            ReplicaError::NoQuorum(s) => PeerRefusal::NoQuorum(s),
            other => PeerRefusal::Other(other.to_string()),
        }
    }
}

impl From<PeerRefusal> for ReplicaError {
    fn from(e: PeerRefusal) -> Self {
        match e {
            PeerRefusal::NoQuorum(s) => ReplicaError::NoQuorum(s),
            PeerRefusal::NotLeader { .. } => ReplicaError::NoQuorum("leader changed".into()),
            PeerRefusal::Other(s) => ReplicaError::Protocol(s),
        }
    }
}

enum Step<T> {
    Done(T),
    Retry,
}

impl Inner {
    /// Answer one request from a peer.
    pub(crate) async fn handle(&self, req: RpcRequest) -> RpcResponse {
        match req {
            RpcRequest::AppendEntries(r) => {
                RpcResponse::AppendEntries(self.raft.append_entries(r).await)
            }
            RpcRequest::Vote(r) => RpcResponse::Vote(self.raft.vote(r).await),
            RpcRequest::InstallSnapshot(r) => {
                RpcResponse::InstallSnapshot(self.raft.install_snapshot(r).await)
            }
            RpcRequest::Propose { command, hops } => {
                RpcResponse::Propose(self.propose(command, hops).await.map_err(Into::into))
            }
            RpcRequest::ReadIndex => RpcResponse::ReadIndex(self.leader_read_index().await),
            req @ (RpcRequest::Join { .. } | RpcRequest::Remove { .. }) => {
                RpcResponse::Membership(self.membership(req).await.map_err(Into::into))
            }
            RpcRequest::Ping => RpcResponse::Pong(self.id),
            RpcRequest::PutBlob { name, data } => RpcResponse::BlobStored(
                self.blobs
                    .put(&name, &data)
                    .await
                    .map_err(|e| e.to_string()),
            ),
            RpcRequest::GetBlob { name } => RpcResponse::Blob(self.blobs.get(&name).await),
            RpcRequest::AccessKeys => RpcResponse::AccessKeys(self.access_keys().await),
            RpcRequest::Status => RpcResponse::Status(Box::new(
                crate::ClusterStatus::from_metrics(&self.raft.metrics().borrow()),
            )),
        }
    }

    /// Fail at once when this node leads but has not heard from a quorum lately.
    fn check_quorum_fresh(&self) -> Result<(), ReplicaError> {
        let m = self.raft.metrics().borrow().clone();
        match m.millis_since_quorum_ack {
            Some(ms) if ms > QUORUM_STALE_MS => Err(ReplicaError::NoQuorum(format!(
                "leader has not heard from a majority for {ms} ms"
            ))),
            _ => Ok(()),
        }
    }

    /// Apply `command` through the leader, forwarding it when this node does not lead.
    pub(crate) async fn propose(
        &self,
        command: Command,
        hops: u8,
    ) -> Result<Response, ReplicaError> {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            let leader = self.leader(deadline).await?;
            let step = if leader == self.id {
                self.propose_here(&command, deadline).await?
            } else if hops >= MAX_HOPS {
                return Err(ReplicaError::NoQuorum("too many forwards".into()));
            } else {
                self.propose_at(leader, &command, hops, deadline).await?
            };
            match step {
                Step::Done(r) => return Ok(r),
                Step::Retry if Instant::now() >= deadline => {
                    return Err(ReplicaError::NoQuorum("leadership kept changing".into()))
                }
                Step::Retry => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    async fn propose_here(
        &self,
        command: &Command,
        deadline: Instant,
    ) -> Result<Step<Response>, ReplicaError> {
        self.check_quorum_fresh()?;
        let req = Request {
            now_ms: self.stamp(),
            command: command.clone(),
        };
        let left = deadline.saturating_duration_since(Instant::now()) + LEADER_WAIT;
        match tokio::time::timeout(left, self.raft.client_write(req)).await {
            Err(_) => Err(ReplicaError::Timeout(left.as_millis() as u64)),
            Ok(Ok(resp)) => Ok(Step::Done(resp.data)),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => Ok(Step::Retry),
            Ok(Err(RaftError::APIError(e))) => Err(ReplicaError::Protocol(e.to_string())),
            Ok(Err(RaftError::Fatal(_))) => Err(ReplicaError::ShuttingDown),
        }
    }

    async fn propose_at(
        &self,
        leader: NodeId,
        command: &Command,
        hops: u8,
        deadline: Instant,
    ) -> Result<Step<Response>, ReplicaError> {
        let Some(addr) = self.leader_addr(leader) else {
            return Ok(Step::Retry);
        };
        let req = RpcRequest::Propose {
            command: command.clone(),
            hops: hops + 1,
        };
        let ttl = deadline.saturating_duration_since(Instant::now()) + LEADER_WAIT;
        match self.peers.call(&addr, &req, ttl).await {
            Ok(RpcResponse::Propose(Ok(r))) => Ok(Step::Done(r)),
            Ok(RpcResponse::Propose(Err(PeerRefusal::NotLeader { .. }))) => Ok(Step::Retry),
            Ok(RpcResponse::Propose(Err(e))) => Err(e.into()),
            Ok(_) => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
            Err(crate::network::CallError::Timeout { ms, .. }) => Err(ReplicaError::Timeout(ms)),
            // Not sent: safe to try again (the leader may have moved).
            Err(crate::network::CallError::Unreachable { .. }) => Ok(Step::Retry),
            // Perhaps applied: retrying could apply a command twice.
            Err(e) => Err(ReplicaError::Unknown(e.to_string())),
        }
    }

    async fn leader_read_index(&self) -> Result<u64, PeerRefusal> {
        if let Err(e) = self.check_quorum_fresh() {
            return Err(e.into());
        }
        match self.raft.ensure_linearizable().await {
            Ok(log_id) => Ok(log_id.map(|l| l.index).unwrap_or(0)),
            Err(RaftError::APIError(e)) => Err(PeerRefusal::NotLeader {
                leader: match e {
                    openraft::error::CheckIsLeaderError::ForwardToLeader(f) => f.leader_id,
                    _ => None,
                },
            }),
            Err(RaftError::Fatal(e)) => Err(PeerRefusal::Other(e.to_string())),
        }
    }

    /// The log index a linearizable read must wait for, asked of the leader.
    pub(crate) async fn read_index(&self) -> Result<u64, ReplicaError> {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            let leader = self.leader(deadline).await?;
            let result = if leader == self.id {
                self.leader_read_index().await
            } else {
                let addr = self.leader_addr(leader).unwrap_or_default();
                match self
                    .peers
                    .call(&addr, &RpcRequest::ReadIndex, LEADER_WAIT)
                    .await
                {
                    Ok(RpcResponse::ReadIndex(r)) => r,
                    Ok(_) => Err(PeerRefusal::Other("answer of the wrong kind".into())),
                    Err(e) => Err(PeerRefusal::NoQuorum(e.to_string())),
                }
            };
            match result {
                Ok(i) => return Ok(i),
                Err(PeerRefusal::NotLeader { .. }) | Err(PeerRefusal::NoQuorum(_))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn leader_membership(&self, req: RpcRequest) -> Result<(), PeerRefusal> {
        let not_leader = |e: &RaftError<NodeId, ClientWriteError<NodeId, crate::NodeInfo>>| match e
        {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                Some(PeerRefusal::NotLeader {
                    leader: f.leader_id,
                })
            }
            _ => None,
        };
        let result = match req {
            RpcRequest::Join { node_id, info } => {
                match self.raft.add_learner(node_id, info, true).await {
                    Err(e) => Err(e),
                    Ok(_) => {
                        let ids = BTreeSet::from([node_id]);
                        self.raft
                            .change_membership(ChangeMembers::AddVoterIds(ids), false)
                            .await
                    }
                }
            }
            RpcRequest::Remove { node_id } => {
                let ids = BTreeSet::from([node_id]);
                self.raft
                    .change_membership(ChangeMembers::RemoveVoters(ids), false)
                    .await
            }
            _ => return Err(PeerRefusal::Other("not a membership request".into())),
        };
        match result {
            Ok(_) => Ok(()),
            Err(e) => Err(not_leader(&e).unwrap_or_else(|| PeerRefusal::Other(e.to_string()))),
        }
    }

    async fn access_keys(&self) -> Result<Vec<crate::AccessKeyInfo>, PeerRefusal> {
        let index = self.read_index().await.map_err(PeerRefusal::from)?;
        self.wait_applied(index, LEADER_WAIT)
            .await
            .map_err(PeerRefusal::from)?;
        Ok(self.view.read(|s| {
            s.access_keys()
                .map(|k| crate::AccessKeyInfo {
                    access_key_id: k.access_key_id.clone(),
                    role: format!("{:?}", k.role),
                    user_id: k.user_id,
                    enabled: k.enabled,
                    comment: k.comment.clone(),
                })
                .collect()
        }))
    }

    /// Send a membership request to the leader, wherever it is.
    pub(crate) async fn membership(&self, req: RpcRequest) -> Result<(), ReplicaError> {
        let deadline = Instant::now() + LEADER_WAIT;
        let leader = self.leader(deadline).await?;
        if leader == self.id {
            return self.leader_membership(req).await.map_err(Into::into);
        }
        let addr = self.leader_addr(leader).unwrap_or_default();
        self.membership_call(&addr, req).await
    }

    /// Send a membership request to the node at `addr`, which routes it to the leader.
    pub(crate) async fn membership_call(
        &self,
        addr: &str,
        req: RpcRequest,
    ) -> Result<(), ReplicaError> {
        let ttl = Duration::from_secs(60);
        match self.peers.call(addr, &req, ttl).await {
            Ok(RpcResponse::Membership(Ok(()))) => Ok(()),
            Ok(RpcResponse::Membership(Err(e))) => Err(ReplicaError::Membership(e.to_string())),
            Ok(_) => Err(ReplicaError::Protocol("answer of the wrong kind".into())),
            Err(e) => Err(ReplicaError::Membership(e.to_string())),
        }
    }
}
