//! Sealing keys reloaded on SIGHUP, with a real `portunus` process, a real sshd and the OpenSSH
//! client: a bad key file is refused with the file and the problem named and the node keeps its
//! keys (logins go on); a rotation done by rewriting the key files and sending SIGHUP takes
//! effect without a restart (the re-seal then seals under the new key); keys that would not
//! open the stored secrets are refused. No key text ever reaches the log.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::sdk::admin_key_env;
use portunus_tests::{created, wait_until, NodeProc, ProcCluster, SEAL_KEY};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);
const NEW_KEY: &str = "yq7n0nYb1m4cX0uU0m1m1Xv3N8dQ6C4b1H3Zr8l2p0Q=\n";
const OTHER_KEY: &str = "m2V8q3Lr0cXz7T1bYpQe5aJ9sN4wK6uH0dF2gR8vB1o=\n";

fn ok(n: &NodeProc, args: &[&str]) -> String {
    let out = n.admin(args);
    assert!(out.ok, "portunus admin {args:?}: {out:?}");
    out.stdout
}

async fn echo_through(n: &NodeProc, askpass: &Askpass, word: &str) {
    let mut ssh = askpass.ssh(n.ssh.port(), "alice@root@web-01", "alice-Passw0rd");
    ssh.args(["echo", word]);
    let out = tokio::time::timeout(WAIT, ssh.output())
        .await
        .expect("ssh in time")
        .expect("ssh runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(word),
        "{stdout} / {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends SIGHUP and waits for the node to log one more line containing `what`; that line.
fn hup_and_wait(n: &NodeProc, what: &str) -> String {
    let before = n.output().matches(what).count();
    let pid = n.pid().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    wait_until(what, WAIT, || n.output().matches(what).count() > before).unwrap();
    let log = n.output();
    log.lines()
        .rfind(|l| l.contains(what))
        .expect("the line")
        .to_string()
}

/// The value of `field=` in a log line.
fn field(line: &str, name: &str) -> String {
    let rest = &line[line.find(&format!("{name}=")).expect(name) + name.len() + 1..];
    rest.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_sealing_keys_and_keeps_them_on_a_bad_file() {
    let sshd = Sshd::start().await;
    let mut c = ProcCluster::new(1).unwrap();
    c.env = admin_key_env();
    let current = c.dir.path().join("current.key");
    let previous = c.dir.path().join("previous.key");
    std::fs::write(&current, SEAL_KEY).unwrap();
    std::fs::write(&previous, NEW_KEY).unwrap();
    let (cur, prev) = (current.to_str().unwrap(), previous.to_str().unwrap());
    c.spawn(
        1,
        &["--seal-key-file", cur, "--previous-seal-key-file", prev],
    )
    .unwrap();
    c.wait_stable(START).unwrap();
    let n1 = &c.nodes[0];
    wait_until("the Admin key to work", START, || {
        n1.admin(&["user", "list"]).ok
    })
    .unwrap();
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
    let target_key = c.dir.path().join("target_key");
    std::fs::write(&target_key, &sshd.client_key).unwrap();
    let target_key = target_key.to_str().unwrap();
    ok(
        n1,
        &[
            "host",
            "add-account",
            "web-01",
            "root",
            "--private-key-file",
            target_key,
        ],
    );
    ok(
        n1,
        &["grant", "host", "alice", "web-01", "--account", "root"],
    );
    let askpass = Askpass::new();
    echo_through(n1, &askpass, "before-any-reload").await;
    let log = n1.output();
    let started = log
        .lines()
        .find(|l| l.contains("sealing keys current="))
        .expect("the key ids logged at start");
    let old_id = field(started, "current");
    let new_id_as_previous = field(started, "previous");

    // A bad file: refused, named, and the node keeps its keys.
    std::fs::write(&current, "not a key\n").unwrap();
    let refused = hup_and_wait(n1, "sealing keys not reloaded");
    assert!(
        refused.contains(cur) && refused.contains("not base64"),
        "{refused}"
    );
    assert_eq!(field(&refused, "keeping"), old_id, "{refused}");
    assert_eq!(old_id.len(), 16, "{started}");
    echo_through(n1, &askpass, "after-a-bad-file").await;
    let out = ok(n1, &["secrets", "reseal"]);
    assert!(
        out.contains("resealed 0,"),
        "still sealing under the old key: {out}"
    );

    // The rotation: the new key current, the old one previous, then SIGHUP.
    std::fs::write(&current, NEW_KEY).unwrap();
    std::fs::write(&previous, SEAL_KEY).unwrap();
    let reloaded = hup_and_wait(n1, "sealing keys reloaded");
    let new_id = field(&reloaded, "current");
    assert!(new_id.len() == 16 && new_id != old_id, "{reloaded}");
    assert_eq!(
        new_id_as_previous,
        format!("[\"{new_id}\"]"),
        "the new key is the one given as previous at start"
    );
    assert!(
        reloaded.contains(&format!("previous=[\"{old_id}\"]")),
        "{reloaded}"
    );
    echo_through(n1, &askpass, "opened-with-the-previous-key").await;
    let out = ok(n1, &["secrets", "reseal"]);
    assert!(
        out.contains("remaining 0") && !out.contains("resealed 0,"),
        "{out}"
    );

    // Keys that do not open what is stored are refused; the node keeps the new key.
    std::fs::write(&current, OTHER_KEY).unwrap();
    std::fs::write(&previous, OTHER_KEY).unwrap();
    let refused = hup_and_wait(n1, "sealing keys not reloaded");
    assert!(
        refused.contains("do not open every stored secret") && refused.contains(&new_id),
        "{refused}"
    );
    assert_eq!(field(&refused, "keeping"), new_id);
    echo_through(n1, &askpass, "still-the-new-key").await;

    let log = n1.output();
    for key in [SEAL_KEY, NEW_KEY, OTHER_KEY] {
        assert!(!log.contains(key.trim()), "a key in the log");
    }
}
