//! Driven by a russh client, which can change the terminal size mid-session and open several
//! channels on one connection: window changes reach the target's terminal and the recording;
//! a token session's single recording is not overwritten by a second channel.

use std::sync::Arc;

use crate::env::{key_credential, permit, Gateway, Sshd, WAIT};
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

/// Runs `command` on a new session channel; returns (output, exit status).
async fn exec(session: &client::Handle<TrustAll>, command: &str) -> (String, Option<u32>) {
    let mut channel = session.channel_open_session().await.expect("session");
    channel.exec(true, command).await.expect("exec");
    let (mut out, mut status) = (String::new(), None);
    while let Some(msg) = tokio::time::timeout(WAIT, channel.wait())
        .await
        .expect("in time")
    {
        match msg {
            ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. } => {
                out.push_str(&String::from_utf8_lossy(&data))
            }
            ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
            _ => {}
        }
    }
    (out, status)
}

/// Every channel of a token login shares the token's session, which has one recording: a
/// second shell or command is refused rather than written over the first one's recording.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_session_records_one_command_and_refuses_a_second() {
    let sshd = Sshd::start().await;
    let gate = FakeGate::new();
    gate.add_token(
        "tok-host",
        Ok(permit("web-01", "root", sshd.port, key_credential(&sshd))),
    );
    let gw = Gateway::start(gate).await;
    let config = Arc::new(client::Config::default());
    let mut session = client::connect(config, gw.addr, TrustAll)
        .await
        .expect("connect");
    let auth = session
        .authenticate_password("alice", "tok-host")
        .await
        .expect("auth");
    assert!(auth.success());
    let (out, status) = exec(&session, "echo first-$((1+1))").await;
    assert!(out.contains("first-2"), "{out}");
    assert_eq!(status, Some(0));
    let (out, status) = exec(&session, "echo second-$((1+2))").await;
    assert!(!out.contains("second-3"), "{out}");
    assert!(out.contains("already ran its shell or command"), "{out}");
    assert_eq!(status, Some(1));
    wait_until(WAIT, "the recording", || !gw.audit.recordings().is_empty()).await;
    let recordings = gw.audit.recordings();
    assert_eq!(recordings.len(), 1, "one recording for the session");
    let cast = String::from_utf8_lossy(&recordings[0].1).into_owned();
    assert!(cast.contains("first-2"), "{cast}");
    let session_id = gw.gate.opened_ids()[0];
    assert_eq!(gw.audit.parts_of(session_id).len(), 1, "written once");
}
