//! The sealing key, with a real `portunus` process, a real sshd and the OpenSSH client: a hosted
//! private key keeps reaching the host through a key rotation (new key with the old one as
//! previous, re-seal, new key alone), and a node given only a key the cluster's secrets are not
//! sealed under refuses to start, naming the key it lacks. The InstanceId is random, not a
//! function of the cluster secret.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::sdk::admin_key_env;
use portunus_tests::{created, wait_until, NodeProc, ProcCluster};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);

fn ok(n: &NodeProc, args: &[&str]) -> String {
    let out = n.admin(args);
    assert!(out.ok, "portunus admin {args:?}: {out:?}");
    out.stdout
}

/// `echo` through the gateway on the host's hosted key; the command's output.
async fn echo_through(n: &NodeProc, askpass: &Askpass, word: &str) -> String {
    let mut ssh = askpass.ssh(n.ssh.port(), "alice@root@web-01", "alice-Passw0rd");
    ssh.args(["echo", word]);
    let out = ssh.output().await.expect("ssh runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn restart(c: &mut ProcCluster, extra: &[&str]) {
    c.node(1).terminate(START).expect("a clean stop");
    c.spawn(1, extra).unwrap();
    c.wait_stable(START).unwrap();
    let n1 = &c.nodes[0];
    wait_until("the Admin key to work", START, || {
        n1.admin(&["user", "list"]).ok
    })
    .unwrap();
}

fn instance_id(n: &NodeProc) -> String {
    let out = ok(n, &["call", "DescribeInstances"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["Instances"][0]["InstanceId"]
        .as_str()
        .expect("an InstanceId")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_key_survives_a_sealing_key_rotation() {
    let sshd = Sshd::start().await;
    let mut c = ProcCluster::new(1).unwrap();
    c.env = admin_key_env();
    c.spawn_all().unwrap();
    c.wait_stable(START).unwrap();
    let n1 = &c.nodes[0];
    wait_until("the Admin key to work", START, || {
        n1.admin(&["user", "list"]).ok
    })
    .unwrap();
    let first_instance = instance_id(n1);
    assert!(
        first_instance.starts_with("portunus-") && first_instance.len() == 21,
        "{first_instance}"
    );
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
    ok(
        n1,
        &[
            "host",
            "add-account",
            "web-01",
            "root",
            "--private-key-file",
            target_key.to_str().unwrap(),
        ],
    );
    ok(
        n1,
        &["grant", "host", "alice", "web-01", "--account", "root"],
    );
    let askpass = Askpass::new();
    let seen = echo_through(n1, &askpass, "sealed-under-the-first-key").await;
    assert!(seen.contains("sealed-under-the-first-key"), "{seen}");

    // A new key, the old one as previous: what was sealed before still opens.
    let old_key = c.seal_key_file.clone();
    let new_key = c.dir.path().join("seal-key-2");
    std::fs::write(&new_key, "yq7n0nYb1m4cX0uU0m1m1Xv3N8dQ6C4b1H3Zr8l2p0Q=\n").unwrap();
    let (old, new) = (old_key.to_str().unwrap(), new_key.to_str().unwrap());
    restart(
        &mut c,
        &["--seal-key-file", new, "--previous-seal-key-file", old],
    );
    let n1 = &c.nodes[0];
    let seen = echo_through(n1, &askpass, "opened-with-the-previous-key").await;
    assert!(seen.contains("opened-with-the-previous-key"), "{seen}");

    // Re-seal everything under the new key, through the log.
    let out = ok(n1, &["secrets", "reseal"]);
    assert!(out.contains("remaining 0"), "{out}");
    let resealed: u64 = out
        .split("resealed ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("a resealed count: {out}"));
    // The account's key, the admin's AccessKey secret and the cluster's SSH host key.
    assert!(resealed >= 3, "{out}");
    let again = ok(n1, &["secrets", "reseal"]);
    assert!(again.contains("resealed 0,"), "nothing left to do: {again}");

    // The new key alone now opens everything.
    restart(&mut c, &["--seal-key-file", new]);
    let n1 = &c.nodes[0];
    let seen = echo_through(n1, &askpass, "opened-with-the-new-key-alone").await;
    assert!(seen.contains("opened-with-the-new-key-alone"), "{seen}");
    assert_eq!(instance_id(n1), first_instance, "the InstanceId is kept");

    // `cluster create-access-key` seals the new key's secret itself: without the sealing key
    // it says which option is missing.
    let missing = c.dir.path().join("no-such-key");
    let out = std::process::Command::new(portunus_tests::portunus_bin())
        .args(["cluster", "--via", &c.nodes[0].cluster.to_string()])
        .args(["create-access-key", "--seal-key-file"])
        .arg(&missing)
        .env("PORTUNUS_CLUSTER_SECRET", &c.secret)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--seal-key-file"),
        "{err}"
    );

    // The old key alone no longer opens them: the node refuses to start, naming the key.
    c.node(1).terminate(START).expect("a clean stop");
    c.spawn(1, &["--seal-key-file", old]).unwrap();
    let n1 = c.node(1);
    wait_until("the node to refuse to start", START, || !n1.is_running()).unwrap();
    let log = n1.output();
    assert!(
        log.contains("the sealing key does not open this cluster's secrets")
            && log.contains("was not given"),
        "{log}"
    );
}

#[test]
fn the_instance_id_is_random_per_cluster() {
    let ids: Vec<String> = (0..2)
        .map(|_| {
            let mut c = ProcCluster::new(1).unwrap();
            c.env = admin_key_env();
            c.spawn_all().unwrap();
            c.wait_stable(START).unwrap();
            let n1 = &c.nodes[0];
            wait_until("the Admin key to work", START, || {
                n1.admin(&["user", "list"]).ok
            })
            .unwrap();
            instance_id(n1)
        })
        .collect();
    // Same cluster secret, same sealing key: only randomness tells the two instances apart.
    assert_ne!(ids[0], ids[1]);
}

/// Three nodes rotate one by one; a re-seal through one node reaches every node through the
/// log, so each then serves the hosted key with the new sealing key alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_rotation_on_three_nodes() {
    let sshd = Sshd::start().await;
    let mut c = ProcCluster::new(3).unwrap();
    c.env = admin_key_env();
    c.spawn_all().unwrap();
    let leader = c.wait_stable(START).unwrap();
    c.wait_replicated(leader, START).unwrap();
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
    let key_path = target_key.to_str().unwrap();
    ok(
        n1,
        &[
            "host",
            "add-account",
            "web-01",
            "root",
            "--private-key-file",
            key_path,
        ],
    );
    ok(
        n1,
        &["grant", "host", "alice", "web-01", "--account", "root"],
    );

    let old_key = c.seal_key_file.clone();
    let new_key = c.dir.path().join("seal-key-2");
    std::fs::write(&new_key, "yq7n0nYb1m4cX0uU0m1m1Xv3N8dQ6C4b1H3Zr8l2p0Q=\n").unwrap();
    let (old, new) = (old_key.to_str().unwrap(), new_key.to_str().unwrap());
    let askpass = Askpass::new();
    for (flags, word) in [
        (
            vec!["--seal-key-file", new, "--previous-seal-key-file", old],
            "rotating",
        ),
        (vec!["--seal-key-file", new], "new-key-alone"),
    ] {
        if flags.len() == 2 {
            let out = ok(&c.nodes[2], &["secrets", "reseal"]);
            assert!(out.contains("remaining 0"), "{out}");
        }
        for id in 1..=3 {
            c.node(id).terminate(START).expect("a clean stop");
            c.spawn(id, &flags).unwrap();
            let leader = c.wait_stable(START).unwrap();
            c.wait_replicated(leader, START).unwrap();
        }
        for n in &c.nodes {
            wait_until("the Admin key to work", START, || {
                n.admin(&["user", "list"]).ok
            })
            .unwrap();
            let said = format!("{word}-on-node-{}", n.id);
            let seen = echo_through(n, &askpass, &said).await;
            assert!(seen.contains(&said), "node {}: {seen}", n.id);
        }
    }
}
