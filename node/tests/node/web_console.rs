//! The administrator console on a real three-node cluster, driven by a real headless Chromium
//! (`node/tests/web/console.py`): an administrator (a user with an Admin AccessKey) creates a
//! host with a key account (Verify says OK) and a password account (Verify says why it fails),
//! a user and the user's authorization, all in the browser; the engineer then logs in with the
//! OpenSSH client through another node and runs a command; the session is found in the audit
//! page by user, replayed with asciinema-player (the command's output on its screen) with its
//! command list, and exported as CSV and JSON lines; every change is in the admin audit trail
//! under the administrator with the key `web-console`, secrets redacted; an operator gets the
//! 403 page; an auditor replays the session and is offered no change.

use crate::fixture::*;
use portunus_model::{Command, Role};
use portunus_node::testing::{created, three_nodes, wait_for};
use portunus_proxy::testing::openssh::{wait_listening, Askpass, Sshd};
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_PASSWORD: &str = "ada-Console-Passw0rd";
const OPERATOR_PASSWORD: &str = "otto-Console-Passw0rd";
const AUDITOR_PASSWORD: &str = "audrey-Console-Passw0rd";
const CAROL_PASSWORD: &str = "carol-Console-Passw0rd";
const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKTiwsLBIgve/GaRN9PvVLtZzoZfDSOqS0Hg04s93OhZ carol-laptop";
/// `ssh-keygen -lf` of [`PUBLIC_KEY`].
const PUBLIC_KEY_FINGERPRINT: &str = "SHA256:o5620edX3nZo66kgCCqPdJ0eqI1/RQGwRzVHWAyzev8";

/// A user holding an AccessKey of `role`.
async fn user_with_key(node: &portunus_node::RunningNode, name: &str, password: &str, role: Role) {
    let r = &node.replica;
    let user_id = created(r.propose(user(name, password, false)).await);
    let secret = node
        .seal(portunus_ops::api::ACCESS_KEY_PURPOSE, b"unused-secret")
        .unwrap();
    let key = Command::CreateAccessKey {
        access_key_id: format!("key-of-{name}"),
        secret,
        role,
        user_id: Some(user_id),
        comment: String::new(),
    };
    r.propose(key).await.unwrap();
}

