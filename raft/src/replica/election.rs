//! When a member campaigns: its own election timer and a pre-vote (openraft 0.9 has neither
//! the pre-vote nor a way to hook its timer, so its timer is off and this one asks
//! `trigger().elect()`).
//!
//! Without a pre-vote, a follower that misses a few heartbeats (its link to the leader losing
//! packets) campaigns in a new term although the others still hear the leader: refused, it
//! still deposes the leader, whose next heartbeat it answers with the newer term. The fault
//! runs saw that again and again with a leader losing a third of its packets: the member
//! behind the lossy link campaigned, the lossy leader stepped down, won again with its longer
//! log, and so on until every member's session lease had lapsed. Now a member whose timer runs
//! out first asks every voter whether it would vote for it (`RpcRequest::PreVote`), changing
//! no term; only when a majority would does it campaign (or when no voter answers at all: cut
//! off, it gives up the leader it can no longer hear, as before).

use super::Inner;
use crate::network::{RpcRequest, RpcResponse};
use crate::NodeId;
use futures::StreamExt;
use openraft::LogId;
use std::sync::atomic::Ordering;
use std::sync::Weak;
use std::time::{Duration, Instant};

/// How often the timer looks.
const TICK: Duration = Duration::from_millis(10);
/// How long a pre-vote waits for the answers (as long as a vote request).
const PRE_VOTE_TTL: Duration = Duration::from_millis(100);

/// A follower campaigns once it has heard no leader for the leader lease plus a timeout drawn
/// anew each time from `min_ms..max_ms` (openraft's own timing), a candidate whose election
/// failed after a drawn timeout, and only when a majority would vote for it.
pub(super) async fn campaign_when_due(inner: Weak<Inner>, min_ms: u64, max_ms: u64) {
    let mut draw = Draw::new(inner.upgrade().map_or(0, |i| i.id));
    let mut timeout = draw.millis(min_ms, max_ms);
    // The vote last seen, and since when: a vote granted or a new term restarts the timer.
    let mut vote_seen = None;
    let mut vote_since = Instant::now();
    let mut tried: Option<Instant> = None;
    loop {
        tokio::time::sleep(TICK).await;
        let Some(inner) = inner.upgrade() else { return };
        let (vote, leading, voter) = {
            let m = inner.raft.server_metrics();
            let m = m.borrow();
            let voter = m
                .membership_config
                .membership()
                .voter_ids()
                .any(|v| v == inner.id);
            (m.vote, m.current_leader == Some(inner.id), voter)
        };
        if vote_seen != Some(vote) {
            vote_seen = Some(vote);
            vote_since = Instant::now();
        }
        if leading || !voter || !inner.electing.load(Ordering::SeqCst) {
            continue;
        }
        let heard = *inner.heard_leader.lock().expect("lock");
        let quiet_since = [Some(vote_since), heard, tried]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(vote_since);
        let wait = Duration::from_millis(timeout)
            + if vote.is_committed() {
                inner.leader_lease
            } else {
                Duration::ZERO
            };
        if quiet_since.elapsed() < wait {
            continue;
        }
        tried = Some(Instant::now());
        timeout = draw.millis(min_ms, max_ms);
        let campaign = match inner.pre_vote().await {
            PreVote::Majority => {
                tracing::info!(
                    node_id = inner.id,
                    "no leader heard and a majority would vote for this node: campaigning"
                );
                true
            }
            // Cut off from every other voter: campaigning cannot win, but leaves the leader
            // this node can no longer hear behind (it then knows none: not ready, no quorum).
            PreVote::Unanswered => true,
            PreVote::Refused => false,
        };
        if campaign && inner.raft.trigger().elect().await.is_err() {
            return;
        }
    }
}

/// What a pre-vote found.
enum PreVote {
    /// A majority (this node included) would vote for this node.
    Majority,
    /// Too few would, and some voter answered.
    Refused,
    /// No other voter answered at all.
    Unanswered,
}

impl Inner {
    /// Asks every other voter whether it would vote for this node now.
    async fn pre_vote(&self) -> PreVote {
        let (voters, last_log) = {
            let m = self.raft.server_metrics();
            let voters: Vec<NodeId> = m
                .borrow()
                .membership_config
                .membership()
                .voter_ids()
                .collect();
            (voters, self.raft.data_metrics().borrow().last_log)
        };
        let needed = voters.len() / 2 + 1;
        let mut granted = usize::from(voters.contains(&self.id));
        let asks = voters.iter().filter(|v| **v != self.id).map(|v| {
            let addr = self.leader_addr(*v).unwrap_or_default();
            let req = RpcRequest::PreVote {
                candidate: self.id,
                last_log_id: last_log,
            };
            async move {
                match self.peers.call(&addr, &req, PRE_VOTE_TTL).await {
                    Ok(RpcResponse::PreVote(yes)) => Some(yes),
                    _ => None,
                }
            }
        });
        // Done at the majority's answers: a dead leader's silence must not hold a failover
        // back for the whole wait.
        let mut asks: futures::stream::FuturesUnordered<_> = asks.collect();
        let mut answered = false;
        while granted < needed {
            match asks.next().await {
                Some(answer) => {
                    answered |= answer.is_some();
                    granted += usize::from(answer == Some(true));
                }
                None if answered => return PreVote::Refused,
                None => return PreVote::Unanswered,
            }
        }
        PreVote::Majority
    }

    /// Whether this node would vote for `candidate`, whose log ends at `their_log`: when its
    /// own log is no longer, and it has heard no leader for a whole leader lease (a leader
    /// says yes only while it holds back its heartbeats, having lost its majority). A refusal
    /// for a shorter log makes this node campaign itself when no leader is heard.
    pub(super) fn answer_pre_vote(
        &self,
        candidate: NodeId,
        their_log: Option<LogId<NodeId>>,
    ) -> bool {
        let my_log = self.raft.data_metrics().borrow().last_log;
        let (leading, term) = {
            let m = self.raft.server_metrics();
            let m = m.borrow();
            (m.current_leader == Some(self.id), m.vote.leader_id().term)
        };
        let heard_lately = match *self.heard_leader.lock().expect("lock") {
            Some(at) => at.elapsed() < self.leader_lease,
            None => false,
        };
        let leader_heard = if leading {
            !self.hold_back.stale()
        } else {
            heard_lately
        };
        if their_log < my_log {
            if !leader_heard {
                self.take_over_election(term);
            }
            tracing::debug!(
                node_id = self.id,
                candidate,
                "pre-vote refused: shorter log"
            );
            return false;
        }
        !leader_heard
    }
}

/// A small generator for the election timeouts (a member's own sequence, seeded by its id and
/// the time it started).
struct Draw(u64);

impl Draw {
    fn new(id: NodeId) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Draw((nanos ^ id.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    fn millis(&mut self, min: u64, max: u64) -> u64 {
        // xorshift64
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        min + self.0 % (max.saturating_sub(min).max(1))
    }
}
