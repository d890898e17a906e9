//! The calling side: cached QUIC connections to peers, and openraft's network factory on them.

use super::{RpcRequest, RpcResponse, MAX_MESSAGE};
use crate::tls::CLUSTER_SERVER_NAME;
use crate::{codec, NodeId, NodeInfo, TypeConfig};
use futures::future::{BoxFuture, FutureExt, Shared};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::Backoff;
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long replication to a peer pauses after the peer could not be reached at all (no
/// connection). openraft's default is 500 ms, longer than a follower's election timer allows:
/// one missed connection would let the follower's lease lapse.
const UNREACHABLE_BACKOFF: Duration = Duration::from_millis(100);
/// How long a vote request from a newer term lets a held-back leader speak again (long enough
/// for one heartbeat to reach the candidate, whose answer makes this node step down).
const LIFT_FOR: Duration = Duration::from_millis(500);

/// A leader that has not heard from a majority for a while holds back its heartbeats.
///
/// openraft 0.9 has no quorum check: a leader whose messages still reach the followers while
/// their answers do not (a one-way cut, heavy loss) keeps refreshing their leader lease, so no
/// one starts an election and nothing commits until the link heals. Holding back the
/// heartbeats lets the followers' timers run out and elect a leader that can reach a majority.
/// A vote request of a newer term lifts the hold toward that candidate for a moment: the next
/// heartbeat reaches it, and its refusal (it is in a newer term) makes this node step down. Without it a
/// held-back leader with a longer log than the candidate would refuse its vote and stay leader,
/// silent, forever.
#[derive(Default)]
pub(crate) struct HoldBack {
    stale: AtomicBool,
    /// The candidate the hold is lifted for, and since when.
    lifted: Mutex<Option<(NodeId, Instant)>>,
}

impl HoldBack {
    /// Set from the leader's view of its majority; true when this changed the setting.
    pub(crate) fn set_stale(&self, stale: bool) -> bool {
        self.stale.swap(stale, Ordering::SeqCst) != stale
    }

    /// A vote request of a newer term arrived from `candidate`: let heartbeats reach it (and
    /// only it: heartbeats reaching the other followers would renew their leader lease and make
    /// them refuse the candidate).
    pub(crate) fn lift(&self, candidate: NodeId) {
        if self.stale.load(Ordering::SeqCst) {
            *self.lifted.lock().expect("lock") = Some((candidate, Instant::now()));
        }
    }

    /// Whether heartbeats and appends to `target` are held back now.
    pub(crate) fn holding(&self, target: NodeId) -> bool {
        self.stale.load(Ordering::SeqCst)
            && !self
                .lifted
                .lock()
                .expect("lock")
                .is_some_and(|(to, at)| to == target && at.elapsed() < LIFT_FOR)
    }

    /// Whether this node holds back its heartbeats (to anyone).
    pub(crate) fn stale(&self) -> bool {
        self.stale.load(Ordering::SeqCst)
    }
}

/// Why a call to a peer failed before an answer came back.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("peer {addr} unreachable: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("peer {addr} did not answer within {ms} ms")]
    Timeout { addr: String, ms: u64 },
    /// The request may have reached the peer, but no answer came back.
    #[error("lost contact with peer {addr} after sending: {reason}")]
    Lost { addr: String, reason: String },
    #[error("peer {addr} sent a malformed answer: {reason}")]
    Protocol { addr: String, reason: String },
}

/// Connections to other nodes, keyed by address, reopened when they die.
#[derive(Clone)]
pub struct Peers {
    endpoint: quinn::Endpoint,
    conns: Arc<Mutex<HashMap<String, Slot>>>,
    /// Per address, the connection (by stable id) a failed call last found silent: the count
    /// of frames heard on it then, and since when it has heard none. One entry per peer.
    quiet: Arc<Mutex<HashMap<String, Quiet>>>,
}

/// A connection a failed call found silent.
struct Quiet {
    /// The connection's stable id.
    conn: usize,
    /// Frames heard on it when a failed call last found it silent.
    heard: u64,
    /// Since when it has heard none.
    since: Instant,
}

/// A handshake under way, shared by every caller that needs the connection meanwhile.
type Dialing = Shared<BoxFuture<'static, Result<quinn::Connection, String>>>;

/// What is known of the connection to one address.
#[derive(Clone)]
enum Slot {
    Open(quinn::Connection),
    /// Handshaking since the instant given, on a task of its own: a caller that gives up
    /// leaves it to finish for the next one (over a lossy link a handshake can take longer
    /// than one call may wait). Shared for [`DIAL_SHARED_FOR`] only: a handshake begun while
    /// the peer was down retries its first packet after a second, then two, ... and must not
    /// keep a peer that is back out of reach.
    Dialing(Dialing, Instant),
}

