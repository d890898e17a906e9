//! Background duties around concurrency slots: the session lease and the reclaim of a silent
//! node's slots.
//!
//! Every member renews its lease with the leader every [`RENEW_EVERY`]. The leader reclaims the
//! slots of a member whose lease it has not renewed for [`RECLAIM_AFTER`] (fenced by the
//! member's epoch, so it cannot keep using them). A member whose last successful renewal was
//! *sent* more than [`SELF_FENCE_AFTER`] ago ends its own sessions when a concurrency limit is
//! set: since the leader grants renewals only while it hears from a majority (within 750 ms),
//! the member has stopped its sessions before the majority hands their slots to anyone else,
//! so the limit holds even across a partition. Without a limit there is nothing to protect and
//! open sessions keep running through a partition. A member whose epoch was fenced while it
//! was cut off registers again once it is back, so it serves new sessions by itself.

use crate::running::NodeShared;
use portunus_model::{Command, Response};
use portunus_raft::Replica;
use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// A member whose lease the leader has not renewed for this long loses its slots.
pub const RECLAIM_AFTER: Duration = Duration::from_secs(3);
/// A member that could not renew its lease for this long ends its sessions (when a limit is
/// set). Must stay below `RECLAIM_AFTER` minus the leader's 750 ms quorum freshness.
pub const SELF_FENCE_AFTER: Duration = Duration::from_millis(1_500);
const RENEW_EVERY: Duration = Duration::from_millis(250);
/// After a failed renewal (no leader, or one without a majority), the next try comes this soon.
const RENEW_RETRY: Duration = Duration::from_millis(50);
/// Renewal tries out at once, at most (each waits up to 400 ms for its answer).
const RENEW_IN_FLIGHT: usize = 4;
const RECLAIM_CHECK_EVERY: Duration = Duration::from_millis(25);
/// A gap between two reclaim checks longer than this means the process stalled.
const STALL: Duration = Duration::from_millis(250);
const ORPHAN_CHECK_EVERY: Duration = Duration::from_secs(5);

/// Register again when the cluster fenced this node's epoch while it was cut off.
async fn reregister_if_fenced(replica: &Replica, shared: &NodeShared) {
    let mine = shared.epoch.load(Ordering::SeqCst);
    let node_id = shared.node_id;
    if mine == 0 || replica.view().read(|s| s.node_epoch(node_id)) <= mine {
        return;
    }
    tracing::warn!(
        node_id,
        "this node's slots were reclaimed while it was cut off: registering again"
    );
    match replica.propose(Command::NodeStarted { node_id }).await {
        Ok(Response::NodeEpoch { epoch, .. }) => shared.epoch.store(epoch, Ordering::SeqCst),
        Ok(other) => tracing::warn!(?other, "unexpected answer to a registration"),
        Err(e) => tracing::warn!(error = %e, "registering again failed; will retry"),
    }
}

/// Whether a concurrency limit is set, i.e. whether an isolated node's sessions could push
/// the cluster over it once their slots are reclaimed.
fn limit_set(replica: &Replica) -> bool {
    replica.view().read(|s| {
        let settings = s.settings();
        settings.max_sessions_total > 0 || settings.max_sessions_per_user > 0
    })
}

