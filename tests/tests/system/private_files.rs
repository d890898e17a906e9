//! Everything a node writes is its user's alone: started under a permissive umask, a real
//! `portunus` process that served an SSH session (with its recording and audit) leaves every file
//! in its data directory mode 0600 and every directory 0700.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::sdk::admin_key_env;
use portunus_tests::{created, wait_until, NodeProc, ProcCluster};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);

fn ok(n: &NodeProc, args: &[&str]) -> String {
    let out = n.admin(args);
    assert!(out.ok, "portunus admin {args:?}: {out:?}");
    out.stdout
}

/// Every path under `dir` with its permission bits.
fn modes(dir: &Path, out: &mut Vec<(String, bool, u32)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = std::fs::symlink_metadata(entry.path()).unwrap();
        let mode = meta.permissions().mode() & 0o777;
        out.push((entry.path().display().to_string(), meta.is_dir(), mode));
        if meta.is_dir() {
            modes(&entry.path(), out);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_is_private_whatever_the_umask() {
    let sshd = Sshd::start().await;
    let mut c = ProcCluster::new(1).unwrap();
    c.umask = Some(0o000);
    c.env = admin_key_env();
    c.env.push((
        "PORTUNUS_LOG".into(),
        "info,openraft=warn,portunus_node::audit=debug".into(),
    ));
    c.spawn(1, &[]).unwrap();
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
    let port = sshd.port.to_string();
    ok(
        n1,
        &[
            "call",
            "ModifyHostsPort",
            &format!("HostIds=[{host}]"),
            "ProtocolName=SSH",
            &format!("Port={port}"),
        ],
    );
    let key = c.dir.path().join("target_key");
    std::fs::write(&key, &sshd.client_key).unwrap();
    ok(
        n1,
        &[
            "host",
            "add-account",
            "web-01",
            "root",
            "--private-key-file",
            key.to_str().unwrap(),
        ],
    );
    ok(
        n1,
        &["grant", "host", "alice", "web-01", "--account", "root"],
    );

    let askpass = Askpass::new();
    for round in 0..2 {
        let marker = format!("private-files-{round}");
        let out = askpass
            .ssh(n1.ssh.port(), "alice@root@web-01", "alice-Passw0rd")
            .arg(format!("echo {marker}"))
            .output()
            .await
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains(&marker), "session {round}: {out:?}");
    }
    wait_until("both recordings stored", WAIT, || {
        n1.output().matches("recording part stored").count() >= 2
    })
    .unwrap();

    let mut all = Vec::new();
    modes(&n1.data_dir, &mut all);
    assert!(
        all.iter().any(|(_, dir, _)| !dir) && all.iter().any(|(_, dir, _)| *dir),
        "files and directories were written: {all:?}"
    );
    let data_dir_mode = std::fs::metadata(&n1.data_dir)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(data_dir_mode, 0o700, "the data directory itself");
    let loose: Vec<_> = all
        .iter()
        .filter(|(_, dir, mode)| *mode != if *dir { 0o700 } else { 0o600 })
        .collect();
    assert!(loose.is_empty(), "not private: {loose:?}");
}