/// How long callers wait on a handshake another caller began, rather than beginning their own.
const DIAL_SHARED_FOR: Duration = Duration::from_millis(300);

/// A connection on which no frame was heard for this long while calls failed is given up and
/// the next call dials anew: the peer's process is gone (a member restarted on the same
/// address resets the old connection at once, with the cluster's reset key). Not sooner: over
/// a lossy link a 50 ms heartbeat often hears nothing back, and a new connection there needs a
/// handshake through the same loss (seen dropping every connection to a leader losing a third
/// of its packets, again and again, until a member's lease lapsed).
const SILENT_FOR: Duration = Duration::from_secs(1);

/// A connection whose round-trip estimate exceeds this is replaced once a call on it fails.
/// Cluster links are LAN-like (members of one cluster in one site): a heartbeat's call is
/// given 50 ms, so a path twice as slow cannot serve the cluster anyway. A connection to a peer
/// whose process stopped for a while (SIGSTOP, a stalled VM) measures the stop as a round
/// trip, since what it sent meanwhile is acknowledged only when the peer runs again, and QUIC
/// paces a connection by that estimate: a large request (a follower's catch-up) then went out
/// at a few kilobytes a second for seconds, every 50 ms attempt timing out, until a member's
/// lease lapsed (fault run seed 7187). A new connection measures the round trip afresh.
const USABLE_RTT: Duration = Duration::from_millis(100);

/// The ACK, stream and PING frames received on `conn`: they come only from the peer that holds
/// the connection's keys (a peer restarted on the same address cannot make them).
fn frames_heard(conn: &quinn::Connection) -> u64 {
    let rx = conn.stats().frame_rx;
    rx.acks + rx.stream + rx.ping
}

impl Peers {
    pub(crate) fn new(endpoint: quinn::Endpoint) -> Self {
        Peers {
            endpoint,
            conns: Arc::default(),
            quiet: Arc::default(),
        }
    }

    async fn connection(&self, addr: &str) -> Result<quinn::Connection, CallError> {
        let dialing = {
            let mut conns = self.conns.lock().expect("lock");
            match conns.get(addr) {
                Some(Slot::Open(c)) if c.close_reason().is_none() => return Ok(c.clone()),
                Some(Slot::Dialing(d, since))
                    if !matches!(d.peek(), Some(Err(_)))
                        && (d.peek().is_some() || since.elapsed() < DIAL_SHARED_FOR) =>
                {
                    d.clone()
                }
                _ => {
                    let d = self.dial(addr);
                    let slot = Slot::Dialing(d.clone(), Instant::now());
                    conns.insert(addr.to_string(), slot);
                    d
                }
            }
        };
        let result = dialing.clone().await;
        let mut conns = self.conns.lock().expect("lock");
        let ours = matches!(conns.get(addr), Some(Slot::Dialing(d, _)) if d.ptr_eq(&dialing));
        match result {
            Ok(conn) => {
                if ours {
                    conns.insert(addr.to_string(), Slot::Open(conn.clone()));
                }
                Ok(conn)
            }
            Err(reason) => {
                if ours {
                    conns.remove(addr);
                }
                Err(CallError::Unreachable {
                    addr: addr.to_string(),
                    reason,
                })
            }
        }
    }

