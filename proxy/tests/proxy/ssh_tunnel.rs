//! `ssh -L` tunnels through the gateway with O&M tokens, with the OpenSSH client.

use std::sync::Arc;

use crate::env::{
    database_permit, free_port, key_credential, permit, wait_listening, Gateway, Sshd, WAIT,
};
use portunus_proxy::gate::{AuditEvent, EndKind, Refusal, RefusalKind, Target, TargetProtocol};
use portunus_proxy::testing::{wait_until, FakeGate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An echo server on a free port; returns its port.
async fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind echo");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = conn.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

async fn token_gateway(echo_port: u16) -> Gateway {
    let gate = FakeGate::new();
    gate.add_token("tok-good", Ok(database_permit("db-01", "app", echo_port)));
    let expired = Refusal {
        kind: RefusalKind::TokenExpired,
        message: "token expired: request a new O&M token".into(),
    };
    gate.add_token("tok-old", Err(expired));
    Gateway::start(gate).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_tunnel_relays_bytes_and_closes_the_session_once() {
    let echo = echo_server().await;
    let gw = token_gateway(echo).await;
    let local = free_port();
    let mut ssh = gw.ssh("alice", "tok-good");
    ssh.args([
        "-N",
        "-o",
        "ExitOnForwardFailure=yes",
        "-L",
        &format!("{local}:127.0.0.1:{echo}"),
    ]);
    let mut child = ssh.spawn().expect("spawn ssh");
    wait_listening(local).await;

    // Two tunnel connections, independent, both relayed.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for _ in 0..2 {
        let mut conn = TcpStream::connect(("127.0.0.1", local))
            .await
            .expect("connect tunnel");
        let (mut r, mut w) = conn.split();
        let send = async {
            w.write_all(&payload).await.expect("write");
            w.shutdown().await.expect("shutdown");
        };
        let mut back = Vec::new();
        let recv = r.read_to_end(&mut back);
        let (_, got) = tokio::join!(send, recv);
        got.expect("read echo");
        assert_eq!(back, payload);
    }
    assert_eq!(gw.handle.live_sessions(), 1);
    let session = gw.gate.opened_ids()[0];
    // wait_listening's probe opened a third, empty tunnel.
    let full = |e: &AuditEvent| {
        matches!(
            e,
            AuditEvent::Tunnel {
                bytes_up: 200_000,
                bytes_down: 200_000,
                ..
            }
        )
    };
    wait_until(WAIT, "tunnel audit events", || {
        gw.audit.events().iter().filter(|e| full(e)).count() == 2
    })
    .await;
    child.kill().await.expect("kill ssh");
    wait_until(WAIT, "session close", || {
        !gw.gate.closes_of(session).is_empty()
    })
    .await;
    wait_until(WAIT, "no live session", || gw.handle.live_sessions() == 0).await;
    let closes = gw.gate.closes_of(session);
    assert_eq!(closes.len(), 1, "closed exactly once");
    assert_eq!(closes[0].bytes_up, 2 * payload.len() as u64);
    assert_eq!(closes[0].bytes_down, 2 * payload.len() as u64);
    assert_eq!(closes[0].end, EndKind::Normal);
    assert_eq!(gw.gate.closed_count(), 1);
}

/// Every cipher OpenSSH offers by default is accepted, aes128-gcm included (russh's own
/// default list leaves it out), and the tunnel relays under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_works_with_each_openssh_cipher() {
    let echo = echo_server().await;
    let gw = token_gateway(echo).await;
    for cipher in [
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
        "chacha20-poly1305@openssh.com",
        "aes128-ctr",
        "aes256-ctr",
    ] {
        let local = free_port();
        let mut ssh = gw.ssh("alice", "tok-good");
        ssh.args([
            "-v",
            "-c",
            cipher,
            "-N",
            "-o",
            "ExitOnForwardFailure=yes",
            "-L",
            &format!("{local}:127.0.0.1:{echo}"),
        ]);
        let mut child = ssh.spawn().expect("spawn ssh");
        wait_listening(local).await;
        let mut conn = TcpStream::connect(("127.0.0.1", local))
            .await
            .expect("connect tunnel");
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
        let (mut r, mut w) = conn.split();
        let send = async {
            w.write_all(&payload).await.expect("write");
            w.shutdown().await.expect("shutdown");
        };
        let mut back = Vec::new();
        let (_, got) = tokio::join!(send, r.read_to_end(&mut back));
        got.expect("read echo");
        assert_eq!(back, payload, "relayed under {cipher}");
        child.start_kill().expect("kill ssh");
        let out = child.wait_with_output().await.expect("ssh output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("kex: server->client cipher: {cipher}")),
            "{cipher} negotiated: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnel_to_another_address_is_refused_with_a_reason() {
    let echo = echo_server().await;
    let other = echo_server().await;
    let gw = token_gateway(echo).await;
    let local = free_port();
    let mut ssh = gw.ssh("alice", "tok-good");
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{other}")]);
    let mut child = ssh.spawn().expect("spawn ssh");
    wait_listening(local).await;
    let mut conn = TcpStream::connect(("127.0.0.1", local))
        .await
        .expect("connect tunnel");
    let mut buf = Vec::new();
    let _ = conn.read_to_end(&mut buf).await;
    assert!(buf.is_empty(), "a refused tunnel carries nothing");
    child.start_kill().expect("kill ssh");
    let out = child.wait_with_output().await.expect("ssh output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("this O&M token is for"),
        "reason shown to the user: {stderr}"
    );
    let session = gw.gate.opened_ids()[0];
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_refusal_is_shown_to_the_user() {
    let gw = token_gateway(echo_server().await).await;
    let mut ssh = gw.ssh("alice", "tok-old");
    ssh.args(["-N"]);
    let out = ssh.output().await.expect("run ssh");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("token expired: request a new O&M token"),
        "stderr: {stderr}"
    );
    assert!(gw.gate.opened_ids().is_empty());
    // The reply to the final words is not taken for an (empty, wrong) password: only the
    // token the client typed was checked.
    let attempts = gw.gate.password_attempts.lock().unwrap().clone();
    assert!(
        !attempts.is_empty() && attempts.iter().all(|a| a == "tok-old"),
        "{attempts:?}"
    );
    wait_until(WAIT, "no live session", || gw.handle.live_sessions() == 0).await;
}

/// Clients that only speak the password method (database tools' SSH tunnels) get the words in
/// the disconnect message; the wrong-token answer stays a plain "Permission denied".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_only_clients_are_told_why_too() {
    let echo = echo_server().await;
    let gw = token_gateway(echo).await;
    let local = free_port();
    let run = |token: &'static str| {
        let mut ssh = gw.ssh("alice", token);
        ssh.args([
            "-N",
            "-o",
            "PreferredAuthentications=password",
            "-L",
            &format!("{local}:127.0.0.1:{echo}"),
        ]);
        ssh.output()
    };
    let out = run("tok-old").await.expect("run ssh");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("token expired: request a new O&M token"),
        "stderr: {stderr}"
    );
    let out = run("tok-wrong").await.expect("run ssh");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Permission denied"), "stderr: {stderr}");
    assert!(!stderr.contains("expired"), "stderr: {stderr}");
    assert!(gw.gate.opened_ids().is_empty(), "no session was opened");
    wait_until(WAIT, "no live session", || gw.handle.live_sessions() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_stops_accepting_but_keeps_live_sessions() {
    let echo = echo_server().await;
    let gw = token_gateway(echo).await;
    let local = free_port();
    let mut ssh = gw.ssh("alice", "tok-good");
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{echo}")]);
    let mut child = ssh.spawn().expect("spawn ssh");
    wait_listening(local).await;
    gw.handle.drain();
    wait_until(WAIT, "listener closed", || {
        std::net::TcpStream::connect(gw.addr).is_err()
    })
    .await;
    let mut conn = TcpStream::connect(("127.0.0.1", local))
        .await
        .expect("tunnel still works");
    conn.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"ping");
    assert_eq!(gw.handle.live_sessions(), 1);
    child.kill().await.expect("kill");
    let handle = Arc::new(gw.handle.clone());
    tokio::time::timeout(WAIT, handle.wait_idle())
        .await
        .expect("idle after the last session");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminating_a_token_session_disconnects_the_client() {
    let echo = echo_server().await;
    let gw = token_gateway(echo).await;
    let local = free_port();
    let mut ssh = gw.ssh("alice", "tok-good");
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{echo}")]);
    let mut child = ssh.spawn().expect("spawn ssh");
    wait_listening(local).await;
    let mut conn = TcpStream::connect(("127.0.0.1", local))
        .await
        .expect("tunnel");
    conn.write_all(b"x").await.expect("write");
    let mut one = [0u8; 1];
    conn.read_exact(&mut one).await.expect("echo");
    let session = gw.gate.opened_ids()[0];
    gw.gate.terminate(session);
    let status = tokio::time::timeout(std::time::Duration::from_secs(5), child.wait())
        .await
        .expect("ssh ends soon after termination")
        .expect("status");
    assert!(!status.success());
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(WAIT, conn.read_to_end(&mut rest))
        .await
        .expect("tunnel closed");
    wait_until(WAIT, "session close", || {
        gw.gate.closes_of(session).len() == 1
    })
    .await;
    assert_eq!(gw.gate.closes_of(session)[0].end, EndKind::Terminated);
    wait_until(WAIT, "no live session", || gw.handle.live_sessions() == 0).await;
}

/// Reads what a tunnel connection carries until the gateway closes it.
async fn carried(local: u16) -> Vec<u8> {
    let mut conn = TcpStream::connect(("127.0.0.1", local))
        .await
        .expect("connect tunnel");
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(WAIT, conn.read_to_end(&mut buf))
        .await
        .expect("the refused tunnel is closed");
    buf
}

/// A token for a host account opens a recorded shell, not a raw tunnel to the host's sshd:
/// that would be an unrecorded login past every control of the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_token_opens_no_tunnel_to_the_host() {
    let sshd = Sshd::start().await;
    let gate = FakeGate::new();
    gate.add_token(
        "tok-host",
        Ok(permit("web-01", "root", sshd.port, key_credential(&sshd))),
    );
    let gw = Gateway::start(gate).await;
    let local = free_port();
    let mut ssh = gw.ssh("alice", "tok-host");
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", sshd.port)]);
    let mut child = ssh.spawn().expect("spawn ssh");
    wait_listening(local).await;
    let buf = carried(local).await;
    assert!(
        buf.is_empty(),
        "the target's sshd answered through the tunnel: {:?}",
        String::from_utf8_lossy(&buf)
    );
    child.start_kill().expect("kill ssh");
    let out = child.wait_with_output().await.expect("ssh output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("web-01 is a host: tunnels through the bastion reach databases only"),
        "reason shown to the user: {stderr}"
    );
    assert!(
        !gw.audit
            .events()
            .iter()
            .any(|e| matches!(e, AuditEvent::Tunnel { .. })),
        "no tunnel ran"
    );
}

