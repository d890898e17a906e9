//! The replicated state seen from outside, with three real `portunus` processes: a write through
//! any node is seen through every node, and no acknowledged write is lost when the leader is
//! SIGKILLed (nor on the killed node once it is back from its data directory); a node cut off
//! from the majority (through the UDP relay between the nodes) refuses writes with "no quorum"
//! instead of hanging while the majority goes on, and it converges once healed; a count-limited
//! O&M token is spent exactly its count by concurrent OpenSSH logins spread over every node; a
//! cluster-wide session limit holds across nodes and a killed node's slots come back; and a
//! full restart of every node keeps users, assets, grants and tokens (the token still logs in).
//!
//! Covered elsewhere and not repeated here: the election after a leader's SIGKILL and its
//! recovery from disk (`cluster.rs`,
//! `three_nodes_survive_sigkill_of_the_leader_and_recover_it_from_disk`); logins through the
//! other engine when one dies, readiness and open sessions of a partitioned engine, and the
//! limit across a partition with two engines and a witness (`witness.rs`). A restarted node
//! catching up by snapshot after the log was purged is tested here with a small snapshot
//! interval (`--snapshot-every`); `raft/tests/cluster.rs` also covers it in-process.

use crate::login::{database_login, echo_through, token_row, Login, Tunnel};
use portunus_tests::sdk::admin_key_env;
use portunus_tests::writes::{names_listed, user_names, wait_listed};
use portunus_tests::{created, wait_until, AdminOutput, NodeProc, ProcCluster};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const START: Duration = Duration::from_secs(30);
/// How long a change may take to show through another node.
const SEEN: Duration = Duration::from_secs(15);

/// Three nodes (through the relay when `relay`), stable, the test Admin key usable through each.
fn three_nodes(relay: bool) -> ProcCluster {
    let mut c = if relay {
        ProcCluster::with_relay(3).unwrap()
    } else {
        ProcCluster::new(3).unwrap()
    };
    c.env = admin_key_env();
    c.spawn_all().unwrap();
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();
    for n in &c.nodes {
        let mut last = None;
        wait_until("the Admin key to work through every node", START, || {
            let out = n.admin(&["user", "list"]);
            let ok = out.ok;
            last = Some(out);
            ok
        })
        .unwrap_or_else(|e| panic!("{e}: node {}: {last:?}", n.id));
    }
    c
}

fn ok(n: &NodeProc, args: &[&str]) -> String {
    let out = n.admin(args);
    assert!(
        out.ok,
        "portunus admin {args:?} through node {}: {out:?}",
        n.id
    );
    out.stdout
}

