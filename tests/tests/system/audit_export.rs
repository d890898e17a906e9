//! Audit export to a real `rsyslog` over TLS: administrative acts served by node 1 and the
//! session, command and closing events of an SSH session served by node 2 arrive as RFC 5424
//! messages with the user, asset and account; events written while the receiver is down, and
//! across a SIGKILL and restart of the node, arrive once it is back; no secret is sent.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::{free_tcp, loopback_tls_files, sshd_host, wait_until, ProcCluster};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "export-Passw0rd-3";
const LOGIN: &str = "alice@root@web-01";

/// A real rsyslogd receiving RFC 5424 over TLS on `port`, writing each message's id,
/// structured data and text to `received.log` in `dir`.
struct Rsyslog {
    child: Child,
}

impl Rsyslog {
    fn start(dir: &Path, port: u16) -> Rsyslog {
        let (ca, cert, key) = (
            dir.join("ca.pem"),
            dir.join("server.pem"),
            dir.join("server.key"),
        );
        let work = dir.join("work");
        std::fs::create_dir_all(&work).unwrap();
        let conf = format!(
            r#"global(workDirectory="{work}" maxMessageSize="256k"
       DefaultNetstreamDriver="gtls"
       DefaultNetstreamDriverCAFile="{ca}"
       DefaultNetstreamDriverCertFile="{cert}"
       DefaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.Authmode="anon")
input(type="imtcp" port="{port}")
template(name="raw" type="string" string="%msgid% %structured-data% %msg%\n")
*.* action(type="omfile" file="{out}" template="raw")
"#,
            work = work.display(),
            ca = ca.display(),
            cert = cert.display(),
            key = key.display(),
            out = dir.join("received.log").display(),
        );
        let conf_file = dir.join("rsyslog.conf");
        std::fs::write(&conf_file, conf).unwrap();
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(&conf_file)
            .arg("-i")
            .arg(dir.join("rsyslogd.pid"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("rsyslogd.err")).unwrap())
            .spawn()
            .expect("rsyslogd (Debian package rsyslog, with rsyslog-gnutls)");
        let addr = format!("127.0.0.1:{port}");
        wait_until("rsyslogd listening", WAIT, || {
            std::net::TcpStream::connect(&addr).is_ok()
        })
        .unwrap();
        Rsyslog { child }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        self.stop();
    }
}

fn received(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("received.log")).unwrap_or_default()
}

/// Waits until the receiver has a line containing every one of `words`; returns that line.
fn arrived(dir: &Path, words: &[&str]) -> String {
    let mut found = String::new();
    let waited = wait_until(
        &format!("a message with {words:?}"),
        WAIT,
        || match received(dir)
            .lines()
            .find(|l| words.iter().all(|w| l.contains(w)))
        {
            Some(l) => {
                found = l.to_string();
                true
            }
            None => false,
        },
    );
    if let Err(e) = waited {
        panic!("{e}; received:\n{}", received(dir));
    }
    found
}

async fn exec(askpass: &Askpass, port: u16, command: &str) {
    let mut ssh = askpass.ssh(port, LOGIN, PASSWORD);
    ssh.arg(command);
    let out = tokio::time::timeout(WAIT, ssh.output())
        .await
        .expect("ssh in time")
        .unwrap();
    assert!(
        out.status.success(),
        "{command}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_rsyslog_over_tls_and_none_is_lost_across_an_outage_and_a_restart() {
    let logs = tempfile::tempdir().unwrap();
    let ca = loopback_tls_files(logs.path());
    let port = free_tcp().port();
    let mut rsyslog = Rsyslog::start(logs.path(), port);
    let target = format!("tls://127.0.0.1:{port}");
    let ca = ca.to_str().unwrap().to_string();
    let sshd = Sshd::start().await;
    let mut c = ProcCluster::with_admin_env(
        3,
        START,
        &[
            ("PORTUNUS_AUDIT_SYSLOG", &target),
            ("PORTUNUS_AUDIT_SYSLOG_CA", &ca),
        ],
    )
    .unwrap();
    sshd_host(
        &c.nodes[0],
        c.dir.path(),
        sshd.port,
        &sshd.client_key,
        ("alice", PASSWORD),
        "web-01",
    );
    // Administrative acts, from the node whose API served them; secrets redacted.
    let created = arrived(logs.path(), &["admin ", "\"action\":\"CreateUser\""]);
    assert!(created.contains("node=\"1\""), "{created}");
    let account = arrived(logs.path(), &["admin ", "\"action\":\"CreateHostAccount\""]);
    let everything = received(logs.path());
    assert!(
        !everything.contains(PASSWORD) && !everything.contains("PRIVATE KEY"),
        "a secret was exported: {account}"
    );

    // A session served by node 2: opened, its command, closed, each naming alice and web-01.
    let askpass = Askpass::new();
    let p2 = c.nodes[1].ssh.port();
    exec(&askpass, p2, "echo exported-$((6*7))").await;
    let command = arrived(logs.path(), &["command ", "echo exported-$((6*7))"]);
    for word in [
        "node=\"2\"",
        "\"user\":\"alice\"",
        "\"asset\":\"web-01\"",
        "\"account\":\"root\"",
    ] {
        assert!(command.contains(word), "{word} missing: {command}");
    }
    arrived(
        logs.path(),
        &["session_open ", "\"user\":\"alice\"", "node=\"2\""],
    );
    arrived(
        logs.path(),
        &["session_close ", "\"user\":\"alice\"", "\"end\":\"normal\""],
    );
    // A file transfer through node 2: the file operation arrives, naming the path.
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("exported.txt");
    std::fs::write(&source, "sent through the bastion\n").unwrap();
    let (ok, said) = crate::sftp::sftp_batch(
        &askpass,
        p2,
        (LOGIN, PASSWORD),
        &format!(
            "put {} {}/uploaded.txt\n",
            source.display(),
            work.path().display()
        ),
        work.path(),
    )
    .await;
    assert!(ok, "{said}");
    let file = arrived(
        logs.path(),
        &["file ", &format!("{}/uploaded.txt", work.path().display())],
    );
    for word in ["node=\"2\"", "\"user\":\"alice\"", "\"asset\":\"web-01\""] {
        assert!(file.contains(word), "{word} missing: {file}");
    }

    // The receiver goes away; a session runs meanwhile; node 2 is SIGKILLed once its events
    // file holds the command, and restarted; the receiver comes back: the command arrives.
    rsyslog.stop();
    exec(&askpass, p2, "echo while-down-$((5*5))").await;
    let events = c.nodes[1].data_dir.join("audit/events.jsonl");
    wait_until("node 2 writing the command locally", WAIT, || {
        std::fs::read_to_string(&events).is_ok_and(|t| t.contains("while-down-$((5*5))"))
    })
    .unwrap();
    c.node(2).kill();
    c.spawn(2, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let mut rsyslog = Rsyslog::start(logs.path(), port);
    let late = arrived(logs.path(), &["command ", "echo while-down-$((5*5))"]);
    assert!(late.contains("\"user\":\"alice\""), "{late}");
    // Still exporting after the restart.
    exec(&askpass, p2, "echo after-restart-$((3*3))").await;
    arrived(logs.path(), &["command ", "echo after-restart-$((3*3))"]);
    rsyslog.stop();
}
