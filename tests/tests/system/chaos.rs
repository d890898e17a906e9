//! Randomized fault runs. Three real nodes talk through the fault relay; a scheduler driven by
//! a seed kills and restarts, pauses (SIGSTOP/SIGCONT), isolates and deafens (one-way cut)
//! nodes, slows and fills their disks, the leader half of the time, one fault at a time. Meanwhile clients write and read
//! registers through every node's API (signed calls of the admin command line), create users,
//! spend a count-limited O&M token with real SSH logins, and hold token tunnels under a
//! cluster-wide session limit, every operation recorded with its invocation, completion and
//! result. Afterwards, with every fault undone, the checks:
//! - each register's history is linearizable (a write acknowledged is seen by every later read,
//!   never lost, never applied twice, reads never go back in time);
//! - every acknowledged user is listed through every node;
//! - each token's uses are at least its successful logins, at most its count (and its
//!   attempts), the same through every node;
//! - no more sessions passed bytes at one instant than the limit allows, and no node's slots
//!   gauge ever showed more than the limit;
//! - no session dropped on a node that was not under a fault (nor just after one).
//!
//! The test suite runs the schedules of [`SUITE_SEEDS`], which soaks passed and which together
//! inject every kind of fault: its verdict is about the change under test, while new schedules
//! are explored by the soaks of `scripts/chaos.sh`, which set `PORTUNUS_TEST_SEED`: then
//! `PORTUNUS_CHAOS_RUNS` (default 1) runs with seeds `PORTUNUS_TEST_SEED`, +1, +2, ... Each
//! run has `PORTUNUS_CHAOS_SECS` (default 20) of faults. The table of runs is printed and,
//! when `PORTUNUS_CHAOS_TABLE` names a file, appended to it; a failed run names its seed,
//! which replays the same faults (`scripts/chaos.sh 1 SEED`); `PORTUNUS_CHAOS_KEEP=1` keeps
//! every run's logs and `PORTUNUS_CHAOS_LOG` sets the nodes' log filter.

use crate::login::{database_login, echo_through, field, token_row, Login};
use portunus_proxy::testing::openssh::Askpass;
use portunus_tests::chaos::{self, Fault, Rng};
use portunus_tests::history::{check_registers, History, Outcome, RegisterOp};
use portunus_tests::writes::user_names;
use portunus_tests::{admin_within, sdk, wait_until, NodeProc, ProcCluster};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Sessions the cluster admits at once.
const LIMIT: usize = 2;
/// Uses of the token the spender spends.
const SPEND_COUNT: u64 = 4;
/// How long a client waits for one API call before it counts as unknown.
const CALL: Duration = Duration::from_secs(5);
/// How long one login may take before it counts as failed.
const LOGIN: Duration = Duration::from_secs(10);
const START: Duration = Duration::from_secs(60);
/// How long after a fault on a node its effects may still show (a restarted node catching up,
/// a resumed node cutting sessions whose slots were reclaimed).
const AFTERMATH: u64 = 3_000_000;

/// Each node's disk (ext4 on a loop device, slowed or filled by the disk faults).
const DISK_MIB: u64 = 256;

/// One run's line of the table.
struct Row {
    seed: u64,
    faults: Vec<Fault>,
    operations: usize,
    unknown: usize,
    /// Token uses spent by logins the client saw fail (the login was admitted, then the
    /// session was lost before the client saw it work): allowed, and shown.
    spent_by_failed: u64,
    /// Sessions found dropped on a node that was under no fault (each also a violation).
    dropped_on_healthy: usize,
    violations: Vec<String>,
    /// What helps read a failed run: its faults, where its logs are kept.
    notes: Vec<String>,
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name} must be a number, not {v:?}")),
        Err(_) => default,
    }
}

/// The schedules the test suite runs (soaks passed them all): 6249 kills, pauses, partitions
/// and removes and re-adds members; 6598 adds a lossy link, a one-way cut, a slow disk and a
/// failing one; 6571 a full disk.
const SUITE_SEEDS: [u64; 3] = [6249, 6598, 6571];

