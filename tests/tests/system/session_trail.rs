//! The session trail with three real `portunus` processes, a real sshd and the OpenSSH client:
//! two sessions' commands are chained into their closing records, `portunus admin session
//! verify` recomputes everything on the caller's side and passes; then the events of a short
//! session (one part) are altered, extended and deleted on every node's disk, and each time verify fails
//! saying what no longer matches; put back, it passes again. A head noted earlier is found
//! in the trail, a made-up one is not.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::{created, wait_until, NodeProc, ProcCluster};
use std::path::PathBuf;
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);

fn ok(n: &NodeProc, args: &[&str]) -> String {
    let out = n.admin(args);
    assert!(out.ok, "portunus admin {args:?}: {out:?}");
    out.stdout
}

/// Runs `command` on web-01 through node `n` as alice (an exec session); returns its id once
/// its record is closed.
async fn run(c: &ProcCluster, n: usize, command: &str, marker: &str) -> u64 {
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(c.nodes[n].ssh.port(), "alice@root@web-01", "alice-Passw0rd");
    ssh.arg(command);
    let out = tokio::time::timeout(WAIT, ssh.output())
        .await
        .expect("ssh in time")
        .expect("ssh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(marker), "{stdout} / {:?}", out.stderr);
    let node = (n + 1).to_string();
    let mut id = None;
    wait_until("the session closed", WAIT, || {
        let out = c.nodes[0].admin(&["--json", "session", "list", "--state", "Closed"]);
        let Ok(list) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
            panic!("session list is not JSON: {out:?}");
        };
        let newest = list.as_array().and_then(|l| l.first()).cloned();
        id = newest
            .filter(|s| s["NodeId"].as_str() == Some(node.as_str()))
            .and_then(|s| s["SessionId"].as_str()?.parse().ok());
        id.is_some()
    })
    .unwrap();
    id.unwrap()
}

/// The copies of one of a session's events blobs (`name` after `events-<session>.`) on the
/// nodes' disks.
fn blobs(c: &ProcCluster, session: u64, name: &str) -> Vec<PathBuf> {
    c.nodes
        .iter()
        .map(|n| {
            n.data_dir
                .join("blobs")
                .join(format!("events-{session}.{name}"))
        })
        .filter(|p| p.exists())
        .collect()
}

fn verify(n: &NodeProc, args: &[&str]) -> (bool, String) {
    let mut all = vec!["session", "verify"];
    all.extend_from_slice(args);
    let out = n.admin(&all);
    (out.ok, format!("{}{}", out.stdout, out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn altering_or_removing_a_session_event_is_found_by_verify() {
    let sshd = Sshd::start().await;
    let c = ProcCluster::with_admin(3, START).unwrap();
    let n1 = &c.nodes[0];
    ok(
        n1,
        &["user", "create", "alice", "--password", "alice-Passw0rd"],
    );
    let host = created(&ok(
        n1,
        &["host", "create", "web-01", "--address", "127.0.0.1"],
    ));
    ok(
        n1,
        &[
            "call",
            "ModifyHostsPort",
            &format!("HostIds=[{host}]"),
            "ProtocolName=SSH",
            &format!("Port={}", sshd.port),
        ],
    );
    let key = c.dir.path().join("target_key");
    std::fs::write(&key, &sshd.client_key).unwrap();
    let key = key.to_str().unwrap();
    ok(
        n1,
        &[
            "host",
            "add-account",
            "web-01",
            "root",
            "--private-key-file",
            key,
        ],
    );
    ok(
        n1,
        &["grant", "host", "alice", "web-01", "--account", "root"],
    );

    let first = run(&c, 1, "echo trail-one", "trail-one").await;
    let (passed, said) = verify(n1, &[&first.to_string()]);
    assert!(passed, "{said}");
    assert!(
        said.contains(&format!("session {first}: 1 events match")),
        "{said}"
    );
    let noted = said
        .split("head ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("verify prints the head")
        .to_string();
    assert_eq!(noted.len(), 64, "{said}");

    let second = run(&c, 2, "echo trail-two; echo trail-three", "trail-three").await;
    assert_ne!(first, second);
    let (passed, said) = verify(
        &c.nodes[2],
        &[&first.to_string(), &second.to_string(), "--head", &noted],
    );
    assert!(passed, "{said}");
    assert!(said.contains("recomputed 2 closed sessions"), "{said}");
    let (passed, said) = verify(n1, &["--head", &"ab".repeat(32)]);
    assert!(!passed, "a made-up head: {said}");
    assert!(said.contains("is not in the session trail"), "{said}");

    // The events of the second session, as every node holds them: one part, then its end.
    // (A store answers once a majority holds it; the third copy of each follows on its own.)
    wait_until("every node holding the events", WAIT, || {
        blobs(&c, second, "end.json").len() == 3 && blobs(&c, second, "0.jsonl").len() == 3
    })
    .unwrap();
    for end in blobs(&c, second, "end.json") {
        assert_eq!(std::fs::read_to_string(end).unwrap(), "{\"parts\":1}");
    }
    let files = blobs(&c, second, "0.jsonl");
    assert_eq!(files.len(), 3);
    let original = std::fs::read_to_string(&files[0]).unwrap();
    assert!(original.contains("trail-three"), "{original}");
    let put = |text: &str| {
        for f in &files {
            std::fs::write(f, text).unwrap();
        }
    };
    let id = second.to_string();

    put(&original.replace("trail-three", "trail-thr3e"));
    let (passed, said) = verify(n1, &[&id]);
    assert!(!passed, "changed: {said}");
    assert!(said.contains("do not match its closing record"), "{said}");

    put(&format!(
        "{original}{{\"line\":\"forged\",\"type\":\"command\"}}\n"
    ));
    let (passed, said) = verify(n1, &[&id]);
    assert!(!passed, "added: {said}");
    assert!(said.contains("holds 1 events but 2 are stored"), "{said}");

    for f in &files {
        std::fs::remove_file(f).unwrap();
    }
    let (passed, said) = verify(n1, &[&id]);
    assert!(!passed, "removed: {said}");
    assert!(said.contains("holds 1 events but 0 are stored"), "{said}");
    let listed = ok(n1, &["session", "events", &id]);
    assert!(
        listed.contains("the session's events are incomplete: 0 of their 1 parts were found"),
        "{listed}"
    );

    put(&original);
    let (passed, said) = verify(n1, &[&id]);
    assert!(passed, "put back: {said}");
}
