//! The web terminal on a real three-node cluster, driven by a real headless Chromium
//! (`node/tests/web/portal.py`): a command on a real sshd through node 2, a resize, the
//! recording and the command audit under the user; the session ends on an administrator's
//! termination, on a logout through another node, and when its node goes away, with words in
//! the page.

use crate::fixture::*;
use portunus_model::{AssetRef, Command, EndReason, Protocol};
use portunus_node::testing::{free_udp, node_config, three_nodes, wait_for};
use portunus_proxy::testing::openssh::{wait_listening, Sshd};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_web_terminal_runs_is_recorded_and_ends_on_termination() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    let setup = setup(&nodes[0], &sshd, echo).await;
    let server = &nodes[1];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    wait_listening(server.ssh_addr.unwrap().port()).await;
    let args = json!({
        "a": base(server), "alice_password": ALICE_PASSWORD, "host": "web-01", "account": "root",
    });
    let mut browser = Browser::start("terminal", &args);
    let ran = browser.expect("ran").await;
    let session_id = ran["session"].as_u64().unwrap();
    let view = nodes[0].replica.view().clone();
    let open = view.read(|s| {
        s.session(session_id)
            .map(|x| (x.user_id, x.node_id, x.asset, x.protocol, x.ended_at_ms))
    });
    assert_eq!(
        open,
        Some((
            setup.alice,
            2,
            AssetRef::Host(setup.web01),
            Protocol::Ssh,
            None
        )),
        "alice's session, held by node 2, open"
    );
    assert_eq!(view.read(|s| s.slots_in_use()), 1, "one concurrency slot");

    nodes[0]
        .replica
        .propose(Command::RequestTermination { session_id })
        .await
        .unwrap();
    browser.tell("terminated").await;
    let ended = browser.expect("ended").await;
    assert!(
        ended["status"]
            .as_str()
            .unwrap()
            .contains("session terminated by an administrator"),
        "{ended}"
    );
    browser.finished().await;
    wait_for("the slot to come back", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;
    let reason = view.read(|s| s.session(session_id).and_then(|x| x.end_reason));
    assert_eq!(reason, Some(EndReason::Terminated));

    // The command is in the session's audit events, the output and the resize in its
    // recording, readable from another node.
    let reader = nodes[2].replica.clone();
    let end_name = portunus_node::audit::recording_end_name(session_id);
    for _ in 0..1000 {
        if reader.get_blob(&end_name).await.is_some()
            && complete_events(&reader, session_id).await.is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = complete_events(&reader, session_id)
        .await
        .expect("the session's events, all stored");
    let commands: Vec<String> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "command")
        .map(|e| e["line"].as_str().unwrap().to_string())
        .collect();
    assert!(
        commands.iter().any(|c| c == "echo web''-terminal-ok"),
        "{events}"
    );
    assert!(commands.iter().any(|c| c == "stty size"), "{events}");
    let get = |name: String| {
        let reader = reader.clone();
        async move { reader.get_blob(&name).await }
    };
    let mut cast = Vec::new();
    let read = portunus_node::audit::read_recording(session_id, get, &mut cast)
        .await
        .unwrap();
    assert!(read.complete(), "{read:?}");
    let cast = String::from_utf8(cast).unwrap();
    assert!(cast.contains("web-terminal-ok"), "{cast}");
    let resize = format!("\"r\",\"{}x{}\"", ran["cols"], ran["rows"]);
    assert!(cast.contains(&resize), "{resize} in {cast}");

    // An administrator replays it in the console's audit page, served by node 3.
    user_with_key(
        &nodes[0],
        "ada",
        "ada-Replay-Passw0rd",
        portunus_model::Role::Admin,
    )
    .await;
    nodes[2].replica.read_linearizable(|_| ()).await.unwrap();
    let args = json!({
        "a": base(&nodes[2]), "admin": "ada", "admin_password": "ada-Replay-Passw0rd",
        "engineer": "alice", "session": session_id, "marker": "web-terminal-ok",
    });
    let mut console = Browser::start_script(CONSOLE_SCRIPT, "replay", &args);
    let replayed = console.expect("replayed").await;
    console.finished().await;
    assert!(
        replayed["title"]
            .as_str()
            .unwrap()
            .starts_with(&format!("Session {session_id}: alice on web-01 as root")),
        "{replayed}"
    );
    assert_eq!(replayed["status"], "Recording complete.", "{replayed}");
    let listed = replayed["commands"].as_array().unwrap();
    assert!(
        listed
            .iter()
            .any(|c| c.as_str().unwrap().ends_with("echo web''-terminal-ok")),
        "{replayed}"
    );
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_web_terminal_says_when_its_node_goes_away() {
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    setup(&nodes[0], &sshd, echo).await;
    let server = nodes.remove(2);
    server.replica.read_linearizable(|_| ()).await.unwrap();
    wait_listening(server.ssh_addr.unwrap().port()).await;
    let args = json!({
        "a": base(&server), "alice_password": ALICE_PASSWORD, "host": "web-01", "account": "root",
    });
    let mut browser = Browser::start("terminal", &args);
    let ran = browser.expect("ran").await;
    let session_id = ran["session"].as_u64().unwrap();
    server.stop().await;
    browser.tell("stopped").await;
    let ended = browser.expect("ended").await;
    // Either the node's words arrived before it closed the socket ("ended: ... shutting
    // down ... (another node may serve you)"), or the page saw the socket close first
    // ("disconnected: the bastion node went away", and its own words on the screen): which
    // one depends on how far the node got in stopping.
    let status = ended["status"].as_str().unwrap();
    assert!(
        (status.contains("this bastion node is shutting down")
            && status.contains("another node may serve you"))
            || status == "disconnected: the bastion node went away",
        "{ended}"
    );
    let screen = ended["screen"].as_str().unwrap().replace('\n', "");
    assert!(
        screen.contains("another node may serve you"),
        "shown in the terminal: {ended}"
    );
    browser.finished().await;
    let view = nodes[0].replica.view().clone();
    wait_for("the session to be closed", WAIT, || {
        view.read(|s| {
            s.session(session_id)
                .is_some_and(|x| x.ended_at_ms.is_some())
        })
    })
    .await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_logout_through_another_node_ends_the_web_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    setup(&nodes[0], &sshd, echo).await;
    let server = &nodes[1];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    wait_listening(server.ssh_addr.unwrap().port()).await;
    let args = json!({
        "a": base(server), "alice_password": ALICE_PASSWORD, "host": "web-01", "account": "root",
    });
    let mut browser = Browser::start("terminal", &args);
    let ran = browser.expect("ran").await;
    let session_id = ran["session"].as_u64().unwrap();
    let cookie = ran["cookie"].as_str().unwrap();
    let other = nodes[2].api_addr.unwrap();
    let (status, me) = http(other, "GET", "/web/api/me", cookie, "").await;
    assert_eq!(status, 200, "{me}");
    let csrf = me["csrf"].as_str().unwrap();
    let (status, out) = http_with(other, "POST", "/web/api/logout", cookie, csrf, "").await;
    assert_eq!(status, 200, "{out}");
    browser.tell("logged out").await;
    let ended = browser.expect("ended").await;
    assert_eq!(
        ended["status"], "ended: session ended: your portal session ended (you logged out)",
        "{ended}"
    );
    browser.finished().await;
    let view = nodes[0].replica.view().clone();
    wait_for("the session to be closed", WAIT, || {
        view.read(|s| {
            s.session(session_id)
                .is_some_and(|x| x.ended_at_ms.is_some())
        })
    })
    .await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_portal_and_its_terminal_work_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, String> = [(1, free_udp().to_string())].into();
    let mut config = node_config(1, dir.path(), &peers);
    config.api_plaintext = false;
    let mut node = portunus_node::start(config).await.unwrap();
    node.registered().await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    let setup = setup(&node, &sshd, echo).await;
    wait_listening(node.ssh_addr.unwrap().port()).await;
    let args = json!({
        "a": format!("https://{}", node.api_addr.unwrap()), "alice_password": ALICE_PASSWORD,
        "host": "web-01", "account": "root",
    });
    let mut browser = Browser::start("terminal", &args);
    let ran = browser.expect("ran").await;
    assert_eq!(ran["secure"], true, "the cookie is Secure over TLS: {ran}");
    let session_id = ran["session"].as_u64().unwrap();
    let user = node
        .replica
        .view()
        .read(|s| s.session(session_id).map(|x| x.user_id));
    assert_eq!(user, Some(setup.alice));
    node.replica
        .propose(Command::RequestTermination { session_id })
        .await
        .unwrap();
    browser.tell("terminated").await;
    let ended = browser.expect("ended").await;
    assert!(
        ended["status"]
            .as_str()
            .unwrap()
            .contains("session terminated by an administrator"),
        "{ended}"
    );
    browser.finished().await;
    node.stop().await;
}

/// The session's control policy applies in the web terminal as in an SSH shell: a denied
/// command line is refused at Enter, with the reason shown, and the shell goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_control_policy_refuses_a_command_in_the_web_terminal() {
    use portunus_model::{
        AssetScope, CommandControl, ListMode, PolicyBasics, PolicyPart, UserScope,
    };
    let dir = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, String> = [(1, free_udp().to_string())].into();
    let mut node = portunus_node::start(node_config(1, dir.path(), &peers))
        .await
        .unwrap();
    node.registered().await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    setup(&node, &sshd, echo).await;
    let r = &node.replica;
    let basics = PolicyBasics {
        name: "no-touch".into(),
        comment: String::new(),
        priority: 1,
    };
    let policy = portunus_node::testing::created(r.propose(Command::CreatePolicy(basics)).await);
    let commands = CommandControl {
        mode: ListMode::Deny,
        commands: vec!["touch".into()],
        approval: Vec::new(),
    };
    for part in [
        PolicyPart::Users(UserScope::All),
        PolicyPart::Assets(AssetScope::All),
        PolicyPart::Commands(commands),
    ] {
        let update = Command::UpdatePolicy {
            policy_id: policy,
            part,
        };
        r.propose(update).await.unwrap();
    }
    wait_listening(node.ssh_addr.unwrap().port()).await;
    let marker = dir.path().join("web-terminal-marker");
    let args = json!({
        "a": base(&node), "alice_password": ALICE_PASSWORD, "host": "web-01", "account": "root",
        "denied": format!("touch {}", marker.display()),
    });
    let mut browser = Browser::start("refused", &args);
    let seen = browser.expect("refused").await;
    browser.finished().await;
    let screen = seen["screen"].as_str().unwrap().replace('\n', "");
    assert!(screen.contains("portunus:"), "{seen}");
    assert!(
        screen.contains("after-refusal"),
        "the shell goes on: {seen}"
    );
    assert!(!marker.exists(), "the denied command did not run");
    node.stop().await;
}