/// Renews this node's lease and fences its sessions when the lease lapses.
///
/// Tries overlap: a new one starts every [`RENEW_EVERY`] (every [`RENEW_RETRY`] after a
/// failure) while earlier ones are still out, up to [`RENEW_IN_FLIGHT`]. Each try is a stream of
/// its own on the connection to the leader, so one whose packets were lost (waiting for QUIC to
/// send them again, hundreds of ms on a lossy link) does not hold the next back: with one try
/// at a time, three slow answers used up the whole lease of a healthy member.
async fn keep_lease(replica: Replica, shared: Arc<NodeShared>, mut stop: watch::Receiver<bool>) {
    use futures::stream::{FuturesUnordered, StreamExt};
    // When the last successful renewal was sent; whether one failed before any succeeded.
    let mut renewed: Option<Instant> = None;
    let mut failed_first = false;
    // Why the latest renewal failed, while renewals fail (None after a success): logged once
    // when a run of failures starts, and again if the lease lapses.
    let mut failing: Option<String> = None;
    let mut out = FuturesUnordered::new();
    let mut next = tokio::time::Instant::now();
    loop {
        // When the lease lapses if nothing renews it first (None once it has lapsed).
        let lapse_at = renewed
            .map(|at| tokio::time::Instant::from_std(at + SELF_FENCE_AFTER))
            .filter(|at| *at > tokio::time::Instant::now());
        tokio::select! {
            () = tokio::time::sleep_until(next), if out.len() < RENEW_IN_FLIGHT => {
                let replica = replica.clone();
                let sent = Instant::now();
                out.push(async move { (sent, replica.renew_lease().await) });
                next = tokio::time::Instant::from_std(sent) + RENEW_EVERY;
            }
            Some((sent, result)) = out.next() => match result {
                Ok(()) => {
                    renewed = Some(renewed.map_or(sent, |at| at.max(sent)));
                    if let Some(why) = failing.take() {
                        tracing::info!(node_id = shared.node_id, last_failure = %why, "lease renewals go through again");
                    }
                }
                Err(e) => {
                    if failing.is_none() {
                        tracing::info!(node_id = shared.node_id, error = %e, "lease renewal failed; retrying");
                    }
                    failing = Some(e.to_string());
                    // Try again soon: a new leader is usually there within a few hundred ms,
                    // and every retry that finds it sooner leaves more of the lease to spare.
                    failed_first |= renewed.is_none();
                    next = next.min(tokio::time::Instant::now() + RENEW_RETRY);
                }
            },
            () = async {
                match lapse_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {}
            _ = stop.changed() => return,
        }
        let lapsed = match renewed {
            Some(at) => at.elapsed() > SELF_FENCE_AFTER,
            None => failed_first,
        };
        let fence = lapsed && limit_set(&replica);
        let was = shared.fenced.send_replace(fence);
        if fence && !was {
            tracing::warn!(
                node_id = shared.node_id,
                last_failure = failing.as_deref().unwrap_or("none"),
                "lease lapsed (no majority reached for {} ms): ending this node's sessions \
                 before the cluster reclaims their slots",
                SELF_FENCE_AFTER.as_millis()
            );
        } else if was && !fence {
            tracing::info!(node_id = shared.node_id, "lease renewed: serving again");
        }
    }
}

/// Sessions the replicated state shows open on this node (current epoch) that its gateway does
/// not hold: a close that never got through (the cluster was unreachable for longer than its
/// retries) or an admission that committed after its login had given up. Each holds a slot for
/// nothing, so it is closed once it has been seen orphaned on two checks in a row (a session
/// just admitted is noted by the gate a moment after its entry applies). A session the gateway
/// never held is closed as `NotAdmitted`, which gives its token use back: no one logged in.
async fn close_orphans(replica: &Replica, shared: &NodeShared, suspects: &mut HashSet<u64>) {
    let epoch = shared.epoch.load(Ordering::SeqCst);
    if epoch == 0 {
        return;
    }
    let node_id = shared.node_id;
    let open: Vec<u64> = replica.view().read(|s| {
        s.sessions_of_node(node_id)
            .into_iter()
            .filter(|id| s.session(*id).is_some_and(|x| x.node_epoch == epoch))
            .collect()
    });
    // Forget a given-back session only once this node's copy of the state shows it closed
    // (or of another epoch): one it does not show yet may still be applied as open later (a
    // follower applies an entry a little after the leader answered), and must not then pass
    // for a session this node never held.
    replica.view().read(|s| {
        shared.closing.lock().expect("lock").retain(|id| {
            s.session(*id)
                .is_none_or(|x| x.is_open() && x.node_epoch == epoch)
        })
    });
    let orphans: HashSet<u64> = {
        let live = shared.live.lock().expect("lock");
        open.into_iter().filter(|id| !live.contains(id)).collect()
    };
    for &session_id in orphans.intersection(suspects) {
        let held = shared.closing.lock().expect("lock").contains(&session_id);
        let reason = if held {
            portunus_model::EndReason::Error
        } else {
            portunus_model::EndReason::NotAdmitted
        };
        tracing::warn!(
            session_id,
            ?reason,
            "closing a session the cluster shows open on this node but this node does not hold"
        );
        let close = Command::CloseSession {
            session_id,
            node_id,
            node_epoch: epoch,
            reason,
            bytes_up: 0,
            bytes_down: 0,
            events: None,
        };
        match replica.propose(close).await {
            Ok(_) => {
                shared.closing.lock().expect("lock").remove(&session_id);
            }
            Err(e) => {
                tracing::debug!(session_id, error = %e, "closing an orphaned session failed; will retry")
            }
        }
    }
    *suspects = orphans;
}

/// Make sure the membership carries this node's own addresses (a `--peers` bootstrap
/// recorded only the cluster addresses of the others); true once it does.
async fn publish_info(replica: &Replica, shared: &NodeShared) -> bool {
    match replica.publish_info(shared.info.clone()).await {
        Ok(()) => {
            tracing::debug!(node_id = shared.node_id, "published this node's addresses");
            true
        }
        Err(e) => {
            tracing::debug!(error = %e, "publishing this node's addresses failed; will retry");
            false
        }
    }
}

pub(crate) async fn run(
    replica: Replica,
    shared: Arc<NodeShared>,
    mut stop: watch::Receiver<bool>,
) {
    tokio::spawn(keep_lease(replica.clone(), shared.clone(), stop.clone()));
    let mut tick = tokio::time::interval(RECLAIM_CHECK_EVERY);
    let mut suspects = HashSet::new();
    let mut published = false;
    let mut last_orphan_check = Instant::now();
    let mut last_tick = Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        // A stall of this process (paused, descheduled) hid the renewals that came meanwhile:
        // a leader coming back from one would see every member silent and reclaim live
        // members' slots (a fault run caught a leader resumed after 3.5 s doing so in the
        // 25 ms before it learnt of its successor, which applied the forwarded reclaim).
        if last_tick.elapsed() > STALL {
            tracing::warn!(
                stalled_ms = last_tick.elapsed().as_millis() as u64,
                "this process stalled: counting members' leases afresh"
            );
            replica.restart_leases();
        }
        last_tick = Instant::now();
        reregister_if_fenced(&replica, &shared).await;
        if !published {
            published = publish_info(&replica, &shared).await;
        }
        if last_orphan_check.elapsed() >= ORPHAN_CHECK_EVERY {
            last_orphan_check = Instant::now();
            close_orphans(&replica, &shared, &mut suspects).await;
        }
        let status = replica.status();
        if status.leader != Some(status.node_id) {
            continue;
        }
        for node in status.nodes.iter().filter(|n| n.id != status.node_id) {
            let Some(age) = replica.lease_age(node.id) else {
                break;
            };
            if age < RECLAIM_AFTER {
                continue;
            }
            let holds = replica
                .view()
                .read(|s| !s.sessions_of_node(node.id).is_empty());
            if holds {
                tracing::warn!(
                    node = node.id,
                    lease_age_ms = age.as_millis() as u64,
                    "node's lease lapsed: reclaiming its concurrency slots"
                );
                // Only as the leader whose lease table saw the lapse: a leader that lost the
                // leadership meanwhile must not hand its stale view to its successor.
                if let Err(e) = replica
                    .propose_as_leader(Command::ReclaimNode { node_id: node.id })
                    .await
                {
                    tracing::warn!(node = node.id, error = %e, "reclaim failed; will retry");
                }
            }
        }
    }
}
