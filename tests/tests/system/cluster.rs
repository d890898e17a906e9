//! Real `portunus` processes: single-node defaults, a three-node cluster losing its leader to
//! SIGKILL and getting it back from disk, SIGTERM drain, join and removal, bad configuration.

use portunus_tests::{http_get, portunus_bin, wait_until, ProcCluster};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const START: Duration = Duration::from_secs(30);

fn epoch(n: &portunus_tests::NodeProc) -> u64 {
    n.status()
        .ok()
        .and_then(|s| s["epoch"].as_u64())
        .unwrap_or(0)
}

#[test]
fn a_single_node_starts_with_defaults_and_creates_the_admin_once() {
    let mut c = ProcCluster::new(1).unwrap();
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let n = c.node(1);
    wait_until("admin credentials printed", START, || {
        n.output().contains("registered in the cluster")
    })
    .unwrap();
    let out = n.output();
    let creds = n.data_dir.join("admin-credentials.toml");
    assert!(
        out.contains(&creds.display().to_string()),
        "the file is named: {out}"
    );
    let mode = std::fs::metadata(&creds).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "credentials file is private");
    let text = std::fs::read_to_string(&creds).unwrap();
    let field = |name: &str| {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap();
        line.split('"').nth(1).unwrap().to_string()
    };
    for secret in [field("password"), field("access_key_secret")] {
        assert!(secret.len() >= 16, "a real secret in the file");
        assert!(!out.contains(&secret), "a secret was printed: {out}");
    }
    let password = text
        .lines()
        .find(|l| l.starts_with("password"))
        .unwrap()
        .to_string();
    assert!(!n.output().contains("PORTUNUS_CLUSTER_SECRET"));
    let first_epoch = epoch(n);
    assert!(first_epoch >= 1);

    n.kill();
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let n = c.node(1);
    wait_until("registration after restart", START, || {
        epoch(n) > first_epoch
    })
    .unwrap();
    assert!(
        !n.output().contains("administrator created"),
        "admin created only on first start"
    );
    let after = std::fs::read_to_string(&creds).unwrap();
    assert!(
        after.contains(&password),
        "credentials file untouched by a restart"
    );
    let (code, metrics) = http_get(n.metrics, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(metrics.contains("portunus_raft_is_leader 1"), "{metrics}");
    assert!(
        metrics.contains("portunus_api_cut_off_total{reason=\"body_timeout\"} 0"),
        "{metrics}"
    );
    // The API port serves health to anyone, not the cluster's layout or load.
    assert_eq!(http_get(n.api, "/healthz").unwrap().0, 200);
    assert_eq!(http_get(n.api, "/readyz").unwrap().0, 200);
    for hidden in ["/metrics", "/v1/status"] {
        assert_eq!(
            http_get(n.api, hidden).unwrap().0,
            404,
            "{hidden} on the API port"
        );
    }
    assert_eq!(http_get(n.metrics, "/v1/status").unwrap().0, 200);
}