#[test]
fn writes_on_any_node_are_seen_on_all_and_none_acknowledged_is_lost_when_the_leader_is_killed() {
    let mut c = three_nodes(false);
    // One user created through each node, listed through every node.
    for n in &c.nodes {
        let name = format!("via-{}", n.id);
        created(&ok(
            n,
            &["user", "create", &name, "--password", "Passw0rd!x"],
        ));
    }
    let first: BTreeSet<String> = (1..=3).map(|id| format!("via-{id}")).collect();
    for n in &c.nodes {
        wait_listed(n, &first, SEEN);
    }

    // A writer per follower creates users through it while the leader is SIGKILLed; every
    // acknowledged create is recorded.
    let leader = c.wait_stable(START).unwrap();
    let followers: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let killed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
    #[derive(Default)]
    struct Record {
        acked: Vec<String>,
        acked_after_kill: usize,
        failed: Vec<String>,
    }
    let writers: Vec<_> = followers
        .iter()
        .map(|id| {
            let api = c.nodes[*id as usize - 1].api;
            let (stop, killed_at, id) = (stop.clone(), killed_at.clone(), *id);
            let record = Arc::new(Mutex::new(Record::default()));
            let r = record.clone();
            let handle = std::thread::spawn(move || {
                for i in 0.. {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let name = format!("w{id}-{i}");
                    let sent = Instant::now();
                    let out = portunus_tests::admin_cli(
                        api,
                        &["user", "create", &name, "--password", "Passw0rd!x"],
                    );
                    let after_kill = killed_at.lock().unwrap().is_some_and(|k| sent > k);
                    let mut r = r.lock().unwrap();
                    if out.ok {
                        r.acked.push(name);
                        r.acked_after_kill += usize::from(after_kill);
                    } else {
                        r.failed
                            .push(format!("{name} ({:?}): {}", out.took, out.stderr.trim()));
                    }
                }
            });
            (id, record, handle)
        })
        .collect();
    let acked = |n: usize| {
        writers
            .iter()
            .all(|(_, r, _)| r.lock().unwrap().acked.len() >= n)
    };
    wait_until("writes through both followers", START, || acked(3)).unwrap();
    c.node(leader).kill();
    *killed_at.lock().unwrap() = Some(Instant::now());
    let kill = Instant::now();
    // A read through a survivor right after the kill, before it noticed, waits for the next
    // leader instead of spending its whole wait on the dead one: one call each, no retry.
    std::thread::scope(|s| {
        let reads: Vec<_> = followers
            .iter()
            .map(|id| {
                let n = &c.nodes[*id as usize - 1];
                s.spawn(move || (n.id, n.admin(&["--json", "user", "list"])))
            })
            .collect();
        for r in reads {
            let (id, out) = r.join().unwrap();
            assert!(
                out.ok && out.stdout.trim_start().starts_with('['),
                "a read through node {id} right after the leader's kill: {out:?}"
            );
        }
    });
    let went_on = wait_until(
        "acknowledged writes through both survivors after the kill",
        Duration::from_secs(40),
        || {
            writers
                .iter()
                .all(|(_, r, _)| r.lock().unwrap().acked_after_kill >= 10)
        },
    );
    stop.store(true, Ordering::SeqCst);
    let mut all = BTreeSet::new();
    for (id, record, handle) in writers {
        handle.join().unwrap();
        let r = record.lock().unwrap();
        eprintln!(
            "writer through node {id}: {} acknowledged ({} sent after the kill), {} failed: {:#?}",
            r.acked.len(),
            r.acked_after_kill,
            r.failed.len(),
            r.failed
        );
        all.extend(r.acked.iter().cloned());
    }
    went_on.unwrap();
    eprintln!(
        "leader {leader} SIGKILLed; writes went on, stopped {:?} after the kill",
        kill.elapsed()
    );
    all.extend(first);

    let new_leader = c.wait_stable(START).unwrap();
    assert_ne!(new_leader, leader);
    for id in &followers {
        wait_listed(&c.nodes[*id as usize - 1], &all, SEEN);
    }
    // The killed node, back from its data directory, has every acknowledged write too.
    c.spawn(leader, &[]).unwrap();
    let now_leader = c.wait_stable(START).unwrap();
    c.wait_replicated(now_leader, START).unwrap();
    wait_listed(&c.nodes[leader as usize - 1], &all, SEEN);
    eprintln!(
        "{} acknowledged users listed through all three nodes",
        all.len()
    );
}

/// Wait until nodes `ids` agree on a leader among them and are ready; returns it.
fn majority_leader(c: &ProcCluster, ids: &[u64]) -> u64 {
    let mut leader = None;
    wait_until("the majority to agree on a leader", START, || {
        let seen: Vec<Option<u64>> = ids
            .iter()
            .map(|i| c.nodes[*i as usize - 1].leader())
            .collect();
        let agreed = seen[0].filter(|l| ids.contains(l) && seen.iter().all(|s| *s == Some(*l)));
        leader = agreed;
        agreed.is_some() && ids.iter().all(|i| c.nodes[*i as usize - 1].ready())
    })
    .unwrap();
    leader.expect("set when agreed")
}

