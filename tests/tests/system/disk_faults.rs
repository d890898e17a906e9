//! Disk faults with real node processes whose data directories sit on ext4 disks of their own
//! (loop devices, `portunus_tests::power`), while writes go on through the other nodes:
//! - a slow disk (a blkio throttle) under the leader slows it without stopping anything;
//! - a disk that dies under a follower (its filesystem shut down) stops that node by itself,
//!   with exit status 1 and words naming why; mounted again, it starts and catches up;
//! - a follower restarted on a full disk stops at once, naming the full disk; with room again
//!   it starts and catches up.
//!
//! At the end every acknowledged write is listed through every node. The randomized fault runs
//! (`chaos.rs`) inject the same faults among the others.

use crate::power_loss::start_all;
use portunus_tests::sdk::admin_key_env;
use portunus_tests::writes::{wait_listed, Writers};
use portunus_tests::{wait_until, ProcCluster};
use std::net::SocketAddr;
use std::time::Duration;

const START: Duration = Duration::from_secs(60);
const DISK_MIB: u64 = 256;

/// Wait until node `id` has stopped by itself; its exit status must be 1 and its output must
/// contain every one of `words`.
fn stops_saying(c: &mut ProcCluster, id: u64, words: &[&str]) {
    wait_until("the node to stop", START, || !c.node(id).is_running())
        .unwrap_or_else(|e| panic!("{e}:\n{}", c.node(id).output()));
    let status = c.node(id).exit_status().expect("an exit status");
    let said = c.node(id).output();
    assert_eq!(status.code(), Some(1), "{status:?}:\n{said}");
    for w in words {
        assert!(said.contains(w), "{w:?} not in:\n{said}");
    }
}

/// Wait until `writers` have `more` acknowledged writes beyond what they have now.
fn writes_go_on(writers: &Writers, more: usize, what: &str) {
    let now = writers.acknowledged();
    wait_until(what, START, || writers.acknowledged() >= now + more).unwrap();
}

#[test]
fn disk_faults_stop_a_node_only_when_its_log_cannot_be_written() {
    let mut c = ProcCluster::new(3).unwrap();
    c.env = admin_key_env();
    c.on_disks(DISK_MIB).unwrap();
    start_all(&mut c);
    let leader = c.wait_stable(START).unwrap();
    let follower = (1..=3).find(|id| *id != leader).unwrap();
    let other = (1..=3).find(|id| *id != leader && *id != follower).unwrap();
    let apis: Vec<SocketAddr> = [leader, other]
        .iter()
        .map(|id| c.nodes[*id as usize - 1].api)
        .collect();
    let writers = Writers::start(&apis, "w");
    writes_go_on(&writers, 5, "writes acknowledged");

    // A slow disk under the leader: writes go on, every node keeps running.
    let pid = c.node(leader).pid().unwrap();
    let mut slow = c.disk(leader).unwrap().throttle(pid, 20).unwrap();
    writes_go_on(&writers, 5, "writes acknowledged on a slow disk");
    std::thread::sleep(Duration::from_secs(2));
    slow.undo().unwrap();
    for id in 1..=3 {
        assert!(
            c.node(id).is_running(),
            "node {id} stopped under a slow disk:\n{}",
            c.node(id).output()
        );
    }

    // The follower's disk dies: it stops by itself; the other two go on.
    let mount = c.disk(follower).unwrap().mount.clone();
    portunus_tests::power::shut_down(&[mount.as_path()]).unwrap();
    stops_saying(
        &mut c,
        follower,
        &["the replicated log stopped on this node"],
    );
    writes_go_on(&writers, 10, "writes acknowledged without the stopped node");
    c.disk_mut(follower).unwrap().remount().unwrap();
    c.spawn(follower, &[]).unwrap();
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();

    // Restarted on a full disk: it stops at once, naming the full disk.
    c.disk(follower).unwrap().fill().unwrap();
    c.node(follower).kill();
    c.spawn(follower, &[]).unwrap();
    stops_saying(&mut c, follower, &["No space left on device"]);
    writes_go_on(&writers, 10, "writes acknowledged beside the full disk");
    c.disk(follower).unwrap().unfill().unwrap();
    c.spawn(follower, &[]).unwrap();
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();

    let acked = writers.stop();
    assert!(!acked.is_empty());
    for n in &c.nodes {
        wait_listed(n, &acked, START);
    }
}