#[test]
fn three_nodes_survive_sigkill_of_the_leader_and_recover_it_from_disk() {
    let mut c = ProcCluster::new(3).unwrap();
    c.spawn_all().unwrap();
    let leader = c.wait_stable(START).unwrap();
    wait_until("every node registered", START, || {
        c.nodes.iter().all(|n| epoch(n) >= 1)
    })
    .unwrap();
    let old_epoch = epoch(&c.nodes[leader as usize - 1]);

    c.node(leader).kill();
    let new_leader = c.wait_stable(START).unwrap();
    assert_ne!(new_leader, leader, "a survivor leads");
    for n in c.nodes.iter().filter(|n| n.id != leader) {
        assert!(n.ready(), "survivor {} stays ready", n.id);
    }

    c.spawn(leader, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let back = &c.nodes[leader as usize - 1];
    wait_until("the restarted node re-registers", START, || {
        epoch(back) > old_epoch
    })
    .unwrap();
    let status = back.status().unwrap();
    assert_eq!(status["nodes"].as_array().unwrap().len(), 3, "{status}");
}

#[test]
fn sigterm_drains_and_exits_cleanly_while_the_rest_keeps_a_leader() {
    let mut c = ProcCluster::new(3).unwrap();
    c.spawn_all().unwrap();
    let leader = c.wait_stable(START).unwrap();
    let status = c.node(leader).terminate(Duration::from_secs(20)).unwrap();
    assert!(status.success(), "drained node exits 0, got {status}");
    let out = c.node(leader).output();
    assert!(out.contains("draining"), "{out}");
    let next = c.wait_stable(START).unwrap();
    assert_ne!(next, leader);
}

#[test]
fn a_node_joins_with_one_command_and_can_be_removed() {
    let mut c = ProcCluster::new(4).unwrap();
    c.initial_voters(&[1, 2, 3]);
    for id in 1..=3 {
        c.spawn(id, &[]).unwrap();
    }
    c.wait_stable(START).unwrap();
    // Bootstrapped from the same --peers list, each node knew only the others' cluster
    // addresses; each publishes its own, so every view ends up with every engine's API.
    for n in &c.nodes[..3] {
        wait_until("every member's addresses in every view", START, || {
            n.status().is_ok_and(|s| {
                s["nodes"].as_array().is_some_and(|a| {
                    a.len() == 3
                        && a.iter().all(|m| {
                            m["kind"] == "engine"
                                && m["info"]["api_addr"]
                                    .as_str()
                                    .is_some_and(|x| !x.is_empty())
                        })
                })
            })
        })
        .unwrap();
    }
    let via = c.nodes[0].cluster.to_string();
    c.spawn_joining(4, &via).unwrap();
    let voters = |s: &serde_json::Value| {
        s["nodes"]
            .as_array()
            .map(|a| a.iter().filter(|n| n["voter"] == true).count())
    };
    let first = &c.nodes[0];
    wait_until("four voters", START, || {
        first
            .status()
            .map(|s| voters(&s) == Some(4))
            .unwrap_or(false)
    })
    .unwrap();
    let fourth = &c.nodes[3];
    wait_until("the joined node is ready", START, || fourth.ready()).unwrap();

    let out = std::process::Command::new(portunus_bin())
        .args(["cluster", "--via", &via, "remove-node", "4"])
        .env("PORTUNUS_CLUSTER_SECRET", &c.secret)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("three members again", START, || {
        first
            .status()
            .map(|s| s["nodes"].as_array().map(|a| a.len()) == Some(3))
            .unwrap_or(false)
    })
    .unwrap();
}

#[test]
fn bad_configuration_is_refused_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("portunus.toml");
    std::fs::write(&file, "node_id = 1\nssh_lisen = \"127.0.0.1:1\"\n").unwrap();
    let out = std::process::Command::new(portunus_bin())
        .args(["up", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ssh_lisen"), "{err}");

    let out = std::process::Command::new(portunus_bin())
        .args([
            "up",
            "--node-id",
            "3",
            "--peers",
            "1=127.0.0.1:1,2=127.0.0.1:2",
        ])
        .env(
            "PORTUNUS_CLUSTER_SECRET",
            "0123456789abcdef0123456789abcdef-XYZ",
        )
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not in the list"));

    let out = std::process::Command::new(portunus_bin())
        .args([
            "up",
            "--node-id",
            "1",
            "--peers",
            "1=127.0.0.1:1,2=127.0.0.1:2",
        ])
        .env_remove("PORTUNUS_CLUSTER_SECRET")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cluster secret"));

    for weak in ["short-secret-0123", &"ab".repeat(30)] {
        let out = std::process::Command::new(portunus_bin())
            .args(["up", "--data-dir"])
            .arg(dir.path().join("weak"))
            .env("PORTUNUS_CLUSTER_SECRET", weak)
            .output()
            .unwrap();
        assert!(!out.status.success(), "weak secret accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("PORTUNUS_CLUSTER_SECRET") && err.contains("openssl rand -base64 32"),
            "{err}"
        );
        assert!(!err.contains(weak), "secret echoed: {err}");
    }

    let out = std::process::Command::new(portunus_bin())
        .args(["up", "--snapshot-every", "5"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--snapshot-every") && err.contains("at least 20"),
        "{err}"
    );
    assert!(
        !dir.path().join("portunus-data").exists(),
        "refused before touching the data dir"
    );
}

/// A data directory remembers its cluster (a tag derived from the secret) and its node id: a
/// start with another secret or as another node is refused before any port is bound, and the
/// directory still serves its own node afterwards.
#[test]
fn a_data_dir_is_refused_to_another_cluster_or_another_node() {
    let mut c = ProcCluster::new(1).unwrap();
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let first = epoch(c.node(1));
    c.node(1).kill();

    let own = c.secret.clone();
    c.secret = "another-cluster-secret-0123456789-XYZ".into();
    c.spawn(1, &[]).unwrap();
    let n = c.node(1);
    wait_until("the start with another secret to fail", START, || {
        !n.is_running()
    })
    .unwrap();
    let out = n.output();
    assert!(out.contains("belongs to another cluster"), "{out}");
    assert!(
        !out.contains("another-cluster-secret"),
        "secret echoed: {out}"
    );
    assert!(!out.contains("portunus node 1"), "started anyway: {out}");

    let n = &c.nodes[0];
    let out = std::process::Command::new(portunus_bin())
        .args(["up", "--node-id", "2", "--data-dir"])
        .arg(&n.data_dir)
        .args(["--api-listen", &n.api.to_string()])
        .args(["--ssh-listen", &n.ssh.to_string()])
        .args(["--mysql-listen", "off"])
        .args(["--postgres-listen", "off"])
        .args(["--cluster-listen", &n.cluster.to_string()])
        .env("PORTUNUS_CLUSTER_SECRET", &own)
        .env("PORTUNUS_SEAL_KEY_FILE", &c.seal_key_file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("belongs to node 1"), "{err}");

    c.secret = own;
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let n = c.node(1);
    wait_until("the node to serve again from its data dir", START, || {
        epoch(n) > first
    })
    .unwrap();
}
