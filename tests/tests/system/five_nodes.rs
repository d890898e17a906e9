//! Five engines, real processes: the cluster survives the loss of any two. With the leader and
//! a follower SIGKILLed at once, writes go on through the three survivors (a new leader among
//! them) and token logins work through each survivor; once both are back, two other
//! followers are killed and the same holds; after the last restart every node lists every
//! acknowledged write. Losing a third node stops writes (no majority), which is refused as such.

use crate::login::{database_login, echo_through, Login};
use portunus_tests::writes::{wait_listed, Writers};
use portunus_tests::{wait_until, ProcCluster};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

const START: Duration = Duration::from_secs(60);
/// How long a change may take to show through another node.
const SEEN: Duration = Duration::from_secs(20);

/// Kill nodes `lost` while writers go on through the others; the writes acknowledged, once
/// some were acknowledged after the loss through every survivor.
async fn lose(c: &mut ProcCluster, lost: &[u64], login: &Login, round: usize) -> BTreeSet<String> {
    let survivors: Vec<u64> = (1..=5).filter(|id| !lost.contains(id)).collect();
    let apis: Vec<SocketAddr> = survivors
        .iter()
        .map(|id| c.nodes[*id as usize - 1].api)
        .collect();
    let writers = Writers::start(&apis, &format!("r{round}-"));
    wait_until("writes before the loss", SEEN, || {
        writers.acknowledged() >= 5
    })
    .unwrap();
    for id in lost {
        c.node(*id).kill();
    }
    let before = writers.acknowledged();
    let went_on = wait_until("writes through the survivors after the loss", START, || {
        writers.acknowledged() >= before + 15
    });
    let acked = writers.stop();
    went_on.unwrap_or_else(|e| panic!("{e}: nodes {lost:?} lost, {} acknowledged", acked.len()));
    for id in &survivors {
        let port = c.nodes[*id as usize - 1].ssh.port();
        let t = login
            .tunnel(port)
            .await
            .unwrap_or_else(|e| panic!("token login through node {id} with {lost:?} lost: {e}"));
        let mut conn = t.connect().unwrap();
        assert!(echo_through(&mut conn, b"three of five"));
    }
    eprintln!(
        "round {round}: nodes {lost:?} lost; {} writes acknowledged",
        acked.len()
    );
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_engines_survive_the_loss_of_any_two() {
    let mut c = ProcCluster::with_admin(5, START).unwrap();
    let (login, _) = database_login(&c);
    let leader = c.wait_stable(START).unwrap();
    let follower = (1..=5).find(|id| *id != leader).unwrap();

    // The leader and a follower at once.
    let mut acked = lose(&mut c, &[leader, follower], &login, 1).await;
    for id in [leader, follower] {
        c.spawn(id, &[]).unwrap();
    }
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();
    for n in &c.nodes {
        wait_listed(n, &acked, SEEN);
    }

    // Two followers.
    let followers: Vec<u64> = (1..=5).filter(|id| *id != leader).take(2).collect();
    acked.extend(lose(&mut c, &followers, &login, 2).await);

    // A third loss leaves no majority: a write is refused for want of a quorum.
    let third = (1..=5)
        .find(|id| *id != leader && !followers.contains(id))
        .unwrap();
    c.node(third).kill();
    let via = &c.nodes[leader as usize - 1];
    let mut refusal = None;
    wait_until("a write refused for want of a quorum", START, || {
        let out = via.admin(&["user", "create", "no-quorum", "--password", "Passw0rd!x"]);
        assert!(!out.ok, "a write acknowledged by 2 of 5 nodes: {out:?}");
        let said = format!("{}{}", out.stdout, out.stderr);
        let refused = said.contains("ServiceUnavailable") && said.contains("quorum");
        refusal = Some(said);
        refused
    })
    .unwrap_or_else(|e| panic!("{e}: {refusal:?}"));

    for id in followers.iter().chain([&third]) {
        c.spawn(*id, &[]).unwrap();
    }
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();
    for n in &c.nodes {
        wait_listed(n, &acked, SEEN);
    }
}