    /// Start a handshake with `addr` on a task of its own (bounded by the idle timeout).
    fn dial(&self, addr: &str) -> Dialing {
        let endpoint = self.endpoint.clone();
        let addr = addr.to_string();
        let task = tokio::spawn(async move {
            let sock = tokio::net::lookup_host(&addr)
                .await
                .map_err(|e| e.to_string())?
                .next()
                .ok_or_else(|| "address does not resolve".to_string())?;
            endpoint
                .connect(sock, CLUSTER_SERVER_NAME)
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())
        });
        async move { task.await.map_err(|e| e.to_string())? }
            .boxed()
            .shared()
    }

    /// Whether `conn`, on which a call that began at `began` heard nothing, has now been silent
    /// for [`SILENT_FOR`] (counting from the first failed call that found it so).
    fn silent_too_long(&self, addr: &str, conn: &quinn::Connection, began: Instant) -> bool {
        let (id, heard) = (conn.stable_id(), frames_heard(conn));
        let mut quiet = self.quiet.lock().expect("lock");
        let since = match quiet.get(addr) {
            Some(q) if q.conn == id && q.heard == heard => q.since,
            _ => began,
        };
        let q = Quiet {
            conn: id,
            heard,
            since,
        };
        quiet.insert(addr.to_string(), q);
        since.elapsed() >= SILENT_FOR
    }

    /// Stop using `conn` for `addr` (a later call opens a new one), unless it was replaced.
    fn forget(&self, addr: &str, conn: &quinn::Connection) {
        let mut quiet = self.quiet.lock().expect("lock");
        if quiet.get(addr).is_some_and(|q| q.conn == conn.stable_id()) {
            quiet.remove(addr);
        }
        drop(quiet);
        let mut conns = self.conns.lock().expect("lock");
        if matches!(conns.get(addr), Some(Slot::Open(c)) if c.stable_id() == conn.stable_id()) {
            conns.remove(addr);
        }
    }

    /// Send one request to `addr` and wait for its answer, at most `ttl`.
    pub(crate) async fn call(
        &self,
        addr: &str,
        req: &RpcRequest,
        ttl: Duration,
    ) -> Result<RpcResponse, CallError> {
        let deadline = tokio::time::Instant::now() + ttl;
        let timeout = || CallError::Timeout {
            addr: addr.to_string(),
            ms: ttl.as_millis() as u64,
        };
        let conn = match tokio::time::timeout_at(deadline, self.connection(addr)).await {
            Ok(conn) => conn?,
            Err(_) => return Err(timeout()),
        };
        let (heard, began) = (frames_heard(&conn), Instant::now());
        let result = tokio::time::timeout_at(deadline, exchange(&conn, addr, req))
            .await
            .unwrap_or_else(|_| Err(timeout()));
        // Keep a connection the peer still speaks on, or fell silent on only lately (a slow or
        // lossy link: a new one would need a handshake through the same loss, and every caller
        // would start its own). Replace one that is closed or silent for long: a peer
        // restarted on the same address without the cluster's reset key never answers on it.
        if result.is_err() {
            if tracing::enabled!(tracing::Level::DEBUG) {
                let stats = conn.stats();
                tracing::debug!(
                    addr,
                    rtt_ms = conn.rtt().as_millis() as u64,
                    cwnd = stats.path.cwnd,
                    lost_packets = stats.path.lost_packets,
                    "cluster call failed"
                );
            }
            if conn.close_reason().is_some()
                || conn.rtt() > USABLE_RTT
                || (frames_heard(&conn) == heard && self.silent_too_long(addr, &conn, began))
            {
                self.forget(addr, &conn);
            }
        }
        result
    }
}

/// One request and its answer on a stream of its own.
async fn exchange(
    conn: &quinn::Connection,
    addr: &str,
    req: &RpcRequest,
) -> Result<RpcResponse, CallError> {
    // With why the connection ended, when it did (a stateless reset: the peer restarted).
    let net = |e: &dyn std::fmt::Display| CallError::Lost {
        addr: addr.to_string(),
        reason: match conn.close_reason() {
            Some(why) => format!("{e} ({why})"),
            None => e.to_string(),
        },
    };
    let bytes = codec::encode(req).map_err(|e| CallError::Protocol {
        addr: addr.to_string(),
        reason: e.to_string(),
    })?;
    let (send, mut recv) = conn.open_bi().await.map_err(|e| net(&e))?;
    let mut send = Outgoing(Some(send));
    let stream = send.0.as_mut().expect("the request's stream");
    stream.write_all(&bytes).await.map_err(|e| net(&e))?;
    stream.finish().map_err(|e| net(&e))?;
    let answer = recv.read_to_end(MAX_MESSAGE).await.map_err(|e| net(&e))?;
    send.0 = None;
    codec::decode::<RpcResponse>(&answer).map_err(|e| CallError::Protocol {
        addr: addr.to_string(),
        reason: e.to_string(),
    })
}

/// A request's stream, reset unless its answer came: a request its caller gave up on (it ran
/// out of time) is then not sent on. Left to finish, every timed-out attempt's bytes stayed
/// queued on the connection, and a peer that was slow to take a large request (a follower's
/// catch-up, retried every heartbeat) was sent each attempt in full, one behind the other.
struct Outgoing(Option<quinn::SendStream>);

impl Drop for Outgoing {
    fn drop(&mut self) {
        if let Some(mut stream) = self.0.take() {
            // An error only says the peer had it all already.
            let _ = stream.reset(quinn::VarInt::from_u32(0));
        }
    }
}

