//! Two engines and a witness, each a real `portunus` process: either engine or the witness can
//! die and token logins go on; the witness is reported with its role and leaves like any node.
//! An engine partitioned away (through the UDP relay between the nodes) keeps its open sessions,
//! refuses new logins with the no-quorum words and reports not-ready; once healed it follows the
//! cluster again, ends the sessions the majority reclaimed meanwhile, and serves again when it
//! held none (see ARCHITECTURE.md, "Without quorum, and partitions").

use crate::login::{echo_through, Login};
use portunus_proxy::testing::openssh::Askpass;
use portunus_tests::sdk::{admin_key_env, database_token, echo_server};
use portunus_tests::{wait_until, ProcCluster};
use std::time::{Duration, Instant};

const START: Duration = Duration::from_secs(30);
const NO_QUORUM: &str = "no quorum";

/// Engines 1 and 2, witness 3; returns the cluster and a token login to the echo server.
async fn two_engines_and_a_witness(relay: bool) -> (ProcCluster, Login) {
    let mut c = if relay {
        ProcCluster::with_relay(3).unwrap()
    } else {
        ProcCluster::new(3).unwrap()
    };
    c.env = admin_key_env();
    // The engines first (two of three voters elect a leader), then the witness: an engine leads.
    c.spawn(1, &[]).unwrap();
    c.spawn(2, &[]).unwrap();
    c.wait_stable(START).unwrap();
    c.spawn(3, &["--witness"]).unwrap();
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();
    let login = login_for(&c);
    (c, login)
}

