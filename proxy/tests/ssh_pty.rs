//! Window changes reach the target's terminal, and the recording sees them; driven by a russh
//! client so the terminal size can be changed mid-session.

#[path = "support/env.rs"]
mod env;

use std::sync::Arc;

use env::{key_credential, permit, Gateway, Sshd, WAIT};
use portunus_proxy::gate::{Target, TargetProtocol};
use portunus_proxy::testing::{wait_until, FakeGate};
use russh::client;
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelMsg;

struct TrustAll;

impl client::Handler for TrustAll {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// Reads channel output until it contains `needle`.
async fn expect(channel: &mut russh::Channel<client::Msg>, seen: &mut String, needle: &str) {
    while !seen.contains(needle) {
        match channel.wait().await {
            Some(ChannelMsg::Data { data }) => seen.push_str(&String::from_utf8_lossy(&data)),
            Some(_) => {}
            None => panic!("channel closed before {needle:?}; output: {seen}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn window_change_reaches_the_target_and_the_recording() {
    let sshd = Sshd::start().await;
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
    gate.add_target(
        target,
        vec![permit("web-01", "root", sshd.port, key_credential(&sshd))],
    );
    let gw = Gateway::start(gate).await;

    let config = Arc::new(client::Config::default());
    let mut session = client::connect(config, gw.addr, TrustAll)
        .await
        .expect("connect");
    let auth = session
        .authenticate_password("alice@root@web-01", "alice-pw")
        .await
        .expect("auth");
    assert!(auth.success());
    let mut channel = session.channel_open_session().await.expect("session");
    channel
        .request_pty(true, "xterm", 100, 30, 0, 0, &[])
        .await
        .expect("pty");
    channel.request_shell(true).await.expect("shell");
    let mut seen = String::new();
    channel.data_bytes(&b"stty size\n"[..]).await.expect("type");
    expect(&mut channel, &mut seen, "30 100").await;
    channel.window_change(120, 40, 0, 0).await.expect("resize");
    channel
        .data_bytes(&b"stty size; exit 2\n"[..])
        .await
        .expect("type");
    expect(&mut channel, &mut seen, "40 120").await;
    let mut status = None;
    while let Some(msg) = tokio::time::timeout(WAIT, channel.wait())
        .await
        .expect("in time")
    {
        if let ChannelMsg::ExitStatus { exit_status } = msg {
            status = Some(exit_status);
        }
    }
    assert_eq!(status, Some(2));
    wait_until(WAIT, "recording", || !gw.audit.recordings().is_empty()).await;
    let cast = String::from_utf8(gw.audit.recordings().remove(0).1).expect("utf-8");
    let header = cast.lines().next().expect("header");
    assert!(
        header.contains("\"width\":100") && header.contains("\"height\":30"),
        "{header}"
    );
    assert!(cast.contains("\"r\",\"120x40\""), "{cast}");
}
