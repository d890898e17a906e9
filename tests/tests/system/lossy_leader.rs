//! A leader whose link loses a third of its packets (both ways) must hand over before the
//! healthy members' session leases lapse (1.5 s without a renewal through a leader that hears
//! a majority): the two healthy nodes can elect one of themselves, so no session of theirs may
//! end. The fault runs found a cluster that kept electing the lossy node (its log was the
//! longest) until every lease had lapsed (soak seed 7069, docs/fault-runs.md).
//!
//! `PORTUNUS_LOSSY_TRIALS` (default 6) sets how many times the leader of the moment is made
//! lossy, for 4 s each, while clients write through every node. Before the pre-vote, the
//! longer-lived connections and the renewals with the last known leader, runs of 20-40 trials
//! saw a healthy member lapse in 2 to 6 of them (so this default fails about half the time
//! without them); with them, 0 in 80.

use portunus_tests::{admin_within, ProcCluster};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const START: Duration = Duration::from_secs(60);
const LAPSED: &str = "lease lapsed";
/// Log lines about elections and leases.
const ELECTIONS: [&str; 6] = [
    LAPSED,
    "holding back",
    "standing for election",
    "campaigning at once",
    "higher vote",
    "lease renew",
];

#[test]
fn a_lossy_leader_hands_over_before_a_healthy_members_lease_lapses() {
    let trials: usize = match std::env::var("PORTUNUS_LOSSY_TRIALS") {
        Ok(v) => v.parse().expect("PORTUNUS_LOSSY_TRIALS is a number"),
        Err(_) => 6,
    };
    let mut c = ProcCluster::relayed_with_session_limit(3, "PORTUNUS_LOSSY_LOG", 2, START).unwrap();

    // Writes through every node, so that the members' logs differ when the leader is hit.
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = c
        .nodes
        .iter()
        .map(|n| {
            let (api, stop, acked, id) = (n.api, stop.clone(), acked.clone(), n.id);
            std::thread::spawn(move || {
                let mut k = 0;
                while !stop.load(Ordering::Relaxed) {
                    let name = format!("UserGroupName=lossy-{id}-{k}");
                    let out = admin_within(
                        api,
                        &["call", "CreateUserGroup", &name],
                        Duration::from_secs(3),
                    );
                    if out.ok {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    k += 1;
                }
            })
        })
        .collect();

    let mut lapses = Vec::new();
    for trial in 0..trials {
        let leader = c.wait_stable(START).unwrap();
        let before: Vec<usize> = c
            .nodes
            .iter()
            .map(|n| n.output().matches(LAPSED).count())
            .collect();
        c.relay().lose(leader, 33);
        std::thread::sleep(Duration::from_secs(4));
        c.relay().heal(leader);
        c.wait_stable(START).unwrap();
        for (i, n) in c.nodes.iter().enumerate() {
            let now = n.output().matches(LAPSED).count();
            if n.id != leader && now > before[i] {
                lapses.push(format!(
                    "trial {trial}: node {} (healthy) lapsed while node {leader} led lossy",
                    n.id
                ));
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    assert!(
        acked.load(Ordering::Relaxed) > 0,
        "no write went through: the trials tested an idle cluster"
    );
    if let (false, Ok(keep)) = (lapses.is_empty(), std::env::var("PORTUNUS_LOSSY_KEEP")) {
        std::fs::create_dir_all(&keep).unwrap();
        for n in &c.nodes {
            std::fs::write(format!("{keep}/node{}.log", n.id), n.output()).unwrap();
        }
    }
    // What each node said about elections and leases, to read a failure by.
    let said: Vec<String> = c
        .nodes
        .iter()
        .map(|n| {
            let output = n.output();
            let lines: Vec<&str> = output
                .lines()
                .filter(|l| ELECTIONS.iter().any(|w| l.contains(w)))
                .map(|l| &l[..l.len().min(220)])
                .collect();
            format!("node {}:\n{}", n.id, lines.join("\n"))
        })
        .collect();
    assert!(
        lapses.is_empty(),
        "{}\n\n{}",
        lapses.join("\n"),
        said.join("\n----\n")
    );
}
