//! A leader that held back its heartbeats (it heard no majority) does not stand for election
//! for a while after, so that the others elect a leader that can reach one. That pause must
//! end as soon as no leader is heard, even when the member's metrics still name one: the fault
//! runs saw a leader elected during the pause (with the paused member's vote) and killed at
//! once, while the third member had missed the new term's entries. The paused member, whose
//! log was now the longest, refused the third for a shorter log and waited out its whole pause
//! for a leader that was dead, until every lease had lapsed (soak seed 7188,
//! docs/fault-runs.md).

use portunus_tests::{wait_until, ProcCluster};
use std::time::{Duration, Instant};

const START: Duration = Duration::from_secs(60);
const LAPSED: &str = "lease lapsed";
const HELD_BACK: &str = "holding back heartbeats so that";
const PAUSED: &str = "not standing for election";

#[test]
fn a_paused_member_stands_again_once_the_leader_it_elected_dies() {
    let mut c =
        ProcCluster::relayed_with_session_limit(3, "PORTUNUS_HELD_BACK_LOG", 2, START).unwrap();
    let old = c.wait_stable(START).unwrap();
    let others: Vec<u64> = c
        .nodes
        .iter()
        .map(|n| n.id)
        .filter(|id| *id != old)
        .collect();
    let (next, third) = (others[0], others[1]);
    let node = |id: u64| (id - 1) as usize;
    let said =
        |c: &ProcCluster, id: u64, what: &str| c.nodes[node(id)].output().matches(what).count();
    let lapsed_before = said(&c, old, LAPSED);
    let (held_before, paused_before) = (said(&c, old, HELD_BACK), said(&c, old, PAUSED));

    // The leader hears no one (what it sends still arrives) and holds back; the third member
    // is cut off, so that only the leader will have the next term's entries.
    c.relay().isolate(third);
    c.relay().deafen(old);
    wait_until("the leader holding back", START, || {
        said(&c, old, HELD_BACK) > held_before
    })
    .unwrap();
    // It hears again: the next member, finding no leader, wins with its vote.
    c.relay().heal(old);
    let elected = wait_until("the next member leading", START, || {
        c.nodes[node(next)].leader() == Some(next)
    });
    elected.unwrap();
    let paused = wait_until(
        "the old leader pausing its candidacy",
        Duration::from_secs(5),
        || said(&c, old, PAUSED) > paused_before,
    );
    assert!(
        paused.is_ok(),
        "the old leader did not pause its candidacy after holding back: the case was not made\n{}",
        c.nodes[node(old)].output()
    );
    // Long enough for the old leader to hear the new one and renew its lease through it.
    std::thread::sleep(Duration::from_millis(200));
    c.nodes[node(next)].kill();
    let killed = Instant::now();
    c.relay().heal(third);
    let leader = c.wait_stable(START).unwrap();
    let took = killed.elapsed();
    let lapsed = said(&c, old, LAPSED) - lapsed_before;
    let elections: Vec<String> = [old, third]
        .iter()
        .map(|id| {
            let out = c.nodes[node(*id)].output();
            let lines: Vec<&str> = out
                .lines()
                .filter(|l| {
                    [
                        LAPSED,
                        HELD_BACK,
                        PAUSED,
                        "standing for election",
                        "lease renew",
                    ]
                    .iter()
                    .any(|w| l.contains(w))
                })
                .map(|l| &l[..l.len().min(220)])
                .collect();
            format!("node {id}:\n{}", lines.join("\n"))
        })
        .collect();
    // The third member was cut off through all of this and may lapse; the old leader, healthy
    // again since the election, may not.
    assert_eq!(
        lapsed,
        0,
        "node {old}'s lease lapsed after node {next} (elected with its vote) was killed; node \
         {leader} led {} ms after the kill\n{}",
        took.as_millis(),
        elections.join("\n----\n")
    );
}