fn login_for(c: &ProcCluster) -> Login {
    let nodes = &c.nodes;
    wait_until("the first administrator", START, || {
        nodes
            .iter()
            .any(|n| n.output().contains("administrator created"))
    })
    .unwrap();
    let echo = echo_server();
    let apis: Vec<_> = c
        .nodes
        .iter()
        .filter(|n| !n.witness)
        .map(|n| n.api)
        .collect();
    let (user, token) = database_token(&apis, echo, c.dir.path()).unwrap();
    Login {
        askpass: Askpass::new(),
        user,
        token,
        echo,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_logins_go_on_through_the_other_engine_when_either_engine_is_killed() {
    let (mut c, login) = two_engines_and_a_witness(false).await;
    let first = c.wait_stable(START).unwrap();
    assert_ne!(first, 3, "an engine leads");
    // The leading engine first (an election is needed), then the other one.
    for victim in [first, 3 - first] {
        let survivor = 3 - victim;
        let leader = c.wait_stable(START).unwrap();
        // A restarted engine is only back in the quorum once the leader replicates to it.
        let waited = Instant::now();
        c.wait_replicated(leader, START).unwrap();
        eprintln!(
            "leader {leader} replicates to every node ({:?})",
            waited.elapsed()
        );
        let port = c.node(survivor).ssh.port();
        login.tunnel(port).await.expect("login before the kill");
        c.node(victim).kill();
        let killed = Instant::now();
        let took = login.first_success(port, killed).await;
        eprintln!(
            "engine {victim} (leader: {}) SIGKILLed: first token login through engine \
             {survivor} succeeded {took:?} after the kill",
            leader == victim
        );
        if took > Duration::from_secs(1) {
            let out = c.node(survivor).output();
            let slow: Vec<&str> = out
                .lines()
                .filter(|l| l.contains("refused") || l.contains("accepted"))
                .collect();
            eprintln!("slow first login; survivor's gate said: {slow:#?}");
        }
        c.spawn(victim, &[]).unwrap();
    }
    c.wait_stable(START).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_witness_is_reported_as_such_and_both_engines_serve_without_it() {
    // Every member joins with its own addresses, so every view of the membership is exact.
    let mut c = ProcCluster::new(3).unwrap();
    c.env = admin_key_env();
    c.peers = None;
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let via = c.nodes[0].advertise.to_string();
    c.spawn_joining_as(2, &via, &[]).unwrap();
    c.spawn_joining_as(3, &via, &["--witness"]).unwrap();
    let nodes = &c.nodes;
    wait_until("three voters", START, || {
        nodes[0].status().is_ok_and(|s| {
            let n = s["nodes"].as_array().map(Vec::len).unwrap_or(0);
            n == 3
                && s["nodes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m["voter"] == true)
        })
    })
    .unwrap();
    c.wait_stable(START).unwrap();

    let kinds = |s: &serde_json::Value| -> Vec<(u64, String, bool)> {
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let kind = m["kind"].as_str().unwrap_or_default().to_string();
                (m["id"].as_u64().unwrap(), kind, m["witness"] == true)
            })
            .collect()
    };
    let expected = vec![
        (1, "engine".to_string(), false),
        (2, "engine".to_string(), false),
        (3, "witness".to_string(), true),
    ];
    for n in &c.nodes {
        let cli = c.cli_status(n.advertise).unwrap();
        assert_eq!(kinds(&cli), expected, "cluster status via node {}", n.id);
        if !n.witness {
            assert_eq!(
                kinds(&n.status().unwrap()),
                expected,
                "/v1/status of {}",
                n.id
            );
        }
    }
    assert!(
        portunus_tests::http_get(c.nodes[2].api, "/readyz").is_err(),
        "a witness serves no API"
    );

    let login = login_for(&c);
    c.node(3).kill();
    let killed = Instant::now();
    for id in [1u64, 2] {
        let took = login
            .first_success(c.nodes[id as usize - 1].ssh.port(), killed)
            .await;
        eprintln!("witness killed: engine {id} served a token login {took:?} after the kill");
    }
    c.wait_stable(START).unwrap();
    for id in [1u64, 2] {
        login
            .tunnel(c.nodes[id as usize - 1].ssh.port())
            .await
            .unwrap();
    }

    // The witness leaves like any member; the two engines go on (both are now needed).
    c.cli(c.nodes[0].advertise, &["remove-node", "3"]).unwrap();
    let first = &c.nodes[0];
    wait_until("two members", START, || {
        first
            .status()
            .is_ok_and(|s| s["nodes"].as_array().map(Vec::len) == Some(2))
    })
    .unwrap();
    c.wait_stable(START).unwrap();
    for id in [1u64, 2] {
        login
            .tunnel(c.nodes[id as usize - 1].ssh.port())
            .await
            .unwrap();
    }
}

/// Cut engine `cut` off; returns when it reports not-ready.
fn isolate(c: &ProcCluster, cut: u64, leader: u64) -> Instant {
    c.relay().isolate(cut);
    let isolated = Instant::now();
    let n = &c.nodes[cut as usize - 1];
    wait_until("the cut engine to report not-ready", START, || !n.ready()).unwrap();
    eprintln!(
        "engine {cut} (leader: {}) cut off: /readyz not-ready after {:?}",
        leader == cut,
        isolated.elapsed()
    );
    isolated
}

/// Heal engine `cut`; returns when it reports ready again.
fn heal(c: &ProcCluster, cut: u64) -> Instant {
    c.relay().heal(cut);
    let healed = Instant::now();
    let n = &c.nodes[cut as usize - 1];
    wait_until("the healed engine to be ready again", START, || n.ready()).unwrap();
    eprintln!("healed: engine {cut} ready after {:?}", healed.elapsed());
    healed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_flips_while_an_engine_is_partitioned_and_back_after_healing() {
    let (mut c, login) = two_engines_and_a_witness(true).await;
    let leader = c.wait_stable(START).unwrap();
    // Cut the leader when it is an engine, else engine 1.
    let cut = if leader == 3 { 1 } else { leader };
    let other = 3 - cut;
    let isolated = isolate(&c, cut, leader);
    assert!(
        c.nodes[other as usize - 1].ready() || {
            let n = &c.nodes[other as usize - 1];
            wait_until("the majority engine to be ready", START, || n.ready()).is_ok()
        }
    );
    let took = login
        .first_success(c.node(other).ssh.port(), isolated)
        .await;
    eprintln!("the majority side served a login {took:?} after the cut");
    let healed = heal(&c, cut);
    let took = login.first_success(c.node(cut).ssh.port(), healed).await;
    eprintln!("healed: engine {cut} served a login {took:?} after healing");
    c.wait_stable(START).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_engine_keeps_open_sessions_and_refuses_new_logins_with_no_quorum() {
    let (mut c, login) = two_engines_and_a_witness(true).await;
    let leader = c.wait_stable(START).unwrap();
    let (cut, other) = (1u64, 2u64);
    let cut_ssh = c.node(cut).ssh.port();
    let open = login
        .tunnel(cut_ssh)
        .await
        .expect("a tunnel through the engine to cut");
    let mut conn = open.connect().unwrap();
    assert!(echo_through(&mut conn, b"before"));

    let isolated = isolate(&c, cut, leader);
    assert!(
        echo_through(&mut conn, b"during"),
        "open session keeps passing bytes"
    );
    let asked = Instant::now();
    let refused = login.tunnel(cut_ssh).await.err().expect("a refused login");
    eprintln!(
        "new login on the cut engine refused after {:?}: {refused}",
        asked.elapsed()
    );
    assert!(refused.contains(NO_QUORUM), "{refused}");
    assert!(
        echo_through(&mut conn, b"still"),
        "open session keeps passing bytes"
    );
    let fresh = open.connect().map(|mut s| echo_through(&mut s, b"fresh"));
    assert!(
        matches!(fresh, Ok(true)),
        "new connections in the open tunnel pass"
    );
    let took = login
        .first_success(c.node(other).ssh.port(), isolated)
        .await;
    eprintln!("the majority side served a login {took:?} after the cut");
    assert!(
        echo_through(&mut conn, b"later"),
        "open session keeps passing bytes"
    );

    // The majority reclaims the cut engine's slot (it held a session and renewed no lease for
    // longer than the reclaim delay, counted from the last renewal or from a new leader's
    // election): once healed, the engine learns it and ends the session, so the cluster-wide
    // count is right again.
    let majority = &c.nodes[other as usize - 1];
    wait_until(
        "the majority to reclaim the cut engine's slot",
        START,
        || {
            portunus_tests::http_get(majority.metrics, "/metrics")
                .is_ok_and(|(_, m)| m.contains("portunus_concurrency_slots_in_use 0"))
        },
    )
    .unwrap();
    eprintln!(
        "the majority reclaimed the slot {:?} after the cut",
        isolated.elapsed()
    );
    c.relay().heal(cut);
    let healed = Instant::now();
    wait_until(
        "the reclaimed session to end on the healed engine",
        START,
        || {
            !open
                .connect()
                .is_ok_and(|mut s| echo_through(&mut s, b"after"))
        },
    )
    .unwrap();
    eprintln!(
        "healed: the reclaimed session ended {:?} after healing",
        healed.elapsed()
    );
    // It is back in the cluster (no longer short of a quorum). Until it registers again it
    // reports not-ready ("fenced"), so a load balancer keeps new logins away from it.
    let n = &c.nodes[cut as usize - 1];
    wait_until("the healed engine to rejoin the cluster", START, || {
        portunus_tests::http_get(n.api, "/readyz")
            .is_ok_and(|(code, body)| code == 200 || body.contains("fenced"))
    })
    .unwrap();
    eprintln!(
        "healed: readiness {:?}",
        portunus_tests::http_get(n.api, "/readyz")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_whose_slots_were_reclaimed_serves_again_after_healing() {
    let (mut c, login) = two_engines_and_a_witness(true).await;
    let leader = c.wait_stable(START).unwrap();
    let cut_ssh = c.node(1).ssh.port();
    let _open = login
        .tunnel(cut_ssh)
        .await
        .expect("a session on the engine to cut");
    isolate(&c, 1, leader);
    // Wait on the majority side until engine 1's slot is reclaimed.
    let n2 = &c.nodes[1];
    wait_until("the majority to reclaim engine 1's slot", START, || {
        portunus_tests::http_get(n2.metrics, "/metrics")
            .is_ok_and(|(_, m)| m.contains("portunus_concurrency_slots_in_use 0"))
    })
    .unwrap();
    let healed = heal(&c, 1);
    let took = login.first_success(cut_ssh, healed).await;
    eprintln!("healed: engine 1 served a login {took:?} after healing");
}

/// With a concurrency limit, the limit holds across a partition: the cut-off engine ends its
/// session by itself (its lease lapses) before the majority gives the slot to someone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_limit_a_cut_off_engine_ends_its_sessions_before_the_majority_reuses_the_slot() {
    let (mut c, login) = two_engines_and_a_witness(true).await;
    let leader = c.wait_stable(START).unwrap();
    let via = c.node(2).cluster;
    let out = c
        .cli(via, &["settings", "--max-sessions-total", "1"])
        .unwrap();
    assert!(out.contains("max_sessions_total = 1"), "{out}");
    for n in c.nodes.iter().filter(|n| !n.witness) {
        wait_until("the limit to reach every engine", START, || {
            portunus_tests::http_get(n.metrics, "/metrics")
                .is_ok_and(|(_, m)| m.contains("portunus_concurrency_slots_limit 1"))
        })
        .unwrap();
    }
    let open = login
        .tunnel(c.node(1).ssh.port())
        .await
        .expect("a session on engine 1");
    let other_ssh = c.node(2).ssh.port();
    let refused = login.tunnel(other_ssh).await.err().expect("the limit is 1");
    assert!(refused.contains("limit reached"), "{refused}");

    isolate(&c, 1, leader);
    // Watch the open session on engine 1 from a thread and note when it stops passing bytes.
    let died = std::sync::Arc::new(std::sync::Mutex::new(None::<Instant>));
    let watcher = {
        let died = died.clone();
        let open = open.local_port();
        std::thread::spawn(move || loop {
            let alive = std::net::TcpStream::connect(("127.0.0.1", open)).is_ok_and(|mut s| {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                echo_through(&mut s, b"alive?")
            });
            if !alive {
                *died.lock().unwrap() = Some(Instant::now());
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        })
    };
    let cut = Instant::now();
    let took = login.first_success(other_ssh, cut).await;
    let admitted = Instant::now();
    let died_at = *died.lock().unwrap();
    let died_at = died_at.expect("engine 1's session still ran when the majority reused its slot");
    eprintln!(
        "engine 1's session ended {:?} after the cut; the majority admitted a new one {took:?} \
         after the cut",
        died_at.duration_since(cut)
    );
    assert!(died_at < admitted);
    watcher.join().unwrap();
}