/// The engineer's shell through the bastion with the OpenSSH client: runs `echo`, exits;
/// returns what the shell printed.
async fn engineer_shell(port: u16, login: &str, marker_typed: &str, marker: &str) -> String {
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(port, login, CAROL_PASSWORD);
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    stdin
        .write_all(format!("echo {marker_typed}\n").as_bytes())
        .await
        .unwrap();
    let mut seen = Vec::new();
    let read = tokio::time::timeout(WAIT, async {
        let mut buf = vec![0; 4096];
        while !String::from_utf8_lossy(&seen).contains(marker) {
            let n = stdout.read(&mut buf).await.unwrap();
            if n == 0 {
                return false;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        true
    })
    .await;
    if read != Ok(true) {
        let _ = child.start_kill();
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err).await;
        panic!(
            "no {marker} from the shell: {:?}; ssh said: {err}",
            String::from_utf8_lossy(&seen)
        );
    }
    stdin.write_all(b"exit\n").await.unwrap();
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    String::from_utf8_lossy(&seen).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_sets_up_access_in_the_console_and_audits_the_engineers_session() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    user_with_key(&nodes[0], "ada", ADMIN_PASSWORD, Role::Admin).await;
    user_with_key(&nodes[0], "otto", OPERATOR_PASSWORD, Role::Operator).await;
    user_with_key(&nodes[0], "audrey", AUDITOR_PASSWORD, Role::Auditor).await;
    for n in &nodes {
        n.replica.read_linearizable(|_| ()).await.unwrap();
        wait_listening(n.ssh_addr.unwrap().port()).await;
    }
    let marker = "console-made-ok";
    let args = json!({
        "a": base(&nodes[1]), "admin": "ada", "admin_password": ADMIN_PASSWORD,
        "operator": "otto", "operator_password": OPERATOR_PASSWORD,
        "auditor": "audrey", "auditor_password": AUDITOR_PASSWORD,
        "engineer": "carol", "engineer_password": CAROL_PASSWORD,
        "host": "web-02", "host_port": sshd.port, "public_key": PUBLIC_KEY, "key": sshd.client_key, "marker": marker,
    });
    let mut browser = Browser::start_script(CONSOLE_SCRIPT, "console", &args);

    // Overview: the address the browser used and the SSH port; three engines, one leader.
    let overview = browser.expect("overview").await;
    assert_eq!(overview["address"], "127.0.0.1", "{overview}");
    let ssh_port = nodes[1].ssh_addr.unwrap().port();
    assert_eq!(overview["ssh_port"], ssh_port.to_string(), "{overview}");
    let members = overview["members"].as_array().unwrap();
    assert_eq!(members.len(), 3, "{overview}");
    let leaders = members
        .iter()
        .filter(|m| m.as_str().unwrap().contains(" yes yes "))
        .count();
    assert_eq!(leaders, 1, "one voter marked leader: {overview}");

    // Assets: the key account verifies; the password account's failure says why.
    let assets = browser.expect("assets").await;
    assert!(
        assets["hosts"][0]
            .as_str()
            .unwrap()
            .starts_with("web-02 127.0.0.1 Linux 2"),
        "{assets}"
    );
    assert_eq!(
        assets["accounts"],
        json!([
            "root SSH private key VerifyDelete",
            "nobody SSH password VerifyDelete"
        ]),
        "{assets}"
    );
    let unpinned = assets["unpinned"].as_str().unwrap();
    assert!(unpinned.starts_with("root: HostKeyNotPinned"), "{assets}");
    assert!(unpinned.contains("no credential was sent"), "{assets}");
    let seen = unpinned
        .split("which presented ")
        .nth(1)
        .and_then(|t| t.split(';').next())
        .unwrap();
    assert!(seen.starts_with("SHA256:"), "{assets}");
    assert_eq!(
        assets["fingerprint"],
        format!("SSH port {}; host key pinned: {seen}", sshd.port),
        "the pinned key is the one the host presented: {assets}"
    );
    let good = assets["verify_root"].as_str().unwrap();
    assert!(good.starts_with("root: OK"), "{assets}");
    let bad = assets["verify_nobody"].as_str().unwrap();
    assert!(bad.starts_with("nobody: AuthRefused"), "{assets}");
    assert!(
        !bad.contains("not-the-Passw0rd"),
        "no secret in the page: {assets}"
    );
    let users = browser.expect("users").await;
    let locked = users["locked"].as_array().unwrap();
    assert!(
        locked.iter().any(|u| u
            .as_str()
            .unwrap()
            .starts_with("carol Carol Engineer carol@example.com Locked")),
        "{users}"
    );
    assert_eq!(
        users["keys"],
        json!([format!("laptop {PUBLIC_KEY_FINGERPRINT} Delete")]),
        "{users}"
    );
    assert!(
        users["users"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u.as_str().unwrap().starts_with("carol Carol Engineer")),
        "{users}"
    );
    let authorized = browser.expect("authorized").await;
    assert_eq!(
        authorized["before"],
        json!(["No hosts authorized."]),
        "{authorized}"
    );
    assert!(
        authorized["after"][0]
            .as_str()
            .unwrap()
            .starts_with("web-02 127.0.0.1 root"),
        "{authorized}"
    );
    let rules = authorized["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{authorized}");
    let rule = rules[0].as_str().unwrap();
    assert!(
        rule.contains(" 2020-01-01 00:00:00 2021-01-01 00:00:00 Enabled"),
        "{authorized}"
    );
    assert_eq!(
        authorized["after"].as_array().unwrap().len(),
        1,
        "{authorized}"
    );
    assert!(
        !authorized["after"][0].as_str().unwrap().contains("nobody"),
        "a rule out of its period grants nothing: {authorized}"
    );
    browser.expect("set_up").await;

    // The engineer logs in with the OpenSSH client, through another node.
    let shown = engineer_shell(
        nodes[2].ssh_addr.unwrap().port(),
        "carol@root@web-02",
        "console''-made-ok",
        marker,
    )
    .await;
    assert!(shown.contains(marker), "{shown}");
    let view = nodes[0].replica.view().clone();
    let session_id = view
        .read(|s| s.sessions().map(|x| x.id).max())
        .expect("the engineer's session");
    let end = portunus_node::audit::recording_end_name(session_id);
    let events = portunus_node::audit::events_name(session_id);
    let reader = nodes[1].replica.clone();
    for _ in 0..1500 {
        let closed = view.read(|s| s.session(session_id).is_some_and(|x| !x.is_open()));
        if closed
            && reader.get_blob(&end).await.is_some()
            && reader.get_blob(&events).await.is_some()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // The audit page finds it, replays it, lists its command, exports it.
    browser.tell("audit").await;
    let audit = browser.expect("audit").await;
    let rows = audit["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit}");
    let row = rows[0].as_str().unwrap();
    assert!(
        row.starts_with(&format!("{session_id} carol web-02 root SSH 3 ")),
        "{audit}"
    );
    assert_eq!(audit["status"], "Recording complete.", "{audit}");
    let commands: Vec<&str> = audit["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        commands
            .iter()
            .any(|c| c.ends_with("echo console''-made-ok")),
        "{audit}"
    );
    assert!(
        audit["screen"].as_str().unwrap().contains(marker),
        "{audit}"
    );
    let csv = audit["csv"].as_str().unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(
        lines[1].starts_with(&format!("{session_id},carol,Host,web-02,root,SSH,3,")),
        "{csv}"
    );
    let jsonl: Vec<Value> = audit["jsonl"]
        .as_str()
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(jsonl.len(), 1, "{audit}");
    assert_eq!(jsonl[0]["SessionId"], session_id.to_string());
    assert_eq!(jsonl[0]["State"], "Closed");

    // The unfiltered list answering after a search that matched nothing leaves the search's
    // answer on the page.
    let late = browser.expect("late_answer").await;
    let shown = late["shown"].as_str().unwrap();
    assert!(shown.contains("No session matches."), "{late}");
    assert!(!shown.contains("carol"), "{late}");

    // The operator's 403 page.
    let forbidden = browser.expect("forbidden").await;
    assert!(
        forbidden["title"].as_str().unwrap().starts_with("403"),
        "{forbidden}"
    );
    assert!(
        forbidden["words"]
            .as_str()
            .unwrap()
            .contains("neither role"),
        "{forbidden}"
    );
    let auditor = browser.expect("auditor").await;
    assert_eq!(auditor["who"], "audrey (Auditor)", "{auditor}");
    assert_eq!(auditor["create_shown"], false, "{auditor}");
    assert_eq!(
        auditor["buttons"],
        json!(["Accounts"]),
        "only what reads: {auditor}"
    );
    assert_eq!(auditor["status"], "Recording complete.", "{auditor}");
    browser.finished().await;

    // Every change is in the admin audit trail, as the administrator through the console,
    // with the password and the private key redacted.
    let trail: Vec<portunus_model::AdminAuditRecord> = view.read(|s| {
        s.admin_audit()
            .entries()
            .map(|e| e.record.clone())
            .collect()
    });
    let ada = view.read(|s| s.users().find(|u| u.name == "ada").map(|u| u.id));
    let console: Vec<&str> = trail
        .iter()
        .filter(|e| e.access_key_id == "web-console" && e.user_id == ada && e.role == Role::Admin)
        .map(|e| e.action.as_str())
        .collect();
    for action in [
        "CreateHost",
        "ModifyHostsPort",
        "CreateHostAccount",
        "VerifyHostAccount",
        "ModifyHostFingerPrint",
        "CreateUser",
        "LockUsers",
        "UnlockUsers",
        "CreateUserPublicKey",
        "AttachHostAccountsToUser",
        "CreateRule",
    ] {
        assert!(console.contains(&action), "{action} in {console:?}");
    }
    // The rule holds the one account ticked, for carol, within the period chosen (the browser's
    // local time: the period's length is what the page cannot shift).
    let rule = view.read(|s| s.rules().map(|r| r.spec.clone()).collect::<Vec<_>>());
    assert_eq!(rule.len(), 1);
    let names: Vec<String> = view.read(|s| {
        rule[0]
            .host_accounts
            .values()
            .flatten()
            .filter_map(|a| s.host_account(*a))
            .map(|a| a.name.clone())
            .collect()
    });
    assert_eq!(names, ["nobody"]);
    let carol = view
        .read(|s| s.users().find(|u| u.name == "carol").map(|u| u.id))
        .unwrap();
    assert_eq!(rule[0].users.iter().copied().collect::<Vec<_>>(), [carol]);
    let (start, end) = (
        rule[0].validity.start_ms.unwrap(),
        rule[0].validity.end_ms.unwrap(),
    );
    assert_eq!(end - start, 366 * 86_400_000, "2020 is a leap year");
    let text = format!("{trail:?}");
    assert!(
        !text.contains("not-the-Passw0rd") && !text.contains(CAROL_PASSWORD),
        "{text}"
    );
    assert!(
        !text.contains("PRIVATE KEY"),
        "the hosted key is not in the trail"
    );
    wait_for("no session left open", WAIT, || {
        view.read(|s| s.open_sessions().count()) == 0
    })
    .await;
    for n in nodes {
        n.stop().await;
    }
}