#[test]
fn a_cut_off_minority_cannot_commit_and_everything_converges_after_healing() {
    let c = three_nodes(true);
    let leader = majority_leader(&c, &[1, 2, 3]);
    // Cut the leader off: the two others must elect a new one.
    let cut = leader;
    let majority: Vec<u64> = (1..=3).filter(|id| *id != cut).collect();
    let cut_node = &c.nodes[cut as usize - 1];
    c.relay().isolate(cut);
    let isolated = Instant::now();
    wait_until("the cut node to report not-ready", START, || {
        !cut_node.ready()
    })
    .unwrap();
    eprintln!(
        "leader {cut} cut off: not-ready after {:?}",
        isolated.elapsed()
    );

    // A write through the cut node is refused, not left hanging: a no-quorum answer.
    let refused: AdminOutput =
        cut_node.admin(&["user", "create", "cut-1", "--password", "Passw0rd!x"]);
    eprintln!(
        "write through the cut node answered after {:?}: {}",
        refused.took,
        refused.stderr.trim()
    );
    assert!(!refused.ok, "a cut-off node committed a write: {refused:?}");
    assert!(
        refused.stderr.contains("ServiceUnavailable") && refused.stderr.contains("no quorum"),
        "not a no-quorum answer (the client gave up?): {refused:?}"
    );
    assert!(
        !refused.stderr.contains("no answer within"),
        "the write hung until the client's timeout: {refused:?}"
    );

    // The majority elects a leader and commits writes through either of its nodes.
    let new_leader = majority_leader(&c, &majority);
    eprintln!(
        "the majority elected node {new_leader} {:?} after the cut",
        isolated.elapsed()
    );
    let mut written = BTreeSet::new();
    for i in 0..6 {
        let id = majority[i % 2];
        let name = format!("maj-{i}");
        ok(
            &c.nodes[id as usize - 1],
            &["user", "create", &name, "--password", "Passw0rd!x"],
        );
        written.insert(name);
    }
    for id in &majority {
        wait_listed(&c.nodes[*id as usize - 1], &written, SEEN);
    }
    // Meanwhile the cut node has none of them: it either lists users without them or refuses
    // to answer for want of a quorum (a read is linearizable); any other answer is a fault.
    let listed = cut_node.admin(&["--json", "user", "list"]);
    if listed.ok {
        let stale = names_listed(&listed.stdout).expect("a JSON array of users");
        assert!(
            stale.is_disjoint(&written),
            "the cut node lists majority writes while cut off: {stale:?}"
        );
    } else {
        assert!(
            listed.stderr.contains("ServiceUnavailable") && listed.stderr.contains("quorum"),
            "the cut node's list failed, not for want of a quorum: {listed:?}"
        );
    }

    c.relay().heal(cut);
    let healed = Instant::now();
    wait_until("the healed node to be ready", START, || cut_node.ready()).unwrap();
    wait_listed(cut_node, &written, SEEN);
    eprintln!(
        "healed: node {cut} lists every majority write {:?} after healing",
        healed.elapsed()
    );
    // The refused write never took effect anywhere.
    for n in &c.nodes {
        let names = user_names(n).expect("users listed");
        assert!(
            !names.contains("cut-1"),
            "a refused write took effect (listed through node {})",
            n.id
        );
    }
}

