//! Power loss, with real node processes whose data directories sit on ext4 disks of their own
//! (loop devices) that a test shuts down the way a power cut does (`portunus_tests::power`):
//! what a node had not fsynced is gone, unlike after a SIGKILL. After the cut the nodes start
//! from what reached their disks, and every write the API acknowledged is there, every spent
//! token use is counted exactly once, the closed sessions' events still match their sealed
//! digests, and every line of each node's audit events file is whole.
//!
//! Seeded: `PORTUNUS_TEST_SEED=N` repeats a run of the randomized test (the seed is printed).

use crate::login::{database_login, echo_through, token_row};
use portunus_tests::sdk::admin_key_env;
use portunus_tests::writes::{wait_listed, Writers};
use portunus_tests::{wait_until, NodeProc, ProcCluster};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

const START: Duration = Duration::from_secs(60);
/// How long a change may take to show through another node.
const SEEN: Duration = Duration::from_secs(20);
/// Size of each node's disk.
const DISK_MIB: u64 = 512;

/// Start every node of `c` and wait until it is stable, replicated and the Admin key works
/// through each node.
pub(crate) fn start_all(c: &mut ProcCluster) {
    c.start_with_admin(START).unwrap();
}

/// Every newline-ended line of node `n`'s audit events file is a JSON object; their count. (A
/// line being written as the file is read may lack its newline yet.)
fn audit_lines_whole(n: &NodeProc) -> usize {
    let path = n.data_dir.join("audit/events.jsonl");
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let whole = match text.iter().rposition(|b| *b == b'\n') {
        Some(i) => &text[..=i],
        None => &text[..0],
    };
    let mut count = 0;
    for (i, line) in whole.split(|b| *b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let parsed = serde_json::from_slice::<serde_json::Value>(line);
        assert!(
            parsed.as_ref().is_ok_and(|v| v.is_object()),
            "node {}: line {} of {} is not a whole event: {:?}",
            n.id,
            i + 1,
            path.display(),
            String::from_utf8_lossy(line)
        );
        count += 1;
    }
    count
}

/// Wait until every node lists token `id` with `uses` uses and `left` left.
fn assert_token_uses(c: &ProcCluster, id: &str, uses: u64, left: u64) {
    for n in &c.nodes {
        let mut row = None;
        let seen = wait_until("the token's uses to show", SEEN, || {
            row = token_row(n, id);
            row.as_ref()
                .is_some_and(|r| r["Uses"] == uses && r["CountLeft"] == left)
        });
        assert!(
            seen.is_ok(),
            "node {} lists the token as {row:?}; wanted {uses} uses and {left} left",
            n.id
        );
    }
}

/// The ids of eng's closed sessions, listed through node `n`.
fn closed_sessions(n: &NodeProc) -> Vec<String> {
    let out = n.admin_ok(&[
        "--json", "session", "list", "--user", "eng", "--state", "Closed",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("session list is JSON");
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s["SessionId"].as_str().expect("an id").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_of_the_whole_cluster_keeps_every_acknowledged_write_applied_once() {
    let mut c = ProcCluster::new(3).unwrap();
    c.env = admin_key_env();
    c.on_disks(DISK_MIB).unwrap();
    start_all(&mut c);
    let out = c
        .cli(
            c.nodes[0].cluster,
            &["settings", "--token-default-use-count", "5"],
        )
        .unwrap();
    assert!(out.contains("token_default_use_count = 5"), "{out}");
    let (login, token_id) = database_login(&c);

    // Two token uses, through two nodes; their sessions closed (events sealed and stored).
    for id in [1, 2] {
        let t = login
            .tunnel(c.nodes[id].ssh.port())
            .await
            .unwrap_or_else(|e| panic!("token login through node {}: {e}", id + 1));
        let mut conn = t.connect().unwrap();
        assert!(echo_through(&mut conn, b"before the cut"));
    }
    let mut sessions = Vec::new();
    wait_until("both sessions closed", SEEN, || {
        sessions = closed_sessions(&c.nodes[2]);
        sessions.len() == 2
    })
    .unwrap_or_else(|e| panic!("{e}: {sessions:?}"));
    assert_token_uses(&c, &token_id, 2, 3);

    // Writes through every node, and the power of all three cut while they go on.
    let apis: Vec<SocketAddr> = c.nodes.iter().map(|n| n.api).collect();
    let writers = Writers::start(&apis, "w");
    wait_until("some writes acknowledged", SEEN, || {
        writers.acknowledged() >= 6
    })
    .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    c.power_cut(&[1, 2, 3]).unwrap();
    let acked = writers.stop();
    eprintln!("{} user creations acknowledged before the cut", acked.len());

    start_all(&mut c);
    for n in &c.nodes {
        wait_listed(n, &acked, SEEN);
    }
    // Spent uses counted once: not lost, not applied again when the log was replayed.
    assert_token_uses(&c, &token_id, 2, 3);
    let said = c.nodes[2].admin_ok(&["session", "verify", &sessions[0], &sessions[1]]);
    for s in &sessions {
        let line = said
            .lines()
            .find(|l| l.starts_with(&format!("session {s}: ")));
        assert!(
            line.is_some_and(|l| l.contains("events match")),
            "session {s} after the cut: {said}"
        );
    }
    let t = login
        .tunnel(c.nodes[0].ssh.port())
        .await
        .unwrap_or_else(|e| panic!("token login after the cut: {e}"));
    drop(t);
    assert_token_uses(&c, &token_id, 3, 2);
    for n in &c.nodes {
        let lines = audit_lines_whole(n);
        assert!(lines > 0, "node {} has an empty audit events file", n.id);
    }
}

/// SplitMix64: a small seeded generator, so that a failing run can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` milliseconds.
    fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.next() % (hi - lo))
    }
}

#[test]
fn a_node_that_loses_power_again_and_again_starts_each_time_with_its_acknowledged_writes() {
    let seed = std::env::var("PORTUNUS_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("PORTUNUS_TEST_SEED={seed}");
    let mut rng = Rng(seed);
    let mut c = ProcCluster::new(1).unwrap();
    c.env = admin_key_env();
    c.on_disks(DISK_MIB).unwrap();

    // The first start cut short, at a moment anywhere in it.
    c.spawn(1, &[]).unwrap();
    let first = rng.millis(0, 1500);
    std::thread::sleep(first);
    c.power_cut(&[1]).unwrap();
    eprintln!("power cut {first:?} into the first start");

    let mut acked = BTreeSet::new();
    for round in 0..4 {
        start_all(&mut c);
        let n = &c.nodes[0];
        wait_listed(n, &acked, SEEN);
        let lines = audit_lines_whole(n);
        let writers = Writers::start(&[n.api, n.api], &format!("r{round}-"));
        let after = rng.millis(200, 2500);
        std::thread::sleep(after);
        c.power_cut(&[1]).unwrap();
        let now = writers.stop();
        eprintln!(
            "round {round}: {} users acknowledged, power cut after {after:?} ({lines} audit \
             lines before)",
            now.len()
        );
        acked.extend(now);
    }
    start_all(&mut c);
    wait_listed(&c.nodes[0], &acked, SEEN);
    audit_lines_whole(&c.nodes[0]);
    assert!(
        !acked.is_empty(),
        "no write was acknowledged in four rounds: the test proved nothing"
    );
}
