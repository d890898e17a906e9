//! Host keys pinned at creation and `portunus admin host verify`, with a real `portunus`
//! process, a real sshd and the OpenSSH client: the pinned key lets the hosted credential
//! through; a host presenting another key gets no credential (verify says HostKeyMismatch, the
//! engineer is told, the node logs it); an unpinned host is not trusted by verify; a refused
//! credential and an unreachable host are told apart.

use portunus_proxy::testing::openssh::{keygen, Askpass, Sshd};
use portunus_tests::sdk::admin_key_env;
use portunus_tests::{created, free_tcp, wait_until, NodeProc, ProcCluster};
use std::process::{Command, Stdio};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);

fn ok(n: &NodeProc, args: &[&str]) -> String {
    let out = n.admin(args);
    assert!(out.ok, "portunus admin {args:?}: {out:?}");
    out.stdout
}

/// The SHA-256 fingerprint of the sshd's host key, as `ssh-keyscan | ssh-keygen -lf -` shows.
fn scanned_fingerprint(port: u16) -> String {
    let scan = Command::new("ssh-keyscan")
        .args(["-p", &port.to_string(), "127.0.0.1"])
        .stderr(Stdio::null())
        .output()
        .expect("ssh-keyscan runs");
    let mut keygen = Command::new("ssh-keygen")
        .args(["-lf", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("ssh-keygen runs");
    use std::io::Write;
    keygen
        .stdin
        .take()
        .unwrap()
        .write_all(&scan.stdout)
        .unwrap();
    let out = keygen.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .find(|w| w.starts_with("SHA256:"))
        .unwrap_or_else(|| panic!("a fingerprint in {text:?}"))
        .to_string()
}

/// Adds host `name` at `port` with account `root` holding the private key in `key_file`,
/// pinned to `fingerprint` when given, and authorizes alice.
fn add_host(n: &NodeProc, name: &str, port: u16, fingerprint: Option<&str>, key_file: &str) {
    let mut args = vec!["host", "create", name, "--address", "127.0.0.1"];
    if let Some(fp) = fingerprint {
        args.extend(["--fingerprint", fp]);
    }
    let host = created(&ok(n, &args));
    ok(
        n,
        &[
            "call",
            "ModifyHostsPort",
            &format!("HostIds=[{host}]"),
            "ProtocolName=SSH",
            &format!("Port={port}"),
        ],
    );
    ok(
        n,
        &[
            "host",
            "add-account",
            name,
            "root",
            "--private-key-file",
            key_file,
        ],
    );
    ok(n, &["grant", "host", "alice", name, "--account", "root"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_host_keys_and_verify() {
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
    ok(
        n1,
        &["user", "create", "alice", "--password", "alice-Passw0rd"],
    );
    let fp = scanned_fingerprint(sshd.port);
    let good_key = c.dir.path().join("good_key");
    std::fs::write(&good_key, &sshd.client_key).unwrap();
    let good_key = good_key.to_str().unwrap();
    let (stranger_key, _, _) = keygen(c.dir.path(), "stranger_key");
    let stranger_key = stranger_key.to_str().unwrap();
    let wrong_fp = format!("SHA256:{}", "A".repeat(43));

    // A malformed pin is refused, naming the parameter.
    let out = n1.admin(&[
        "host",
        "create",
        "x",
        "--address",
        "10.0.0.1",
        "--fingerprint",
        "md5",
    ]);
    assert!(!out.ok && out.stderr.contains("HostFingerPrint"), "{out:?}");

    add_host(n1, "pinned", sshd.port, Some(&fp), good_key);
    add_host(n1, "wrongpin", sshd.port, Some(&wrong_fp), good_key);
    add_host(n1, "unpinned", sshd.port, None, good_key);
    add_host(n1, "refused", sshd.port, Some(&fp), stranger_key);
    add_host(n1, "nowhere", free_tcp().port(), Some(&fp), good_key);

    let out = ok(n1, &["host", "verify", "pinned"]);
    assert!(out.contains("root OK"), "{out}");

    let out = n1.admin(&["host", "verify", "wrongpin", "--account", "root"]);
    assert!(!out.ok, "{out:?}");
    assert!(
        out.stdout.contains("root HostKeyMismatch")
            && out.stdout.contains(&fp)
            && out.stdout.contains("no credential was sent"),
        "{out:?}"
    );

    let out = n1.admin(&["host", "verify", "unpinned"]);
    assert!(!out.ok, "{out:?}");
    assert!(
        out.stdout.contains("root HostKeyNotPinned") && out.stdout.contains(&fp),
        "{out:?}"
    );

    let out = n1.admin(&["host", "verify", "refused"]);
    assert!(
        !out.ok && out.stdout.contains("root AuthRefused"),
        "{out:?}"
    );

    let out = n1.admin(&["host", "verify", "nowhere"]);
    assert!(
        !out.ok && out.stdout.contains("root Unreachable"),
        "{out:?}"
    );

    let out = n1.admin(&["host", "verify", "pinned", "--account", "nobody"]);
    assert!(
        !out.ok && out.stderr.contains("no SSH account 'nobody'"),
        "{out:?}"
    );

    // Engineers: through the pinned host, and told why not through the mispinned one.
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(n1.ssh.port(), "alice@root@pinned", "alice-Passw0rd");
    ssh.args(["echo", "through-the-pinned-key"]);
    let out = ssh.output().await.unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("through-the-pinned-key"),
        "{out:?}"
    );
    let mut ssh = askpass.ssh(n1.ssh.port(), "alice@root@wrongpin", "alice-Passw0rd");
    ssh.args(["echo", "should-not-run"]);
    let out = ssh.output().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!stdout.contains("should-not-run"), "{stdout}");
    assert!(
        stderr.contains("not the pinned one") && stderr.contains("no credential was sent"),
        "{stderr}"
    );
    let log = n1.output();
    assert!(
        log.contains("target host key mismatch") && log.contains(&wrong_fp),
        "the node logs the mismatch:\n{log}"
    );

    // Each verification is an administrative act in the trail.
    let trail = ok(n1, &["audit", "list", "--action", "VerifyHostAccount"]);
    assert!(trail.matches("VerifyHostAccount").count() >= 5, "{trail}");
}

/// What `portunus admin host fingerprint HOST` prints as the pinned fingerprint.
fn pinned(n: &NodeProc, host: &str) -> String {
    let out = ok(n, &["--json", "host", "fingerprint", host]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    v["HostFingerPrint"]
        .as_str()
        .expect("a fingerprint field")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_pins_required_an_unpinned_host_gets_no_login_until_pinned() {
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
    ok(
        n1,
        &["user", "create", "alice", "--password", "alice-Passw0rd"],
    );
    let fp = scanned_fingerprint(sshd.port);
    let key = c.dir.path().join("good_key");
    std::fs::write(&key, &sshd.client_key).unwrap();
    let key = key.to_str().unwrap();
    add_host(n1, "web-07", sshd.port, None, key);
    add_host(n1, "web-08", sshd.port, None, key);

    // The operator turns the requirement on from a shell; the API reads it back.
    let shown = c
        .cli(n1.cluster, &["settings", "--require-host-key-pins", "true"])
        .unwrap();
    assert!(shown.contains("require_host_key_pins = true"), "{shown}");
    let policy = ok(n1, &["call", "GetHostKeyPolicy"]);
    assert!(
        policy.contains("\"RequirePinnedHostKeys\": true"),
        "{policy}"
    );
    // A change made with the cluster secret is in the admin audit trail too.
    let trail = ok(
        n1,
        &["--json", "audit", "list", "--action", "ClusterSettings"],
    );
    let entries: serde_json::Value = serde_json::from_str(&trail).expect("JSON");
    let entry = entries
        .as_array()
        .and_then(|e| e.last())
        .unwrap_or_else(|| panic!("no ClusterSettings entry: {trail}"));
    assert_eq!(entry["AccessKeyId"], "(cluster secret)", "{entry}");
    assert!(
        entry.to_string().contains("require_host_key_pins")
            && entry["Source"]
                .as_str()
                .is_some_and(|s| s.starts_with("portunus cluster")),
        "{entry}"
    );

    let askpass = Askpass::new();
    let login = |host: &str| {
        let mut ssh = askpass.ssh(
            n1.ssh.port(),
            &format!("alice@root@{host}"),
            "alice-Passw0rd",
        );
        ssh.args(["echo", "logged-in-to", host]);
        ssh
    };
    let out = login("web-07").output().await.unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !out.status.success() && !stdout.contains("logged-in-to"),
        "{stdout}"
    );
    assert!(
        stderr.contains("web-07 has no pinned host key and this bastion requires one")
            && stderr.contains("no credential was sent")
            && stderr.contains("portunus admin host fingerprint web-07 --set"),
        "{stderr}"
    );
    assert_eq!(pinned(n1, "web-07"), "", "nothing trusted on first use");
    let out = n1.admin(&["host", "verify", "web-07"]);
    assert!(
        !out.ok && out.stdout.contains("root HostKeyNotPinned"),
        "{out:?}"
    );

    // Pinned by an administrator, the host takes logins.
    ok(n1, &["host", "fingerprint", "web-07", "--set", &fp]);
    let out = login("web-07").output().await.unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("logged-in-to web-07"),
        "{out:?}"
    );

    // Turned off through the API, trust on first use is back.
    ok(
        n1,
        &["call", "ModifyHostKeyPolicy", "RequirePinnedHostKeys=false"],
    );
    let out = login("web-08").output().await.unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("logged-in-to web-08"),
        "{out:?}"
    );
    assert_eq!(pinned(n1, "web-08"), fp, "trusted on first use");
}