#[test]
fn seeded_fault_runs_keep_every_guarantee() {
    let secs = env_u64("PORTUNUS_CHAOS_SECS", 20);
    let seeds: Vec<u64> = match std::env::var("PORTUNUS_TEST_SEED") {
        Ok(_) => {
            let first = env_u64("PORTUNUS_TEST_SEED", 0);
            (0..env_u64("PORTUNUS_CHAOS_RUNS", 1))
                .map(|k| first + k)
                .collect()
        }
        Err(_) => SUITE_SEEDS.to_vec(),
    };
    let runs = seeds.len();
    let mut rows = Vec::new();
    for (k, seed) in seeds.into_iter().enumerate() {
        println!("run {}/{runs}: seed {seed}", k + 1);
        let row = one_run(seed, Duration::from_secs(secs));
        println!("{}", line(&row));
        // Said at once too: a soak stopped before its end still shows what went wrong.
        if !row.violations.is_empty() {
            println!("{}", failure(&row));
        }
        rows.push(row);
    }
    let table = table(&rows, secs);
    println!("{table}");
    if let Ok(path) = std::env::var("PORTUNUS_CHAOS_TABLE") {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
        writeln!(f, "{table}").expect("append the table");
    }
    let failed: Vec<String> = rows
        .iter()
        .filter(|r| !r.violations.is_empty())
        .map(failure)
        .collect();
    assert!(failed.is_empty(), "{table}\n{}", failed.join("\n\n"));
}

/// A run's violations and notes, under its seed.
fn failure(r: &Row) -> String {
    format!(
        "seed {}:\n{}\n{}",
        r.seed,
        r.violations.join("\n"),
        r.notes.join("\n")
    )
}

fn line(r: &Row) -> String {
    let leader = r.faults.iter().filter(|f| f.was_leader).count();
    format!(
        "| {} | {} ({}; leader {leader}) | {} | {} | {} | {} | {} |",
        r.seed,
        r.faults.len(),
        chaos::fault_counts(&r.faults),
        r.operations,
        r.unknown,
        r.spent_by_failed,
        r.dropped_on_healthy,
        r.violations.len()
    )
}

fn table(rows: &[Row], secs: u64) -> String {
    let mut t = format!(
        "Fault runs: 3 nodes, {secs} s of faults each, session limit {LIMIT}, spent token count \
         {SPEND_COUNT}\n\n| seed | faults (kinds; on the leader) | operations | unknown results | \
         token uses spent by failed logins | sessions dropped on healthy nodes | violations \
         |\n|---:|---|---:|---:|---:|---:|---:|\n"
    );
    for r in rows {
        t.push_str(&line(r));
        t.push('\n');
    }
    let (faults, ops, bad) = rows.iter().fold((0, 0, 0), |(f, o, v), r| {
        (f + r.faults.len(), o + r.operations, v + r.violations.len())
    });
    let dropped: usize = rows.iter().map(|r| r.dropped_on_healthy).sum();
    t.push_str(&format!(
        "\n{} runs, {faults} faults, {ops} operations, {dropped} sessions dropped on healthy \
         nodes, {bad} violations{}\n",
        rows.len(),
        if bad == 0 {
            String::new()
        } else {
            let seeds: Vec<String> = rows
                .iter()
                .filter(|r| !r.violations.is_empty())
                .map(|r| r.seed.to_string())
                .collect();
            format!(" (seeds {})", seeds.join(", "))
        }
    ));
    t
}

/// A session a holder ran: through which node, when it first and last passed bytes, and when
/// it was found dropped (None: closed by the holder).
#[derive(Clone, Debug)]
struct Held {
    node: usize,
    first: u64,
    last: u64,
    dropped: Option<u64>,
}

/// What the clients of a run share.
struct Clients {
    history: History,
    stop: Arc<AtomicBool>,
    apis: Vec<SocketAddr>,
    ssh: Vec<u16>,
}

impl Clients {
    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }
}