/// openraft's view of the network: one [`PeerClient`] per target.
pub(crate) struct NetworkFactory {
    pub(crate) peers: Peers,
    pub(crate) hold_back: Arc<HoldBack>,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> PeerClient {
        PeerClient {
            peers: self.peers.clone(),
            target,
            addr: node.cluster_addr.clone(),
            hold_back: self.hold_back.clone(),
        }
    }
}

/// Raft RPCs to one peer.
pub(crate) struct PeerClient {
    peers: Peers,
    target: NodeId,
    addr: String,
    hold_back: Arc<HoldBack>,
}

type RpcResult<T, E = openraft::error::Infallible> =
    Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn raw<E: std::error::Error>(
        &self,
        req: RpcRequest,
        option: &RPCOption,
    ) -> Result<RpcResponse, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>> {
        match self.peers.call(&self.addr, &req, option.hard_ttl()).await {
            Ok(r) => Ok(r),
            // A slow answer or a dropped connection is retried with the next heartbeat: only a
            // peer that cannot be connected to at all pauses replication to it (the backoff).
            Err(e @ (CallError::Timeout { .. } | CallError::Lost { .. })) => {
                Err(RPCError::Network(NetworkError::new(&e)))
            }
            Err(e @ CallError::Unreachable { .. }) => {
                Err(RPCError::Unreachable(Unreachable::new(&e)))
            }
            Err(e @ CallError::Protocol { .. }) => Err(RPCError::Network(NetworkError::new(&e))),
        }
    }

    fn mismatch<T, E: std::error::Error>(
        &self,
    ) -> Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>> {
        let e = CallError::Protocol {
            addr: self.addr.clone(),
            reason: "answer of the wrong kind".into(),
        };
        Err(RPCError::Network(NetworkError::new(&e)))
    }

    fn remote<T, E: std::error::Error>(
        &self,
        r: Result<T, RaftError<NodeId, E>>,
    ) -> Result<T, RPCError<NodeId, NodeInfo, RaftError<NodeId, E>>> {
        r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>> {
        if self.hold_back.holding(self.target) {
            let e = CallError::Unreachable {
                addr: self.addr.clone(),
                reason: "held back: this leader has not heard from a majority lately".into(),
            };
            return Err(RPCError::Unreachable(Unreachable::new(&e)));
        }
        match self.raw(RpcRequest::AppendEntries(rpc), &option).await? {
            RpcResponse::AppendEntries(r) => self.remote(r),
            _ => self.mismatch(),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        match self.raw(RpcRequest::InstallSnapshot(rpc), &option).await? {
            RpcResponse::InstallSnapshot(r) => self.remote(r),
            _ => self.mismatch(),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>> {
        match self.raw(RpcRequest::Vote(rpc), &option).await? {
            RpcResponse::Vote(r) => self.remote(r),
            _ => self.mismatch(),
        }
    }

    fn backoff(&self) -> Backoff {
        Backoff::new(std::iter::repeat(UNREACHABLE_BACKOFF))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::{ClusterSecret, ClusterTls};
    use std::net::SocketAddr;
    use std::sync::atomic::AtomicU64;

    fn secret() -> ClusterSecret {
        ClusterSecret::new("a-long-enough-cluster-secret-0123456789").unwrap()
    }

    fn tls() -> ClusterTls {
        ClusterTls::new(&secret()).unwrap()
    }

    /// A peer answering every request with `Pong(7)` after `delay_ms`; counts its connections.
    struct Peer {
        endpoint: quinn::Endpoint,
        delay_ms: Arc<AtomicU64>,
        connections: Arc<AtomicU64>,
    }

    fn peer(socket: std::net::UdpSocket) -> Peer {
        peer_with(socket, quinn::EndpointConfig::default())
    }

    /// A peer whose endpoint has `endpoint_config` (its stateless-reset key).
    fn peer_with(socket: std::net::UdpSocket, endpoint_config: quinn::EndpointConfig) -> Peer {
        let config = tls().server_config().unwrap();
        let endpoint = quinn::Endpoint::new(
            endpoint_config,
            Some(config),
            socket,
            Arc::new(quinn::TokioRuntime),
        )
        .unwrap();
        let (delay_ms, connections) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (ep, delay, count) = (endpoint.clone(), delay_ms.clone(), connections.clone());
        tokio::spawn(async move {
            while let Some(incoming) = ep.accept().await {
                let Ok(conn) = incoming.await else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let delay = delay.clone();
                tokio::spawn(async move {
                    while let Ok((mut send, mut recv)) = conn.accept_bi().await {
                        let delay = delay.load(Ordering::SeqCst);
                        tokio::spawn(async move {
                            let _ = recv.read_to_end(MAX_MESSAGE).await;
                            tokio::time::sleep(Duration::from_millis(delay)).await;
                            let answer = codec::encode(&RpcResponse::Pong(7)).unwrap();
                            let _ = send.write_all(&answer).await;
                            let _ = send.finish();
                            let _ = send.stopped().await;
                        });
                    }
                });
            }
        });
        Peer {
            endpoint,
            delay_ms,
            connections,
        }
    }

    fn caller() -> Peers {
        let mut endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
        endpoint.set_default_client_config(tls().client_config().unwrap());
        Peers::new(endpoint)
    }

    /// Asserts that a ping to `addr` is answered (given 5 s).
    async fn answers(peers: &Peers, addr: &str) {
        let answer = peers
            .call(addr, &RpcRequest::Ping, Duration::from_secs(5))
            .await;
        assert!(matches!(answer, Ok(RpcResponse::Pong(7))), "{answer:?}");
    }

    fn open_id(peers: &Peers, addr: &str) -> Option<usize> {
        match peers.conns.lock().unwrap().get(addr) {
            Some(Slot::Open(c)) => Some(c.stable_id()),
            _ => None,
        }
    }

    #[tokio::test]
    async fn a_call_that_times_out_on_a_slow_peer_keeps_the_connection() {
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let addr = p.endpoint.local_addr().unwrap().to_string();
        let peers = caller();
        answers(&peers, &addr).await;
        let first = open_id(&peers, &addr).expect("a connection");
        p.delay_ms.store(400, Ordering::SeqCst);
        let slow = peers
            .call(&addr, &RpcRequest::Ping, Duration::from_millis(150))
            .await;
        assert!(matches!(slow, Err(CallError::Timeout { .. })), "{slow:?}");
        assert_eq!(
            open_id(&peers, &addr),
            Some(first),
            "the peer acknowledged the request: its connection is kept"
        );
        p.delay_ms.store(0, Ordering::SeqCst);
        answers(&peers, &addr).await;
        assert_eq!(p.connections.load(Ordering::SeqCst), 1);
    }

    /// A UDP relay at one address in front of `to`, retargeted by storing another port: the
    /// caller's datagrams go to the current target, the target's come back to the caller.
    /// While `hold` is set, datagrams wait in the relay (both ways), as they wait in the
    /// socket of a process that is stopped (up to [`HELD_DATAGRAMS`]); clearing it lets them
    /// through, in order.
    async fn relay(to: u16) -> (SocketAddr, Arc<AtomicU64>) {
        let r = holding_relay(to).await;
        (r.at, r.target)
    }

    struct Relay {
        at: SocketAddr,
        target: Arc<AtomicU64>,
        hold: Arc<AtomicBool>,
        released: Arc<tokio::sync::Notify>,
        /// Milliseconds each datagram takes, each way.
        delay_ms: Arc<AtomicU64>,
    }

    impl Relay {
        fn hold(&self) {
            self.hold.store(true, Ordering::SeqCst);
        }

        fn release(&self) {
            self.hold.store(false, Ordering::SeqCst);
            self.released.notify_waiters();
        }
    }

    /// Datagrams a held direction keeps, as a stopped process's socket buffer (Linux's default
    /// 208 KiB) holds about a hundred: the rest is lost.
    const HELD_DATAGRAMS: usize = 100;

    /// Forwards what `from` receives (if `accept` takes its sender) to where `to_addr` says,
    /// through `out`; holds it meanwhile while `hold` is set.
    fn pass(
        from: Arc<tokio::net::UdpSocket>,
        out: Arc<tokio::net::UdpSocket>,
        accept: impl Fn(SocketAddr) -> bool + Send + 'static,
        to_addr: impl Fn() -> Option<SocketAddr> + Send + 'static,
        relay: &Relay,
    ) {
        let (hold, released, delay) = (
            relay.hold.clone(),
            relay.released.clone(),
            relay.delay_ms.clone(),
        );
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            let mut held: Vec<Vec<u8>> = Vec::new();
            loop {
                let release = released.notified();
                tokio::select! {
                    got = from.recv_from(&mut buf) => {
                        let Ok((n, sender)) = got else { return };
                        if !accept(sender) {
                            continue;
                        }
                        if hold.load(Ordering::SeqCst) {
                            // A full socket buffer drops what comes after.
                            if held.len() < HELD_DATAGRAMS {
                                held.push(buf[..n].to_vec());
                            }
                        } else if let Some(to) = to_addr() {
                            for d in held.drain(..) {
                                let _ = out.send_to(&d, to).await;
                            }
                            let late = delay.load(Ordering::SeqCst);
                            if late == 0 {
                                let _ = out.send_to(&buf[..n], to).await;
                            } else {
                                let (out, d) = (out.clone(), buf[..n].to_vec());
                                tokio::spawn(async move {
                                    tokio::time::sleep(Duration::from_millis(late)).await;
                                    let _ = out.send_to(&d, to).await;
                                });
                            }
                        }
                    }
                    () = release => {
                        if let Some(to) = to_addr() {
                            for d in held.drain(..) {
                                let _ = out.send_to(&d, to).await;
                            }
                        }
                    }
                }
            }
        });
    }

    async fn holding_relay(to: u16) -> Relay {
        let front = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let back = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let target = Arc::new(AtomicU64::new(u64::from(to)));
        let caller = Arc::new(Mutex::new(None::<SocketAddr>));
        let relay = Relay {
            at: front.local_addr().unwrap(),
            target: target.clone(),
            hold: Arc::default(),
            released: Arc::default(),
            delay_ms: Arc::default(),
        };
        // Caller to target. Port 0: no one there, the datagram is lost.
        let (c, t) = (caller.clone(), target.clone());
        pass(
            front.clone(),
            back.clone(),
            move |from| {
                *c.lock().unwrap() = Some(from);
                true
            },
            move || match t.load(Ordering::SeqCst) as u16 {
                0 => None,
                port => Some(SocketAddr::from(([127, 0, 0, 1], port))),
            },
            &relay,
        );
        // Target to caller: only the current target is heard (an earlier one is gone).
        let t = target.clone();
        pass(
            back,
            front,
            move |from| u64::from(from.port()) == t.load(Ordering::SeqCst),
            move || *caller.lock().unwrap(),
            &relay,
        );
        relay
    }

    /// A peer made with `first` answers a call through a relay; then its process vanishes
    /// without a word (as a SIGKILL leaves it) and one made with `second` answers at the same
    /// address. Returns the first call after that (given `within`), having checked that it
    /// dropped the old connection, that the next call connects anew, and that the first
    /// process saw one connection and the second one.
    async fn call_across_a_restart(
        first: quinn::EndpointConfig,
        second: quinn::EndpointConfig,
        within: Duration,
    ) -> Result<RpcResponse, CallError> {
        let bind = || std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let first = peer_with(bind(), first);
        let (at, target) = relay(first.endpoint.local_addr().unwrap().port()).await;
        let addr = at.to_string();
        let peers = caller();
        assert!(peers
            .call(&addr, &RpcRequest::Ping, Duration::from_secs(5))
            .await
            .is_ok());
        let old = open_id(&peers, &addr).expect("a connection");
        let second = peer_with(bind(), second);
        let port = second.endpoint.local_addr().unwrap().port();
        target.store(u64::from(port), Ordering::SeqCst);
        let mut across = peers.call(&addr, &RpcRequest::Ping, within).await;
        // A late acknowledgement from the old process during that call makes it no proof of
        // silence: the next one is (a connection is kept until it was silent for SILENT_FOR).
        if across.is_err() && open_id(&peers, &addr).is_some() {
            across = peers.call(&addr, &RpcRequest::Ping, within).await;
        }
        assert_eq!(
            open_id(&peers, &addr),
            None,
            "the failed call dropped its connection: {across:?}"
        );
        answers(&peers, &addr).await;
        assert_ne!(open_id(&peers, &addr), Some(old));
        assert_eq!(second.connections.load(Ordering::SeqCst), 1);
        assert_eq!(first.connections.load(Ordering::SeqCst), 1);
        across
    }

    #[tokio::test]
    async fn a_peer_restarted_on_the_same_address_gets_a_new_connection() {
        // Reset keys of their own: the new process cannot reset the old connection, which
        // stays silent until the call runs out of time.
        let silent = call_across_a_restart(
            quinn::EndpointConfig::default(),
            quinn::EndpointConfig::default(),
            SILENT_FOR + Duration::from_millis(300),
        )
        .await;
        assert!(
            matches!(silent, Err(CallError::Timeout { .. })),
            "{silent:?}"
        );
    }

    #[tokio::test]
    async fn a_member_restarted_on_the_same_address_resets_the_old_connection_at_once() {
        // With the member's reset key, the new process resets the connection it does not
        // know, so the call fails as lost, not by running out of its 30 s.
        let member = || crate::tls::endpoint_config(&secret(), 2);
        let reset = call_across_a_restart(member(), member(), Duration::from_secs(30)).await;
        match &reset {
            Err(CallError::Lost { reason, .. }) => {
                assert!(reason.contains("reset"), "{reset:?}")
            }
            other => panic!("expected the connection reset, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_handshake_begun_while_the_peer_was_down_does_not_keep_it_out_of_reach() {
        let (at, target) = relay(0).await;
        let addr = at.to_string();
        let peers = caller();
        let down = peers
            .call(&addr, &RpcRequest::Ping, Duration::from_millis(100))
            .await;
        assert!(matches!(down, Err(CallError::Timeout { .. })), "{down:?}");
        // The peer comes up; the first handshake would only retry its first packet about a
        // second after it began.
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        target.store(
            u64::from(p.endpoint.local_addr().unwrap().port()),
            Ordering::SeqCst,
        );
        tokio::time::sleep(DIAL_SHARED_FOR).await;
        let up = peers
            .call(&addr, &RpcRequest::Ping, Duration::from_millis(400))
            .await;
        assert!(matches!(up, Ok(RpcResponse::Pong(7))), "{up:?}");
    }

    #[tokio::test]
    async fn a_connection_silent_for_a_moment_is_kept() {
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let port = p.endpoint.local_addr().unwrap().port();
        let (at, target) = relay(port).await;
        let addr = at.to_string();
        let peers = caller();
        let ping = |ttl| peers.call(&addr, &RpcRequest::Ping, ttl);
        assert!(matches!(
            ping(Duration::from_secs(5)).await,
            Ok(RpcResponse::Pong(7))
        ));
        let first = open_id(&peers, &addr).expect("a connection");
        // Every datagram lost for a few heartbeats' calls, as on a lossy link.
        target.store(0, Ordering::SeqCst);
        for _ in 0..3 {
            let lost = ping(Duration::from_millis(50)).await;
            assert!(matches!(lost, Err(CallError::Timeout { .. })), "{lost:?}");
        }
        assert_eq!(
            open_id(&peers, &addr),
            Some(first),
            "a connection silent for less than {SILENT_FOR:?} is kept"
        );
        target.store(u64::from(port), Ordering::SeqCst);
        assert!(matches!(
            ping(Duration::from_secs(5)).await,
            Ok(RpcResponse::Pong(7))
        ));
        assert_eq!(open_id(&peers, &addr), Some(first));
        assert_eq!(p.connections.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_handshake_whose_first_packet_is_lost_sends_it_again_soon() {
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let (at, target) = relay(0).await;
        let addr = at.to_string();
        let peers = caller();
        let call = {
            let (peers, addr) = (peers.clone(), addr.clone());
            tokio::spawn(async move {
                peers
                    .call(&addr, &RpcRequest::Ping, Duration::from_millis(800))
                    .await
            })
        };
        // The handshake's first datagram went nowhere; the peer is reachable from now on. With
        // QUIC's default initial round trip the first packet would go again only after 1 s.
        tokio::time::sleep(Duration::from_millis(20)).await;
        target.store(
            u64::from(p.endpoint.local_addr().unwrap().port()),
            Ordering::SeqCst,
        );
        let answer = call.await.unwrap();
        assert!(matches!(answer, Ok(RpcResponse::Pong(7))), "{answer:?}");
    }

    /// A peer whose process stopped for two seconds (the fault runs' pause) while heartbeats
    /// kept trying it takes a large request soon after it resumes: the connection that
    /// measured the stop as its round trip (and paced its sending by it) is replaced, and the
    /// timed-out attempts' bytes are not sent on ahead of the next one.
    #[tokio::test]
    async fn a_peer_that_stopped_for_a_while_takes_a_large_request_soon_after_it_resumes() {
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let relay = holding_relay(p.endpoint.local_addr().unwrap().port()).await;
        let addr = relay.at.to_string();
        let peers = caller();
        let heartbeat = Duration::from_millis(50);
        answers(&peers, &addr).await;
        // Stopped for a few seconds. Early on, a few requests go to it and time out (their
        // first hundred datagrams wait in its socket buffer, the rest are lost); then only the
        // connection's keep-alives and loss probes, ever further apart.
        relay.hold();
        let stopped = Instant::now();
        let blob = |kib: usize| RpcRequest::PutBlob {
            name: "blob".into(),
            data: vec![7; kib * 1024],
        };
        for _ in 0..4 {
            let unanswered = peers.call(&addr, &blob(64), heartbeat).await;
            assert!(
                matches!(unanswered, Err(CallError::Timeout { .. })),
                "{unanswered:?}"
            );
        }
        tokio::time::sleep(Duration::from_secs(3).saturating_sub(stopped.elapsed())).await;
        relay.release();
        // A follower's catch-up: hundreds of entries in one request, a heartbeat's time to
        // answer, tried again at once when that runs out (as openraft's replication does).
        let mut attempts = Vec::new();
        for _ in 0..3 {
            let answer = peers.call(&addr, &blob(256), heartbeat).await;
            let done = matches!(answer, Ok(RpcResponse::Pong(7)));
            attempts.push(answer);
            if done {
                break;
            }
        }
        assert!(
            matches!(attempts.last(), Some(Ok(RpcResponse::Pong(7)))),
            "none of {} attempts of {heartbeat:?} went through after the peer resumed: {attempts:?}",
            attempts.len()
        );
    }

    /// A request whose caller gave up is not sent on: its stream is reset (left to finish,
    /// every timed-out attempt's bytes stayed queued one behind the other).
    #[tokio::test]
    async fn a_request_that_ran_out_of_time_has_its_stream_reset() {
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let relay = holding_relay(p.endpoint.local_addr().unwrap().port()).await;
        let addr = relay.at.to_string();
        let peers = caller();
        answers(&peers, &addr).await;
        let conn = match peers.conns.lock().unwrap().get(&addr) {
            Some(Slot::Open(c)) => c.clone(),
            _ => panic!("no connection after a call"),
        };
        assert_eq!(conn.stats().frame_tx.reset_stream, 0);
        // The peer stops taking anything: the request cannot be delivered in time.
        relay.hold();
        let blob = RpcRequest::PutBlob {
            name: "blob".into(),
            data: vec![7; 256 * 1024],
        };
        let unanswered = peers.call(&addr, &blob, Duration::from_millis(50)).await;
        assert!(
            matches!(unanswered, Err(CallError::Timeout { .. })),
            "{unanswered:?}"
        );
        let reset = tokio::time::timeout(Duration::from_secs(2), async {
            while conn.stats().frame_tx.reset_stream == 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(
            reset.is_ok(),
            "the timed-out request's stream was not reset: {:?}",
            conn.stats().frame_tx
        );
        relay.release();
        answers(&peers, &addr).await;
    }

    /// The rule behind `a_peer_that_stopped_for_a_while_...`, without its timing: a connection that measured a long
    /// round trip (here a path of 150 ms each way; after a stop, the stop itself) is
    /// replaced when a call on it fails, although the peer still answers on it. (On a
    /// connection with a short round trip the same failure keeps it: see
    /// `a_call_that_times_out_on_a_slow_peer_keeps_the_connection`.)
    #[tokio::test]
    async fn a_failed_call_replaces_a_connection_that_measured_a_long_round_trip() {
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let relay = holding_relay(p.endpoint.local_addr().unwrap().port()).await;
        let addr = relay.at.to_string();
        let peers = caller();
        let ping = |ttl| peers.call(&addr, &RpcRequest::Ping, ttl);
        relay.delay_ms.store(150, Ordering::SeqCst);
        for _ in 0..3 {
            assert!(matches!(
                ping(Duration::from_secs(5)).await,
                Ok(RpcResponse::Pong(7))
            ));
        }
        let long = open_id(&peers, &addr).expect("a connection");
        relay.delay_ms.store(0, Ordering::SeqCst);
        p.delay_ms.store(200, Ordering::SeqCst);
        let failed = ping(Duration::from_millis(50)).await;
        assert!(
            matches!(failed, Err(CallError::Timeout { .. })),
            "{failed:?}"
        );
        assert_ne!(
            open_id(&peers, &addr),
            Some(long),
            "a connection whose round trip was measured over {USABLE_RTT:?} is given up"
        );
        p.delay_ms.store(0, Ordering::SeqCst);
        assert!(matches!(
            ping(Duration::from_secs(5)).await,
            Ok(RpcResponse::Pong(7))
        ));
        assert_eq!(p.connections.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn callers_share_one_handshake() {
        let p = peer(std::net::UdpSocket::bind("127.0.0.1:0").unwrap());
        let addr = p.endpoint.local_addr().unwrap().to_string();
        let peers = caller();
        let calls = (0..8).map(|_| peers.call(&addr, &RpcRequest::Ping, Duration::from_secs(5)));
        for answer in futures::future::join_all(calls).await {
            assert!(matches!(answer, Ok(RpcResponse::Pong(7))), "{answer:?}");
        }
        assert_eq!(p.connections.load(Ordering::SeqCst), 1);
    }
}
