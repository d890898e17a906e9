//! A shell recording streamed in parts, with three real `portunus` processes, a real sshd and the
//! OpenSSH client: the node serving a shell that prints several parts' worth of output is
//! SIGKILLed mid-session, and `portunus cluster recording` through another node still prints
//! every part stored before the kill (a valid asciicast), then fails saying the recording has no
//! end.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::sdk::admin_key_env;
use portunus_tests::{created, portunus_bin, wait_until, NodeProc, ProcCluster};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);
/// Output of the shell: about three 1 MiB parts of asciicast.
const XS: usize = 3_000_000;

fn ok(n: &NodeProc, args: &[&str]) -> String {
    let out = n.admin(args);
    assert!(out.ok, "portunus admin {args:?}: {out:?}");
    out.stdout
}

/// The ids of the sessions whose recording part `index` node `n` logged as stored.
fn sessions_with_part(n: &NodeProc, index: u32) -> Vec<u64> {
    n.output()
        .lines()
        .filter(|l| l.contains("recording part stored") && l.contains(&format!("index={index} ")))
        .filter_map(|l| {
            let rest = &l[l.find("session_id=")? + "session_id=".len()..];
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_cut_short_by_a_sigkill_keeps_its_stored_parts() {
    let sshd = Sshd::start().await;
    let mut c = ProcCluster::new(3).unwrap();
    c.env = admin_key_env();
    c.env.push((
        "PORTUNUS_LOG".into(),
        "info,openraft=warn,portunus_node::audit=debug".into(),
    ));
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

    // A shell through node 2 prints its output, then stays open.
    let victim = 2;
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(
        c.nodes[victim - 1].ssh.port(),
        "alice@root@web-01",
        "alice-Passw0rd",
    );
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let typed = format!("head -c {XS} /dev/zero | tr '\\0' x; echo; echo done''-marker\n");
    stdin.write_all(typed.as_bytes()).await.unwrap();
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        let mut buf = vec![0; 64 * 1024];
        while !String::from_utf8_lossy(&seen[seen.len().saturating_sub(200)..])
            .contains("\ndone-marker")
        {
            let n = stdout.read(&mut buf).await.unwrap();
            assert!(n > 0, "ssh ended early");
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("the shell's output in time");

    // Parts 0 and 1 are complete and stored while the session runs; then the node dies.
    let mut session = None;
    wait_until("two recording parts stored", WAIT, || {
        session = sessions_with_part(&c.nodes[victim - 1], 1).first().copied();
        session.is_some()
    })
    .unwrap();
    let session = session.unwrap();
    c.node(victim as u64).kill();
    let _ = child.kill().await;

    let via = c.nodes[0].cluster;
    let out = std::process::Command::new(portunus_bin())
        .args(["cluster", "--via", &via.to_string()])
        .args(["recording", &session.to_string()])
        .env("PORTUNUS_CLUSTER_SECRET", &c.secret)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "incomplete: a failure");
    assert!(stderr.contains("has no end"), "{stderr}");
    let cast = String::from_utf8(out.stdout).unwrap();
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    let mut output = String::new();
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line).expect("whole asciicast lines");
        if event[1] == "o" {
            output.push_str(event[2].as_str().unwrap());
        }
    }
    let xs = output.chars().filter(|&c| c == 'x').count();
    assert!(
        (2_000_000..=XS).contains(&xs),
        "two parts' worth of output: {xs} x"
    );
}