/// One login through `port` within [`LOGIN`], on a runtime of the calling thread.
fn tunnel_through(
    rt: &tokio::runtime::Runtime,
    login: &Login,
    port: u16,
) -> Result<crate::login::Tunnel, String> {
    rt.block_on(async {
        match tokio::time::timeout(LOGIN, login.tunnel(port)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no login within {LOGIN:?}")),
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The comment of a `GetUserGroup` answer: the register's value (empty: never written).
fn comment(stdout: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("GetUserGroup answered {stdout:?}: {e}"));
    let c = v["UserGroup"]["Comment"]
        .as_str()
        .unwrap_or_else(|| panic!("GetUserGroup answered without a comment: {stdout}"));
    (!c.is_empty()).then(|| c.to_string())
}

fn read_register(
    h: &History,
    client: usize,
    key: &str,
    id: &str,
    api: SocketAddr,
    within: Duration,
) -> bool {
    let i = h.invoke(client, key, Some(RegisterOp::Read), "read");
    let id = format!("UserGroupId={id}");
    let out = admin_within(api, &["--json", "call", "GetUserGroup", &id], within);
    if out.ok {
        h.complete(i, Outcome::Ok(comment(&out.stdout)));
    } else {
        h.complete(i, Outcome::Unknown(out.stderr));
    }
    out.ok
}

fn one_run(seed: u64, faulting: Duration) -> Row {
    let mut rng = Rng::new(seed);
    let mut c = ProcCluster::with_relay(3).expect("lay out the cluster");
    c.on_disks(DISK_MIB).expect("a disk for each node");
    c.env = sdk::admin_key_env();
    // A replay may ask the nodes for more (e.g. `info,openraft=debug`).
    if let Ok(filter) = std::env::var("PORTUNUS_CHAOS_LOG") {
        c.env.push(("PORTUNUS_LOG".into(), filter));
    }
    c.start_with_admin(START).expect("start the nodes");
    let settings = |c: &ProcCluster, args: &[&str]| {
        c.cli(c.nodes[0].cluster, &[&["settings"][..], args].concat())
            .expect("cluster settings")
    };
    let limit = LIMIT.to_string();
    settings(
        &c,
        &[
            "--max-sessions-total",
            &limit,
            "--token-default-use-count",
            "0",
        ],
    );
    let (login, hold_token) = database_login(&c);
    settings(&c, &["--token-default-use-count", &SPEND_COUNT.to_string()]);
    let issued = c.nodes[0].admin_ok(&[
        "token",
        "generate",
        "--database",
        "echo",
        "--account",
        "app",
        "--user",
        "eng",
    ]);
    let spend_token = field(&issued, "token id:");
    let spend = Login {
        askpass: Askpass::new(),
        user: "eng".into(),
        token: field(&issued, "token:"),
        echo: login.echo,
    };
    let keys: Vec<(String, String)> = (0..2)
        .map(|k| {
            let name = format!("register{k}");
            let out = c.nodes[0].admin_ok(&[
                "--json",
                "call",
                "CreateUserGroup",
                &format!("UserGroupName={name}"),
            ]);
            let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
            let id = v["UserGroupId"].as_str().expect("a group id").to_string();
            (name, id)
        })
        .collect();
    for n in &c.nodes {
        wait_until(
            "the settings and the spent token on every node",
            START,
            || {
                n.metric("portunus_concurrency_slots_limit") == Some(LIMIT as f64)
                    && token_row(n, &spend_token).is_some()
            },
        )
        .unwrap();
    }

    let clients = Arc::new(Clients {
        history: History::default(),
        stop: Arc::new(AtomicBool::new(false)),
        apis: c.nodes.iter().map(|n| n.api).collect(),
        ssh: c.nodes.iter().map(|n| n.ssh.port()).collect(),
    });
    let (login, spend) = (Arc::new(login), Arc::new(spend));
    let held: Arc<Mutex<Vec<Held>>> = Arc::default();
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    let gauge: Arc<Mutex<Vec<(usize, u64, f64)>>> = Arc::default();
    let mut threads = Vec::new();

    // Registers: two clients, reads and writes of two keys through any node.
    for client in 0..2 {
        let (cl, keys, mut rng) = (clients.clone(), keys.clone(), rng.fork());
        threads.push(std::thread::spawn(move || {
            let mut n = 0;
            while cl.running() {
                let (key, id) = &keys[rng.below(keys.len() as u64) as usize];
                let api = cl.apis[rng.below(cl.apis.len() as u64) as usize];
                if rng.chance(50) {
                    let v = format!("c{client}-{n}");
                    n += 1;
                    let i =
                        cl.history
                            .invoke(client, key, Some(RegisterOp::Write(v.clone())), "write");
                    let args = [
                        "call",
                        "ModifyUserGroup",
                        &format!("UserGroupId={id}"),
                        &format!("Comment={v}"),
                    ];
                    let out = admin_within(api, &args, CALL);
                    cl.history.complete(
                        i,
                        if out.ok {
                            Outcome::Ok(None)
                        } else {
                            Outcome::Unknown(out.stderr)
                        },
                    );
                } else {
                    read_register(&cl.history, client, key, id, api, CALL);
                }
            }
        }));
    }
    // Users: one client creating users through any node.
    {
        let (cl, acked, mut rng) = (clients.clone(), acked.clone(), rng.fork());
        threads.push(std::thread::spawn(move || {
            let mut k = 0;
            while cl.running() {
                let name = format!("u{seed}-{k}");
                k += 1;
                let api = cl.apis[rng.below(cl.apis.len() as u64) as usize];
                let i = cl.history.invoke(10, &name, None, "create user");
                let out = admin_within(
                    api,
                    &["user", "create", &name, "--password", "Passw0rd!x"],
                    CALL,
                );
                if out.ok {
                    acked.lock().unwrap().insert(name);
                    cl.history.complete(i, Outcome::Ok(None));
                } else {
                    cl.history.complete(i, Outcome::Unknown(out.stderr));
                }
            }
        }));
    }
    // Session holders: three clients for a limit of two, each logging in through any node and
    // holding its tunnel 0.5-3 s, checking every 200 ms that it passes bytes.
    for holder in 0..3 {
        let (cl, login, held, mut rng) = (clients.clone(), login.clone(), held.clone(), rng.fork());
        threads.push(std::thread::spawn(move || {
            let rt = runtime();
            while cl.running() {
                let node = rng.below(cl.ssh.len() as u64) as usize;
                let i = cl.history.invoke(20 + holder, "hold", None, "login");
                let t = match tunnel_through(&rt, &login, cl.ssh[node]) {
                    Ok(t) => t,
                    Err(e) => {
                        cl.history.complete(i, Outcome::Unknown(e));
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    }
                };
                cl.history.complete(i, Outcome::Ok(None));
                let first = cl.history.now();
                let mut session = Held {
                    node,
                    first,
                    last: first,
                    dropped: None,
                };
                let until = Instant::now() + rng.millis(500, 3000);
                while Instant::now() < until && cl.running() {
                    std::thread::sleep(Duration::from_millis(200));
                    let passes = t.connect().is_ok_and(|mut s| echo_through(&mut s, b"ping"));
                    if passes {
                        session.last = cl.history.now();
                    } else {
                        session.dropped = Some(cl.history.now());
                        break;
                    }
                }
                held.lock().unwrap().push(session);
                drop(t);
            }
        }));
    }
    // The spender: logins with the count-limited token through any node, closed at once.
    let spent_ok = Arc::new(Mutex::new((0u64, 0u64)));
    {
        let (cl, spend, spent_ok, mut rng) =
            (clients.clone(), spend.clone(), spent_ok.clone(), rng.fork());
        threads.push(std::thread::spawn(move || {
            let rt = runtime();
            while cl.running() {
                std::thread::sleep(rng.millis(300, 1500));
                let node = rng.below(cl.ssh.len() as u64) as usize;
                let i = cl.history.invoke(30, "spend", None, "login");
                let r = tunnel_through(&rt, &spend, cl.ssh[node]);
                let mut counts = spent_ok.lock().unwrap();
                counts.1 += 1;
                match r {
                    Ok(_) => {
                        counts.0 += 1;
                        cl.history.complete(i, Outcome::Ok(None));
                    }
                    Err(e) => cl.history.complete(i, Outcome::Unknown(e)),
                }
            }
        }));
    }
    // The slots gauge of every node, every 250 ms.
    {
        let (cl, gauge) = (clients.clone(), gauge.clone());
        let metrics: Vec<SocketAddr> = c.nodes.iter().map(|n| n.metrics).collect();
        threads.push(std::thread::spawn(move || {
            while cl.running() {
                for (node, m) in metrics.iter().enumerate() {
                    let body = portunus_tests::http_get(*m, "/metrics").ok();
                    let v = body.filter(|(code, _)| *code == 200).and_then(|(_, b)| {
                        portunus_tests::metric_sum(&b, "portunus_concurrency_slots_in_use")
                    });
                    if let Some(v) = v {
                        gauge.lock().unwrap().push((node, cl.history.now(), v));
                    }
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        }));
    }

    let history = clients.history.clone();
    let faults = chaos::inject_faults(&mut c, &mut rng, Instant::now() + faulting, &|| {
        history.now()
    })
    .expect("inject faults");
    clients.stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().expect("a client thread");
    }

    // Every fault is undone: the cluster settles, then the final reads.
    let mut violations = Vec::new();
    let leader = c
        .wait_stable(START)
        .expect("the cluster settles after the faults");
    c.wait_replicated(leader, START)
        .expect("replicated after the faults");
    for (i, n) in c.nodes.iter().enumerate() {
        for (key, id) in &keys {
            let read = wait_until("a final read", START, || {
                read_register(&history, 40 + i, key, id, n.api, Duration::from_secs(20))
            });
            if read.is_err() {
                violations.push(format!("node {} does not answer a read of {key}", n.id));
            }
        }
    }
    let entries = history.entries();
    violations.extend(check_registers(&entries).iter().map(|v| v.to_string()));

    let acked = acked.lock().unwrap().clone();
    for n in &c.nodes {
        let missing = missing_users(n, &acked);
        if !missing.is_empty() {
            violations.push(format!(
                "node {} does not list {} of {} acknowledged users: {missing:?}",
                n.id,
                missing.len(),
                acked.len()
            ));
        }
    }

    let (spend_ok, spend_tries) = *spent_ok.lock().unwrap();
    let admitted = entries
        .iter()
        .filter(|e| e.key == "hold" && matches!(e.completed, Some((_, Outcome::Ok(_)))))
        .count() as u64;
    let hold_tries = entries.iter().filter(|e| e.key == "hold").count() as u64;
    let mut spent_by_failed = 0;
    for n in &c.nodes {
        let (bad, hold_uses) = check_uses(n, &hold_token, admitted, hold_tries, None);
        violations.extend(bad);
        let (bad, spend_uses) =
            check_uses(n, &spend_token, spend_ok, spend_tries, Some(SPEND_COUNT));
        violations.extend(bad);
        spent_by_failed = (hold_uses.saturating_sub(admitted)
            + spend_uses.saturating_sub(spend_ok))
        .max(spent_by_failed);
    }

    let held = held.lock().unwrap().clone();
    let intervals: Vec<(u64, u64)> = held.iter().map(|s| (s.first, s.last)).collect();
    let most = chaos::most_at_once(&intervals);
    if most > LIMIT {
        violations.push(format!(
            "{most} sessions passed bytes at one instant under a limit of {LIMIT}: {held:?}"
        ));
    }
    for (node, t, v) in gauge.lock().unwrap().iter() {
        if *v > LIMIT as f64 {
            violations.push(format!(
                "node {} showed {v} slots in use at {t} µs under a limit of {LIMIT}",
                node + 1
            ));
        }
    }
    // Sessions dropped on a node under no fault: a fault elsewhere (on the leader too) must
    // not end them (docs/fault-runs.md, "A faulty leader could end every member's sessions").
    let mut dropped_on_healthy = Vec::new();
    for s in &held {
        if let Some(at) = s.dropped {
            let node = s.node as u64 + 1;
            if !chaos::faulted(&faults, node, s.last, at, AFTERMATH) {
                dropped_on_healthy.push(format!(
                    "a session on node {node} was dropped at {at} µs (last passed bytes at {} µs) \
                     with no fault on that node",
                    s.last
                ));
            }
        }
    }
    violations.extend(dropped_on_healthy.iter().cloned());
    violations.extend(disk_outcomes(&faults));
    let epoch_us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
        .saturating_sub(history.now());
    let mut notes = vec![
        format!("faults: {faults:?}"),
        format!(
            "the history's time 0 (times above, µs) is {epoch_us} µs after the Unix epoch \
             (`date -ud @SECONDS` to read it beside the nodes' logs)"
        ),
    ];
    if violations.is_empty() && admitted == 0 {
        violations.push("no session was ever admitted: the run checked nothing".into());
    }
    if !violations.is_empty() || keep_logs() {
        // The nodes' logs and data, for a look at what happened.
        let nodes = std::mem::take(&mut c.nodes);
        drop(nodes);
        let kept = std::mem::replace(&mut c.dir, tempfile::tempdir().expect("a temp dir")).keep();
        let words = format!("the nodes' logs and data are kept in {}", kept.display());
        println!("seed {seed}: {words}");
        notes.push(words);
    }
    let unknown = entries
        .iter()
        .filter(|e| !matches!(e.completed, Some((_, Outcome::Ok(_)))))
        .count();
    Row {
        seed,
        faults,
        operations: entries.len(),
        unknown,
        spent_by_failed,
        dropped_on_healthy: dropped_on_healthy.len(),
        violations,
        notes,
    }
}

/// What a node says when its replicated log stops under it.
const STOPPED: &str = "the replicated log stopped on this node";

/// What the disk faults did to the nodes that is wrong: a node may stop when its disk is full
/// (it cannot write its log), and must then say so; it must stop, saying why, when its disk
/// dies; a slow disk must not stop it.
fn disk_outcomes(faults: &[Fault]) -> Vec<String> {
    let mut bad = Vec::new();
    for f in faults {
        let said = match &f.outcome {
            chaos::DiskOutcome::Ran => continue,
            chaos::DiskOutcome::RanOnADeadDisk => {
                bad.push(format!(
                    "node {} ran on for {:?} after its disk died",
                    f.node,
                    chaos::DEAD_DISK
                ));
                continue;
            }
            chaos::DiskOutcome::Exited(said) => said,
        };
        match f.kind {
            chaos::FaultKind::FullDisk if said.contains("No space left on device") => {}
            chaos::FaultKind::FailingDisk if said.contains(STOPPED) => {}
            chaos::FaultKind::FailingDisk => bad.push(format!(
                "node {} stopped on a dead disk without naming it; it said: {said}",
                f.node
            )),
            chaos::FaultKind::FullDisk => bad.push(format!(
                "node {} exited under a full disk without naming it; it said: {said}",
                f.node
            )),
            kind => bad.push(format!(
                "node {} exited under a fault of kind {kind:?}; it said: {said}",
                f.node
            )),
        }
    }
    bad
}

/// Whether to keep the logs of every run (`PORTUNUS_CHAOS_KEEP=1`); a run with violations
/// always keeps them.
fn keep_logs() -> bool {
    std::env::var("PORTUNUS_CHAOS_KEEP").is_ok_and(|v| v == "1")
}

/// The acknowledged users node `n` does not list (waiting a while for it to catch up).
fn missing_users(n: &NodeProc, acked: &BTreeSet<String>) -> BTreeSet<String> {
    let mut missing = acked.clone();
    let _ = wait_until("the acknowledged users to be listed", START, || {
        if let Some(names) = user_names(n) {
            missing = acked.difference(&names).cloned().collect();
        }
        missing.is_empty()
    });
    missing
}

/// The uses of token `id` as node `n` lists them, against `ok` successful logins out of
/// `tries`, and the token's count when it has one: what is wrong, and the uses.
fn check_uses(
    n: &NodeProc,
    id: &str,
    ok: u64,
    tries: u64,
    count: Option<u64>,
) -> (Vec<String>, u64) {
    let Some(row) = token_row(n, id) else {
        return (vec![format!("node {} does not list token {id}", n.id)], 0);
    };
    let Some(uses) = row["Uses"].as_u64() else {
        let bad = format!("node {} lists token {id} without its uses: {row}", n.id);
        return (vec![bad], 0);
    };
    let mut bad = Vec::new();
    if uses < ok {
        bad.push(format!(
            "node {}: token {id} shows {uses} uses after {ok} successful logins (a spend lost)",
            n.id
        ));
    }
    if uses > tries {
        bad.push(format!(
            "node {}: token {id} shows {uses} uses after only {tries} logins (a spend applied twice)",
            n.id
        ));
    }
    if let Some(count) = count {
        if ok > count || uses > count {
            bad.push(format!(
                "node {}: token {id} of count {count} let {ok} logins in and shows {uses} uses",
                n.id
            ));
        }
    }
    (bad, uses)
}