/// With his own credentials an engineer reaches an authorized database through a tunnel, but
/// not an authorized host's sshd: the gate's permit says what the target is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_tunnels_to_a_database_but_not_to_a_host() {
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    let gate = FakeGate::new();
    gate.add_user("alice", "alice-pw");
    let host = Target {
        asset_id: 1,
        asset_name: "web-01".into(),
        address: "127.0.0.1".into(),
        port: sshd.port,
        protocol: TargetProtocol::Ssh,
        accounts: vec![(7, "root".into())],
    };
    gate.add_target(
        host,
        vec![permit("web-01", "root", sshd.port, key_credential(&sshd))],
    );
    let mut db = database_permit("db-01", "app", echo);
    db.asset_id = 2;
    let database = Target {
        asset_id: 2,
        asset_name: "db-01".into(),
        address: "127.0.0.1".into(),
        port: echo,
        protocol: TargetProtocol::Other,
        accounts: vec![(8, "app".into())],
    };
    gate.add_target(database, vec![db]);
    let gw = Gateway::start(gate).await;
    let (to_host, to_db) = (free_port(), free_port());
    let mut ssh = gw.ssh("alice", "alice-pw");
    ssh.args(["-N", "-L", &format!("{to_host}:127.0.0.1:{}", sshd.port)])
        .args(["-L", &format!("{to_db}:127.0.0.1:{echo}")]);
    let mut child = ssh.spawn().expect("spawn ssh");
    wait_listening(to_db).await;
    let mut conn = TcpStream::connect(("127.0.0.1", to_db))
        .await
        .expect("connect tunnel");
    conn.write_all(b"ping").await.expect("write");
    let mut back = [0u8; 4];
    conn.read_exact(&mut back).await.expect("echo");
    assert_eq!(&back, b"ping", "the database tunnel works");
    let buf = carried(to_host).await;
    assert!(
        buf.is_empty(),
        "the host's sshd answered through the tunnel: {:?}",
        String::from_utf8_lossy(&buf)
    );
    child.start_kill().expect("kill ssh");
    let out = child.wait_with_output().await.expect("ssh output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("web-01 is a host: tunnels through the bastion reach databases only"),
        "reason shown to the user: {stderr}"
    );
    // Every session the gate opened (the host's, refused, included) is given back.
    wait_until(WAIT, "sessions closed", || {
        let opened = gw.gate.opened_ids();
        !opened.is_empty() && opened.iter().all(|id| gw.gate.closes_of(*id).len() == 1)
    })
    .await;
}
