//! Shell and exec through the gateway to a real OpenSSH sshd, with the OpenSSH client.

#[path = "support/env.rs"]
mod env;

use std::process::Stdio;

use env::{key_credential, permit, Gateway, Sshd, WAIT};
use portunus_proxy::gate::{AuditEvent, EndKind, Target, TargetProtocol};
use portunus_proxy::testing::{wait_until, FakeGate};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

async fn setup() -> (Gateway, Sshd) {
    let sshd = Sshd::start().await;
    (gateway_to(&sshd, None).await, sshd)
}

/// A gateway with user alice and host web-01 (account root, hosted key) on `sshd`, whose host
/// key fingerprint is trusted as `fingerprint` when given (else on first use).
async fn gateway_to(sshd: &Sshd, fingerprint: Option<&str>) -> Gateway {
    let gate = FakeGate::new();
    gate.add_user("alice", "alice-pw");
    let target = Target {
        asset_id: 1,
        asset_name: "web-01".into(),
        address: "127.0.0.1".into(),
        port: sshd.port,
        protocol: TargetProtocol::Ssh,
        accounts: vec![(7, "root".into())],
    };
    let mut p = permit("web-01", "root", sshd.port, key_credential(sshd));
    p.host_key_fingerprint = fingerprint.map(str::to_string);
    gate.add_target(target, vec![p]);
    Gateway::start(gate).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_with_pty_relays_output_and_exit_status() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"echo h''i; exit 3\n").await.expect("type");
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("in time")
        .expect("ssh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout
            .lines()
            .any(|l| l.trim_end().ends_with("hi") && !l.contains("echo")),
        "stdout: {stdout}"
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let session = gw.gate.opened_ids()[0];
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
    let close = &gw.gate.closes_of(session)[0];
    assert!(close.bytes_up > 0 && close.bytes_down > 0, "{close:?}");
    assert_eq!(close.end, EndKind::Normal);
    assert_eq!(
        gw.gate.trusted.lock().expect("lock").len(),
        1,
        "host key trusted on first use"
    );
    // Recording (asciicast v2) and command lines.
    wait_until(WAIT, "recording", || !gw.audit.recordings().is_empty()).await;
    let (rec_session, cast) = gw.audit.recordings().remove(0);
    assert_eq!(rec_session, session);
    let cast = String::from_utf8(cast).expect("utf-8 cast");
    let header: serde_json::Value =
        serde_json::from_str(cast.lines().next().expect("header")).expect("json");
    assert_eq!(header["version"], 2);
    assert!(
        cast.lines()
            .skip(1)
            .any(|l| l.contains("\"o\"") && l.contains("hi")),
        "{cast}"
    );
    let commands: Vec<String> = gw
        .audit
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::Command { line, .. } => Some(line),
            _ => None,
        })
        .collect();
    assert_eq!(commands, vec!["echo h''i; exit 3".to_string()]);
    drop(stdin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_recording_reaches_the_audit_in_parts_while_the_shell_runs() {
    const XS: usize = 3_000_000; // about three parts of asciicast
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("-tt").stdin(Stdio::piped()).stdout(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    stdin
        .write_all(
            format!("head -c {XS} /dev/zero | tr '\\0' x; echo; echo done''-marker\n").as_bytes(),
        )
        .await
        .expect("type");
    let mut seen = Vec::new();
    tokio::time::timeout(WAIT, async {
        let mut buf = vec![0; 64 * 1024];
        loop {
            use tokio::io::AsyncReadExt;
            let n = stdout.read(&mut buf).await.expect("read");
            assert!(n > 0, "ssh ended early");
            seen.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&seen[seen.len().saturating_sub(200)..])
                .contains("\ndone-marker")
            {
                break;
            }
        }
    })
    .await
    .expect("the output in time");
    let session = gw.gate.opened_ids()[0];
    // Streamed while the session runs: completed parts stored, the final one not yet.
    wait_until(WAIT, "parts of the running session", || {
        gw.audit.parts_of(session).len() >= 2
    })
    .await;
    assert!(gw.audit.parts_of(session).iter().all(|p| !p.last));
    assert!(gw.audit.recordings().is_empty(), "still running");

    stdin.write_all(b"exit\n").await.expect("type");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("in time")
        .expect("ssh");
    assert!(status.success());
    wait_until(WAIT, "the final part", || !gw.audit.recordings().is_empty()).await;
    let parts = gw.audit.parts_of(session);
    assert!(parts.len() >= 3, "{} parts", parts.len());
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.index as usize, i, "handed over in order");
        assert_eq!(
            part.last,
            i + 1 == parts.len(),
            "last marks the final part only"
        );
        if !part.last {
            assert!(
                part.bytes.len() >= 1 << 20,
                "part {i}: {} bytes",
                part.bytes.len()
            );
        }
        assert!(
            part.bytes.is_empty() || part.bytes.ends_with(b"\n"),
            "whole lines"
        );
    }
    let (rec_session, cast) = gw.audit.recordings().remove(0);
    assert_eq!(rec_session, session);
    let cast = String::from_utf8(cast).expect("utf-8 cast");
    let mut lines = cast.lines();
    let header: serde_json::Value =
        serde_json::from_str(lines.next().expect("header")).expect("json");
    assert_eq!(header["version"], 2);
    let mut output = String::new();
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line).expect("an asciicast event");
        assert_eq!(event[1], "o", "{line}");
        output.push_str(event[2].as_str().expect("text"));
    }
    let longest_run = output.split(|c| c != 'x').map(str::len).max().unwrap_or(0);
    assert_eq!(longest_run, XS, "all the output, once");
    assert!(output.contains("\ndone-marker"), "and what followed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_relays_stdout_stderr_and_status() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("uname -a; echo oops >&2; stty size 2>/dev/null || echo nopty; exit 0");
    let out = ssh.output().await.expect("run ssh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stdout.contains("Linux"), "stdout: {stdout}");
    assert!(
        stdout.contains("nopty"),
        "no pty asked, none given: {stdout}"
    );
    assert!(stderr.contains("oops"), "stderr relayed: {stderr}");
    let session = gw.gate.opened_ids()[0];
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
}

/// The bastion logs in to a target that only accepts aes128-gcm (its client side offers it
/// too), for a client pinned to aes128-gcm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aes128_gcm_on_both_legs() {
    let sshd = Sshd::start_with("Ciphers aes128-gcm@openssh.com\n").await;
    let gw = gateway_to(&sshd, None).await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.args(["-c", "aes128-gcm@openssh.com", "echo gcm-ok"]);
    let out = ssh.output().await.expect("run ssh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert!(stdout.contains("gcm-ok"), "stdout: {stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_with_pty_forwards_the_terminal_size() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    // -tt with a command: pty-req then exec; the target sees the client's size (80x24 default
    // for a non-tty stdin is 0x0, so sshd applies its own; just check a tty exists).
    ssh.args(["-tt", "tty >/dev/null && echo has-tty; exit 5"]);
    let out = ssh.output().await.expect("run ssh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("has-tty"), "stdout: {stdout}");
    assert_eq!(out.status.code(), Some(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_target_is_refused_with_a_message() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@nowhere", "alice-pw");
    ssh.arg("true");
    let out = ssh.output().await.expect("run ssh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("not authorized"), "stderr: {stderr}");
    assert!(gw.gate.opened_ids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn menu_lets_the_user_pick_a_target() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice", "alice-pw");
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    tokio::time::timeout(WAIT, find(&mut lines, "web-01"))
        .await
        .expect("menu shown");
    stdin.write_all(b"1\r").await.expect("pick");
    tokio::time::timeout(WAIT, find(&mut lines, "Connecting to root@web-01"))
        .await
        .expect("connecting");
    stdin
        .write_all(b"echo picked-$((40+2)); exit 4\n")
        .await
        .expect("type");
    tokio::time::timeout(WAIT, find(&mut lines, "picked-42"))
        .await
        .expect("shell ran");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exit")
        .expect("status");
    assert_eq!(status.code(), Some(4));
    let session = gw.gate.opened_ids()[0];
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
    assert!(!gw
        .audit
        .events()
        .iter()
        .any(|e| matches!(e, AuditEvent::Tunnel { .. })));
}

type Lines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Reads lines until one contains `needle`.
async fn find(lines: &mut Lines, needle: &str) {
    while let Some(line) = lines.next_line().await.expect("read") {
        if line.contains(needle) {
            return;
        }
    }
    panic!("no {needle:?} in the output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_shell_session_closes_it() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    stdin.write_all(b"echo rea''dy\n").await.expect("type");
    tokio::time::timeout(WAIT, find(&mut lines, "ready"))
        .await
        .expect("shell up");
    let session = gw.gate.opened_ids()[0];
    gw.gate.terminate(session);
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait())
        .await
        .expect("ssh ends soon after termination")
        .expect("status");
    assert!(!status.success());
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
    assert_eq!(gw.gate.closes_of(session)[0].end, EndKind::Terminated);
    drop(stdin);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_target_host_key_is_refused() {
    let sshd = Sshd::start().await;
    let wrong = "SHA256:AAAAnotTheRightKeyAAAAAAAAAAAAAAAAAAAAAAAAA";
    let gw = gateway_to(&sshd, Some(wrong)).await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("true");
    let out = ssh.output().await.expect("ssh");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("host key of web-01 changed"),
        "stderr: {stderr}"
    );
    let session = gw.gate.opened_ids()[0];
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
    assert_eq!(gw.gate.closes_of(session)[0].end, EndKind::Error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_typed_without_echo_is_audited_as_hidden() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    stdin
        .write_all(b"stty -echo; echo no-echo-now; read secret; stty echo; echo got-it\n")
        .await
        .expect("type");
    // Type the secret only once the shell waits for it without echo.
    tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = out.next_line().await {
            if line.trim_end().ends_with("no-echo-now") && !line.contains("echo no-echo-now") {
                break;
            }
        }
    })
    .await
    .expect("prompt");
    stdin
        .write_all(b"hunter2-very-secret\n")
        .await
        .expect("type");
    tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = out.next_line().await {
            if line.contains("got-it") && !line.contains("echo") {
                break;
            }
        }
    })
    .await
    .expect("output");
    stdin.write_all(b"exit\n").await.expect("type");
    let _ = tokio::time::timeout(WAIT, child.wait()).await;
    wait_until(WAIT, "the recording", || !gw.audit.recordings().is_empty()).await;
    let lines: Vec<String> = gw
        .audit
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::Command { line, .. } => Some(line),
            _ => None,
        })
        .collect();
    assert!(
        lines.iter().any(|l| l.starts_with("stty -echo;")),
        "{lines:?}"
    );
    assert!(lines.iter().any(|l| l == "<hidden input>"), "{lines:?}");
    assert!(
        lines.iter().all(|l| !l.contains("hunter2")),
        "a secret leaked: {lines:?}"
    );
    let (_, cast) = &gw.audit.recordings()[0];
    assert!(
        !String::from_utf8_lossy(cast).contains("hunter2"),
        "nor into the recording"
    );
}
