//! Shell and exec through the gateway to a real OpenSSH sshd, with the OpenSSH client.

use std::process::Stdio;

use crate::env::{key_credential, permit, Gateway, Sshd, WAIT};
use portunus_proxy::gate::{AuditEvent, CommandInput, EndKind, Target, TargetProtocol};
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
        assert!(event[1] == "o" || event[1] == "i", "{line}");
        if event[1] == "o" {
            output.push_str(event[2].as_str().expect("text"));
        }
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

/// Reads the child's output until it contains `needle` (after `seen`, which keeps everything).
async fn wait_for(out: &mut tokio::process::ChildStdout, seen: &mut Vec<u8>, needle: &str) {
    use tokio::io::AsyncReadExt;
    let from = seen.len();
    tokio::time::timeout(WAIT, async {
        let mut buf = vec![0; 16 * 1024];
        while !String::from_utf8_lossy(&seen[from..]).contains(needle) {
            let n = out.read(&mut buf).await.expect("read");
            assert!(
                n > 0,
                "output ended before {needle:?}: {}",
                String::from_utf8_lossy(seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} in {}", String::from_utf8_lossy(seen)));
}

/// The command events of the audit: (line, how it came).
fn commands(gw: &Gateway) -> Vec<(String, CommandInput)> {
    gw.audit
        .events()
        .into_iter()
        .filter_map(|e| match e {
            AuditEvent::Command { line, input, .. } => Some((line, input)),
            _ => None,
        })
        .collect()
}

/// The events of kind `kind` ("o", "i", "r") of a recording, their text.
fn cast_events(cast: &str, kind: &str) -> Vec<String> {
    cast.lines()
        .skip(1)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("an asciicast event"))
        .filter(|e| e[1] == kind)
        .map(|e| e[2].as_str().expect("text").to_string())
        .collect()
}

/// `stty -echo` no longer hides what the shell receives: the command is audited in clear (and
/// marked as typed without echo). What is typed at a password prompt stays masked, in the
/// audit and in the recording's input, even when the shell prompt contains the secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_without_echo_is_audited_in_clear_except_at_a_password_prompt() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    // A shell prompt that contains the secret typed later: [root@vm ~]#
    stdin
        .write_all(b"v=vm; PS1=\"[root@$v \\W]# \"; stty -echo; echo mark''-1\n")
        .await
        .expect("type");
    wait_for(&mut out, &mut seen, "mark-1").await;
    stdin
        .write_all(b"echo after-stty-$((6*7))\n")
        .await
        .expect("type");
    wait_for(&mut out, &mut seen, "after-stty-42").await;
    stdin
        .write_all(b"read -s -p '[sudo] password for root: ' pw; echo; echo len-${#pw}\n")
        .await
        .expect("type");
    wait_for(&mut out, &mut seen, "password for root: ").await;
    stdin.write_all(b"root@vm\n").await.expect("type");
    wait_for(&mut out, &mut seen, "len-7").await;
    stdin.write_all(b"exit\n").await.expect("type");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("in time")
        .expect("ssh");
    assert!(status.success());
    wait_until(WAIT, "the recording", || !gw.audit.recordings().is_empty()).await;
    let lines = commands(&gw);
    assert!(
        lines.contains(&(
            "echo after-stty-$((6*7))".to_string(),
            CommandInput::WithoutEcho
        )),
        "{lines:?}"
    );
    let masked: Vec<_> = lines
        .iter()
        .filter(|(_, how)| matches!(how, CommandInput::AtPasswordPrompt { .. }))
        .collect();
    assert_eq!(masked.len(), 1, "{lines:?}");
    assert_eq!(masked[0].0, "<hidden input>");
    assert!(
        matches!(&masked[0].1, CommandInput::AtPasswordPrompt { prompt }
            if prompt.ends_with("[sudo] password for root:")),
        "{masked:?}"
    );
    assert!(
        lines.iter().all(|(l, _)| !l.contains("root@vm")),
        "a secret leaked: {lines:?}"
    );
    let (_, cast) = gw.audit.recordings().remove(0);
    let cast = String::from_utf8(cast).expect("utf-8");
    let typed = cast_events(&cast, "i").concat();
    assert!(typed.contains("echo after-stty-$((6*7))"), "{typed:?}");
    assert!(
        !typed.contains("root@vm"),
        "nor into the recording: {typed:?}"
    );
    assert!(
        typed.contains("*******"),
        "the secret's keys masked: {typed:?}"
    );
    drop(stdin);
}

/// `ssh -T` (no PTY) gives a recorded shell: output and input in the recording (80x24), the
/// commands audited in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_without_a_pty_is_recorded() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("-T").stdin(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    stdin
        .write_all(b"echo no-p''ty-$((40+2))\n")
        .await
        .expect("type");
    wait_for(&mut out, &mut seen, "no-pty-42").await;
    stdin.write_all(b"exit 6\n").await.expect("type");
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("in time")
        .expect("ssh");
    assert_eq!(status.code(), Some(6));
    let session = gw.gate.opened_ids()[0];
    wait_until(WAIT, "the recording", || !gw.audit.recordings().is_empty()).await;
    let (rec_session, cast) = gw.audit.recordings().remove(0);
    assert_eq!(rec_session, session);
    let cast = String::from_utf8(cast).expect("utf-8");
    let header: serde_json::Value =
        serde_json::from_str(cast.lines().next().expect("header")).expect("json");
    assert_eq!(
        (
            header["version"].clone(),
            header["width"].clone(),
            header["height"].clone()
        ),
        (2.into(), 80.into(), 24.into())
    );
    assert!(
        cast_events(&cast, "o").concat().contains("no-pty-42"),
        "{cast}"
    );
    assert_eq!(
        cast_events(&cast, "i").concat(),
        "echo no-p''ty-$((40+2))\nexit 6\n"
    );
    let lines = commands(&gw);
    assert!(
        lines.contains(&(
            "echo no-p''ty-$((40+2))".to_string(),
            CommandInput::WithoutEcho
        )),
        "{lines:?}"
    );
}

/// An exec's output and input are recorded too; its command is audited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exec_is_recorded() {
    let (gw, _sshd) = setup().await;
    let mut ssh = gw.ssh("alice@root@web-01", "alice-pw");
    ssh.arg("read x; echo got-$x; echo to-std''err >&2")
        .stdin(Stdio::piped());
    let mut child = ssh.spawn().expect("spawn ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"piped-in\n").await.expect("write");
    drop(stdin);
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("in time")
        .expect("ssh");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("got-piped-in"));
    wait_until(WAIT, "the recording", || !gw.audit.recordings().is_empty()).await;
    let (_, cast) = gw.audit.recordings().remove(0);
    let cast = String::from_utf8(cast).expect("utf-8");
    let shown = cast_events(&cast, "o").concat();
    assert!(shown.contains("got-piped-in"), "{cast}");
    assert!(shown.contains("to-stderr"), "stderr recorded: {cast}");
    assert_eq!(cast_events(&cast, "i").concat(), "piped-in\n");
    assert_eq!(
        commands(&gw),
        vec![(
            "read x; echo got-$x; echo to-std''err >&2".to_string(),
            CommandInput::Exec
        )]
    );
}