/// Refusals for want of token uses or of slots are not wrong credentials: they must not count
/// towards locking the engineer out (`login_lock_threshold`, 5 by default).
fn assert_not_locked(c: &ProcCluster, refusals: usize) {
    let out = ok(&c.nodes[0], &["--json", "user", "list", "--name", "eng"]);
    let users: serde_json::Value = serde_json::from_str(&out).unwrap();
    let state = &users[0]["UserState"];
    let bad: Vec<String> = c
        .nodes
        .iter()
        .flat_map(|n| {
            n.output()
                .lines()
                .filter(|l| l.contains("login refused") && l.contains("BadCredentials"))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        state
            .as_array()
            .is_some_and(|s| !s.contains(&"Locked".into())),
        "user eng is {state} after {refusals} logins refused for want of uses or slots (no \
         wrong credential was given); the nodes logged {} wrong-credential refusals: {bad:#?}",
        bad.len()
    );
}

/// `per_node` concurrent token logins through each of `nodes`, all started at once; the
/// node and the result of each.
async fn logins_at_once(
    c: &ProcCluster,
    login: &Arc<Login>,
    nodes: &[u64],
    per_node: usize,
) -> Vec<(u64, Result<Tunnel, String>)> {
    let mut tasks = Vec::new();
    for _ in 0..per_node {
        for id in nodes {
            let (login, id) = (login.clone(), *id);
            let port = c.nodes[id as usize - 1].ssh.port();
            tasks.push(tokio::spawn(async move { (id, login.tunnel(port).await) }));
        }
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

fn summary(results: &[(u64, Result<Tunnel, String>)]) -> BTreeMap<u64, usize> {
    let mut admitted = BTreeMap::new();
    for (id, r) in results {
        *admitted.entry(*id).or_insert(0) += usize::from(r.is_ok());
    }
    admitted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_limited_token_is_spent_exactly_its_count_across_all_nodes() {
    const USES: usize = 3;
    let c = three_nodes(false);
    let out = c
        .cli(
            c.nodes[0].cluster,
            &["settings", "--token-default-use-count", &USES.to_string()],
        )
        .unwrap();
    assert!(out.contains("token_default_use_count = 3"), "{out}");
    let (login, token_id) = database_login(&c);
    let row = token_row(&c.nodes[0], &token_id).unwrap();
    assert_eq!(row["HasCountLimit"], true, "{row}");
    assert_eq!(row["CountLeft"], USES, "{row}");

    let login = Arc::new(login);
    let started = Instant::now();
    let results = logins_at_once(&c, &login, &[1, 2, 3], 4).await;
    let admitted = results.iter().filter(|(_, r)| r.is_ok()).count();
    eprintln!(
        "{} concurrent token logins over 3 nodes in {:?}: admitted per node {:?}",
        results.len(),
        started.elapsed(),
        summary(&results)
    );
    for (id, r) in &results {
        if let Err(e) = r {
            assert!(
                e.contains("no uses left"),
                "login through node {id} refused for another reason: {e}"
            );
        }
    }
    assert_eq!(admitted, USES, "admitted logins");
    for (_, r) in &results {
        if let Ok(t) = r {
            let mut conn = t.connect().unwrap();
            assert!(
                echo_through(&mut conn, b"ping"),
                "an admitted tunnel passes bytes"
            );
        }
    }
    for n in &c.nodes {
        let mut row = None;
        let spent = wait_until("the token to show every use spent", SEEN, || {
            row = token_row(n, &token_id);
            row.as_ref().is_some_and(|r| r["CountLeft"] == 0)
        });
        spent.unwrap_or_else(|e| panic!("{e}: node {}: {row:?}", n.id));
        let row = row.unwrap();
        assert_eq!(row["Uses"], USES, "through node {}: {row}", n.id);
        assert_eq!(row["State"], "UsedUp", "through node {}: {row}", n.id);
    }
    let late = login
        .tunnel(c.nodes[1].ssh.port())
        .await
        .err()
        .expect("used up");
    assert!(late.contains("no uses left"), "{late}");
    assert_not_locked(&c, results.len() - USES + 1);
}

/// Largest cluster-wide slot count any node reported while this runs.
struct SlotWatch {
    stop: Arc<AtomicBool>,
    max: Arc<Mutex<f64>>,
    handle: Option<std::thread::JoinHandle<()>>,
}

impl SlotWatch {
    fn start(apis: Vec<std::net::SocketAddr>) -> SlotWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(Mutex::new(0.0f64));
        let (s, m) = (stop.clone(), max.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                for api in &apis {
                    if let Ok((200, body)) = portunus_tests::http_get(*api, "/metrics") {
                        if let Some(v) =
                            portunus_tests::metric_sum(&body, "portunus_concurrency_slots_in_use")
                        {
                            let mut m = m.lock().unwrap();
                            *m = m.max(v);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        });
        SlotWatch {
            stop,
            max,
            handle: Some(handle),
        }
    }

    fn max(&self) -> f64 {
        *self.max.lock().unwrap()
    }
}

impl Drop for SlotWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Set the cluster-wide session limit to `limit` and wait until every node reports it.
fn limit_sessions(c: &ProcCluster, limit: usize) {
    let out = c
        .cli(
            c.nodes[0].cluster,
            &["settings", "--max-sessions-total", &limit.to_string()],
        )
        .unwrap();
    assert!(
        out.contains(&format!("max_sessions_total = {limit}")),
        "{out}"
    );
    for n in &c.nodes {
        wait_metric(n, "portunus_concurrency_slots_limit", limit as f64, SEEN);
    }
}

fn wait_metric(n: &NodeProc, name: &str, want: f64, within: Duration) {
    let mut seen = None;
    wait_until(&format!("{name} = {want}"), within, || {
        seen = n.metric(name);
        seen == Some(want)
    })
    .unwrap_or_else(|e| panic!("{e}: node {} reports {seen:?}", n.id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_limit_holds_across_nodes_and_a_killed_nodes_slots_come_back() {
    const LIMIT: usize = 3;
    let mut c = three_nodes(false);
    limit_sessions(&c, LIMIT);
    let (login, _) = database_login(&c);
    let login = Arc::new(login);
    let watch = SlotWatch::start(c.nodes.iter().map(|n| n.metrics).collect());

    // Nine logins at once, three through each node: exactly the limit is admitted.
    let results = logins_at_once(&c, &login, &[1, 2, 3], 3).await;
    let held = summary(&results);
    eprintln!("9 concurrent logins: admitted per node {held:?}");
    for (id, r) in &results {
        if let Err(e) = r {
            assert!(
                e.contains("limit reached"),
                "login through node {id} refused for another reason: {e}"
            );
        }
    }
    let admitted: Vec<(u64, Tunnel)> = results
        .into_iter()
        .filter_map(|(id, r)| r.ok().map(|t| (id, t)))
        .collect();
    assert_eq!(admitted.len(), LIMIT, "admitted sessions");
    assert_not_locked(&c, 9 - LIMIT);
    for n in &c.nodes {
        wait_metric(n, "portunus_concurrency_slots_in_use", LIMIT as f64, SEEN);
        let mine = held.get(&n.id).copied().unwrap_or(0) as f64;
        wait_metric(n, "portunus_sessions_active", mine, SEEN);
    }

    // SIGKILL a node holding slots: they come back, and the survivors admit up to the limit.
    let (&victim, &lost) = held.iter().find(|(_, k)| **k > 0).unwrap();
    let leader = c.wait_stable(START).unwrap();
    c.node(victim).kill();
    let killed = Instant::now();
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != victim).collect();
    for id in &survivors {
        let n = &c.nodes[*id as usize - 1];
        wait_metric(
            n,
            "portunus_concurrency_slots_in_use",
            (LIMIT - lost) as f64,
            Duration::from_secs(20),
        );
    }
    eprintln!(
        "node {victim} (leader: {}) held {lost} slot(s), SIGKILLed: reclaimed {:?} after the kill",
        victim == leader,
        killed.elapsed()
    );
    let more = logins_at_once(&c, &login, &survivors, lost + 1).await;
    eprintln!(
        "{} concurrent logins through the survivors: admitted per node {:?}",
        more.len(),
        summary(&more)
    );
    for (id, r) in &more {
        if let Err(e) = r {
            assert!(
                e.contains("limit reached"),
                "login through node {id} refused for another reason: {e}"
            );
        }
    }
    let again = more.iter().filter(|(_, r)| r.is_ok()).count();
    assert_eq!(again, lost, "sessions admitted after the reclaim");
    for id in &survivors {
        let n = &c.nodes[*id as usize - 1];
        wait_metric(n, "portunus_concurrency_slots_in_use", LIMIT as f64, SEEN);
    }
    let survivors_active: f64 = survivors
        .iter()
        .map(|id| {
            c.nodes[*id as usize - 1]
                .metric("portunus_sessions_active")
                .unwrap_or(0.0)
        })
        .sum();
    assert_eq!(
        survivors_active, LIMIT as f64,
        "sessions open on the survivors"
    );
    for (id, t) in admitted.iter().filter(|(id, _)| *id != victim) {
        let mut conn = t.connect().unwrap();
        assert!(
            echo_through(&mut conn, b"still"),
            "a session through node {id} survives the kill of node {victim}"
        );
    }
    let max = watch.max();
    drop(watch);
    assert!(
        max <= LIMIT as f64,
        "a node reported {max} slots in use (limit {LIMIT})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_every_node_keeps_users_assets_grants_and_tokens() {
    let mut c = three_nodes(false);
    let (login, token_id) = database_login(&c);
    let n2 = &c.nodes[1];
    ok(n2, &["host", "create", "web-01", "--address", "127.0.0.1"]);
    ok(
        n2,
        &["host", "add-account", "web-01", "root", "--password", "pw"],
    );
    ok(n2, &["grant", "host", "eng", "web-01", "--account", "root"]);
    login
        .tunnel(c.nodes[2].ssh.port())
        .await
        .expect("a token login before the restart");

    for id in 1..=3 {
        c.node(id).kill();
    }
    for id in 1..=3 {
        c.spawn(id, &[]).unwrap();
    }
    let restarted = Instant::now();
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();
    eprintln!(
        "all three SIGKILLed and restarted: leader {leader} {:?} later",
        restarted.elapsed()
    );

    for n in &c.nodes {
        let users = user_names(n).expect("users listed");
        assert!(
            users.contains("eng") && users.contains("admin"),
            "{users:?}"
        );
        assert!(ok(n, &["host", "list"]).contains("web-01"));
        assert!(ok(n, &["host", "accounts", "web-01"]).contains("root"));
        assert!(ok(n, &["database", "list"]).contains("echo"));
        assert!(ok(n, &["database", "accounts", "echo"]).contains("app"));
        let grants = ok(n, &["grant", "list", "eng"]);
        for want in ["echo", "app", "web-01", "root"] {
            assert!(
                grants.contains(want),
                "{want} not in {grants} (node {})",
                n.id
            );
        }
        let row = token_row(n, &token_id).expect("the token is still listed");
        assert_eq!(row["State"], "Normal", "{row}");
    }
    for n in &c.nodes {
        let t = login
            .tunnel(n.ssh.port())
            .await
            .unwrap_or_else(|e| panic!("token login through node {} after the restart: {e}", n.id));
        let mut conn = t.connect().unwrap();
        assert!(echo_through(&mut conn, b"after restart"));
    }
}

/// A follower killed while the cluster writes on, and restarted after the log behind its last
/// entry was purged, catches up from a snapshot (small snapshot interval:
/// `PORTUNUS_SNAPSHOT_EVERY=20`; every signed API call is at least one log entry, its nonce
/// with its first write).
#[test]
fn a_node_restarted_after_the_log_was_purged_catches_up_by_snapshot() {
    let mut c = ProcCluster::new(3).unwrap();
    c.env = admin_key_env();
    c.env.push(("PORTUNUS_SNAPSHOT_EVERY".into(), "20".into()));
    c.spawn_all().unwrap();
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();
    let status = |n: &NodeProc| n.status().unwrap_or_default();
    let index = |v: &serde_json::Value, field: &str| v[field].as_u64().unwrap_or(0);
    let writer = if leader == 1 { 2 } else { 1 };
    let behind = (1..=3).find(|id| *id != leader && *id != writer).unwrap();
    wait_until("the Admin key to work", START, || {
        c.nodes[writer as usize - 1].admin(&["user", "list"]).ok
    })
    .unwrap();
    let left_at = index(&status(&c.nodes[behind as usize - 1]), "last_log_index");
    c.node(behind).kill();

    let mut want = BTreeSet::new();
    let w = &c.nodes[writer as usize - 1];
    let l = &c.nodes[leader as usize - 1];
    let mut n = 0;
    // Write well past a few snapshot intervals, and until the leader has purged its log past
    // where the killed node stopped.
    while n < 60 || index(&status(l), "purged_index") <= left_at {
        assert!(
            n < 200,
            "no purge past {left_at} after {n} writes: {}",
            status(l)
        );
        let name = format!("while-away-{n}");
        created(&ok(
            w,
            &["user", "create", &name, "--password", "Passw0rd!x"],
        ));
        want.insert(name);
        n += 1;
    }
    let purged = index(&status(l), "purged_index");
    eprintln!("{n} users written; leader purged its log up to {purged}, node {behind} stopped at {left_at}");

    c.spawn(behind, &[]).unwrap();
    let back = &c.nodes[behind as usize - 1];
    wait_until("the restarted node to install a snapshot", START, || {
        index(&status(back), "snapshot_index") > left_at
    })
    .unwrap();
    let s = status(back);
    assert!(
        index(&s, "snapshot_index") >= purged.min(index(&s, "applied_index")),
        "the restarted node's state came from a snapshot past the purge: {s}"
    );
    // Both ends say what the snapshot cost (the large-state benchmark reads these lines).
    let installed = back.output();
    assert!(
        installed
            .lines()
            .any(|l| l.contains("snapshot installed") && l.contains("decode_ms=")),
        "{installed}"
    );
    let built = c.nodes[leader as usize - 1].output();
    assert!(
        built
            .lines()
            .any(|l| l.contains("snapshot built") && l.contains("encode_ms=")),
        "{built}"
    );
    wait_listed(back, &want, SEEN);
}

/// SIGTERM of the leader while it holds every slot of a cluster-wide limit: its sessions keep
/// passing bytes through the drain's grace time (the nodes run with `--drain-grace-secs 5`),
/// the node exits 0, the others elect a new leader, and the slots it held come back (two
/// logins through the others are admitted again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_leader_keeps_its_sessions_through_the_grace_time_then_gives_their_slots_back() {
    const LIMIT: usize = 2;
    let mut c = three_nodes(false);
    limit_sessions(&c, LIMIT);
    let (login, _) = database_login(&c);
    let leader = c.wait_stable(START).unwrap();
    let others: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let port = c.nodes[leader as usize - 1].ssh.port();
    let mut held = Vec::new();
    for _ in 0..LIMIT {
        let t = login.tunnel(port).await.expect("a login within the limit");
        let mut conn = t.connect().unwrap();
        assert!(echo_through(&mut conn, b"before the drain"));
        held.push((t, conn));
    }
    let over = login
        .tunnel(c.nodes[others[0] as usize - 1].ssh.port())
        .await
        .err()
        .expect("a login over the limit is refused");
    assert!(over.contains("limit reached"), "{over}");

    let pid = c.nodes[leader as usize - 1].pid().expect("running");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let termed = Instant::now();
    // The held sessions still work, well inside the grace time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (_, conn) in &mut held {
        assert!(
            echo_through(conn, b"during the drain"),
            "a session of the draining node broke {:?} after SIGTERM",
            termed.elapsed()
        );
    }
    let status = c
        .node(leader)
        .terminate(Duration::from_secs(30))
        .expect("the drained node exits");
    assert!(status.success(), "the drained node exits 0, got {status}");
    let exited = termed.elapsed();
    let mut next = None;
    wait_until("a new leader among the other nodes", START, || {
        let seen: Vec<Option<u64>> = others
            .iter()
            .map(|id| c.nodes[*id as usize - 1].leader())
            .collect();
        next = seen[0].filter(|l| *l != leader && seen.iter().all(|s| *s == Some(*l)));
        next.is_some()
    })
    .unwrap();
    eprintln!(
        "leader {leader} exited {exited:?} after SIGTERM; node {} led {:?} after it",
        next.unwrap(),
        termed.elapsed() - exited
    );
    drop(held);
    let mut after = Vec::new();
    for _ in 0..LIMIT {
        let port = c.nodes[others[1] as usize - 1].ssh.port();
        let t = login.tunnel(port).await;
        after.push(t.unwrap_or_else(|e| panic!("the drain did not give the slots back: {e}")));
    }
}
