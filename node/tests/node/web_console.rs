//! The administrator console on a real three-node cluster, driven by a real headless Chromium
//! (`node/tests/web/console.py`): an administrator (a user with an Admin AccessKey) creates a
//! host with a key account (Verify says OK) and a password account (Verify says why it fails),
//! a user and the user's authorization, all in the browser; the engineer then logs in with the
//! OpenSSH client through another node and runs a command; the session is found in the audit
//! page by user, replayed with asciinema-player (the command's output on its screen) with its
//! command list, and exported as CSV and JSON lines; every change is in the admin audit trail
//! under the administrator with the key `web-console`, secrets redacted; an operator gets the
//! 403 page; an auditor replays the session and is offered no change. A shell held by another
//! node is watched live from the audit page (its output as it comes, never a key typed at a
//! hidden prompt) and terminated there; a setting is changed on the settings page; a shared key
//! is added and given to a new SFTP-only account; a network domain is made and a host moved in.

use crate::fixture::*;
use portunus_model::{Command, EndReason, Role};
use portunus_node::testing::{three_nodes, wait_for};
use portunus_proxy::testing::openssh::{wait_listening, Askpass, Sshd};
use serde_json::{json, Value};
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

const ADMIN_PASSWORD: &str = "ada-Console-Passw0rd";
const OPERATOR_PASSWORD: &str = "otto-Console-Passw0rd";
const AUDITOR_PASSWORD: &str = "audrey-Console-Passw0rd";
const CAROL_PASSWORD: &str = "carol-Console-Passw0rd";
const LDAP_PASSWORD: &str = "reader-Directory-Secret-42";

const PUBLIC_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKTiwsLBIgve/GaRN9PvVLtZzoZfDSOqS0Hg04s93OhZ carol-laptop";
/// `ssh-keygen -lf` of [`PUBLIC_KEY`].
const PUBLIC_KEY_FINGERPRINT: &str = "SHA256:o5620edX3nZo66kgCCqPdJ0eqI1/RQGwRzVHWAyzev8";

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
    if !read_until(&mut stdout, &mut seen, marker).await {
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
    // A database with its hosted account, a host group holding the host.
    let databases = browser.expect("databases").await;
    assert_eq!(
        databases["accounts"],
        json!(["app yes Delete"]),
        "{databases}"
    );
    assert_eq!(
        databases["databases"],
        json!(["orders MySQL 127.0.0.1:3306 AccountsDelete"]),
        "{databases}"
    );
    assert_eq!(databases["group"], "web-02 added to prod.", "{databases}");
    let authorized = browser.expect("authorized").await;
    assert_eq!(
        authorized["databases"],
        json!(["orders MySQL app"]),
        "{authorized}"
    );
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
    nodes[0].replica.read_linearizable(|_| ()).await.unwrap();
    // What the console made is in the replicated state: carol may reach orders as app (its
    // password hosted), web-02 is in prod.
    let (carol_dbs, app_hosted, prod_hosts) = view.read(|s| {
        let carol = s.user_by_name("carol").expect("carol").id;
        let orders = s.database_by_name("orders").expect("orders").id;
        let app = s
            .database_accounts_of(orders)
            .find(|a| a.name == "app")
            .expect("app");
        let dbs: Vec<(u64, Vec<u64>)> = s
            .authorized_databases(carol, now_ms())
            .into_iter()
            .map(|(d, accounts)| (d, accounts.into_iter().collect()))
            .collect();
        let prod = s
            .host_groups()
            .find(|g| g.name == "prod")
            .map(|g| g.hosts.len());
        (
            dbs == vec![(orders, vec![app.id])],
            app.password.is_some(),
            prod,
        )
    });
    assert!(
        carol_dbs && app_hosted,
        "carol authorized for orders/app with its password hosted"
    );
    assert_eq!(prod_hosts, Some(1));
    let rdp = view.read(|s| {
        s.host_by_name("web-02")
            .map(|h| h.port(portunus_model::Protocol::Rdp))
    });
    assert_eq!(rdp, Some(13389), "the RDP port set in the host form");
    let session_id = view
        .read(|s| s.sessions().map(|x| x.id).max())
        .expect("the engineer's session");
    let end = portunus_node::audit::recording_end_name(session_id);
    let reader = nodes[1].replica.clone();
    for _ in 0..1500 {
        let closed = view.read(|s| s.session(session_id).is_some_and(|x| !x.is_open()));
        if closed
            && reader.get_blob(&end).await.is_some()
            && complete_events(&reader, session_id).await.is_some()
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
    nodes[0].replica.read_linearizable(|_| ()).await.unwrap();

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

/// Reads `from` into `seen` until it holds `marker`; false if it ended first or took too long.
async fn read_until(from: &mut (impl AsyncRead + Unpin), seen: &mut Vec<u8>, marker: &str) -> bool {
    let read = tokio::time::timeout(WAIT, async {
        let mut buf = vec![0; 4096];
        while !String::from_utf8_lossy(seen).contains(marker) {
            let n = from.read(&mut buf).await.unwrap();
            if n == 0 {
                return false;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        true
    })
    .await;
    read == Ok(true)
}

/// [`read_until`], which must find `marker`.
async fn shows(from: &mut (impl AsyncRead + Unpin), seen: &mut Vec<u8>, marker: &str) {
    let found = read_until(from, seen, marker).await;
    assert!(
        found,
        "no {marker} from the shell: {:?}",
        String::from_utf8_lossy(seen)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_watches_a_session_held_by_another_node_live_and_terminates_it() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    setup(&nodes[0], &sshd, echo).await;
    user_with_key(&nodes[0], "ada", ADMIN_PASSWORD, Role::Admin).await;
    for n in &nodes {
        n.replica.read_linearizable(|_| ()).await.unwrap();
        wait_listening(n.ssh_addr.unwrap().port()).await;
    }
    // alice's shell, held by node 3.
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(
        nodes[2].ssh_addr.unwrap().port(),
        "alice@root@web-01",
        ALICE_PASSWORD,
    );
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    stdin.write_all(b"echo first''-live-line\n").await.unwrap();
    shows(&mut stdout, &mut seen, "first-live-line").await;
    let view = nodes[0].replica.view().clone();
    // Node 3 admitted the session; node 1 applies the entry a moment later.
    wait_for("alice's session to be seen on node 1", WAIT, || {
        view.read(|s| s.open_sessions().next().is_some())
    })
    .await;
    let session_id = view
        .read(|s| s.open_sessions().map(|x| (x.id, x.node_id)).max())
        .expect("alice's session");
    assert_eq!(session_id.1, 3, "held by node 3");
    let session_id = session_id.0;

    // The console on node 2 watches it.
    let closed_port = portunus_proxy::testing::openssh::free_port();
    let args = json!({
        "a": base(&nodes[1]), "admin": "ada", "admin_password": ADMIN_PASSWORD,
        "engineer": "alice", "first": "first-live-line", "second": "second-live-line",
        "closed_port": closed_port, "ldap_password": LDAP_PASSWORD,
        "key": sshd.client_key,
    });
    let mut browser = Browser::start_script(CONSOLE_SCRIPT, "live", &args);
    let watching = browser.expect("watching").await;
    assert!(
        watching["status"]
            .as_str()
            .unwrap()
            .contains("node 3 serves the session"),
        "{watching}"
    );
    assert!(
        watching["title"].as_str().unwrap().starts_with(&format!(
            "Live: session {session_id}: alice on web-01 as root"
        )),
        "{watching}"
    );
    let rows = watching["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{watching}");
    assert!(
        rows[0]
            .as_str()
            .unwrap()
            .ends_with("Open PlayWatchTerminate"),
        "{watching}"
    );

    // What runs now shows up while the page watches; a secret typed at a hidden prompt does not.
    // (The prompt is split in the command line, so that the echo of that line is not taken for
    // the prompt: the secret typed then would be echoed before `read -s` turns echo off.)
    stdin
        .write_all(b"read -s -p 'Pass''word: ' pw; echo; echo got-${#pw}\n")
        .await
        .unwrap();
    shows(&mut stdout, &mut seen, "Password: ").await;
    stdin.write_all(b"hunter2-live-secret\n").await.unwrap();
    shows(&mut stdout, &mut seen, "got-19").await;
    stdin.write_all(b"echo second''-live-line\n").await.unwrap();
    shows(&mut stdout, &mut seen, "second-live-line").await;
    browser.tell("typed").await;
    let live = browser.expect("live").await;
    let screen = live["screen"].as_str().unwrap();
    for shown in ["first-live-line", "got-19", "second-live-line"] {
        assert!(screen.contains(shown), "{shown} in {live}");
    }
    assert!(!screen.contains("hunter2"), "{live}");

    // Terminate from the page: alice's connection closes, the session ends Terminated.
    let ended = browser.expect("terminated").await;
    assert_eq!(
        ended["status"], "The session has ended (Terminated).",
        "{ended}"
    );
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the engineer's ssh ends")
        .unwrap();
    assert!(!status.success(), "{status}");
    wait_for("the session's end, on node 1", WAIT, || {
        view.read(|s| s.session(session_id).and_then(|x| x.end_reason))
            .is_some()
    })
    .await;
    let reason = view.read(|s| s.session(session_id).and_then(|x| x.end_reason));
    assert_eq!(reason, Some(EndReason::Terminated));

    // Settings: the refusal names the parameter; the change reaches the replicated state.
    let settings = browser.expect("settings").await;
    let shared = browser.expect("shared").await;
    let domain = browser.expect("domain").await;
    browser.finished().await;
    assert!(
        settings["refused"]
            .as_str()
            .unwrap()
            .contains("\"CommandApprovalWaitSeconds\" is invalid"),
        "{settings}"
    );
    assert!(
        settings["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "Sessions Open sessions per user (0 = unlimited) 3"),
        "{settings}"
    );
    assert!(
        settings["refused_address"]
            .as_str()
            .unwrap()
            .contains("\"IntranetEndpoint\" is invalid"),
        "{settings}"
    );
    assert_eq!(
        settings["overview_address"], "bastion.internal",
        "the private network's O&M address for a browser on loopback: {settings}"
    );
    // The directory server: Verify said why the server could not be used, the settings were
    // kept (the password sealed, never shown back), and the trail has them without it.
    let verify = settings["ldap_verify"].as_str().unwrap();
    assert!(
        verify.contains(&format!(
            "the LDAP server cannot be reached: 127.0.0.1: ldap://127.0.0.1:{closed_port}: \
             I/O error: Connection refused"
        )),
        "{settings}"
    );
    assert_eq!(
        settings["ldap_after"],
        json!({"server": "127.0.0.1", "password_field": "", "page_has_password": false,
               "stored_note": true}),
        "{settings}"
    );
    nodes[0].replica.read_linearizable(|_| ()).await.unwrap();
    let kept = view.read(|s| {
        let s = s.settings();
        (s.max_sessions_per_user, s.command_approval_wait_secs)
    });
    assert_eq!(kept, (3, 300));
    let endpoints = view.read(|s| {
        let i = s.instance();
        (i.internet_endpoint.clone(), i.intranet_endpoint.clone())
    });
    assert_eq!(
        endpoints,
        ("bastion.example.com".into(), "bastion.internal".into())
    );
    let trail: Vec<(String, String)> = view.read(|s| {
        s.admin_audit()
            .entries()
            .filter(|e| e.record.access_key_id == "web-console")
            .map(|e| (e.record.action.clone(), e.record.result.clone()))
            .collect()
    });
    let ok = |a: &str| (a.to_string(), "OK".to_string());
    assert_eq!(trail.first(), Some(&ok("TerminateSession")), "{trail:?}");
    for action in [
        "ModifyInstanceSettings",
        "ModifyInstanceAttribute",
        "CreateHostShareKey",
        "CreateHostAccount",
        "CreateNetworkDomain",
        "MoveHostsToNetworkDomain",
        "ModifyInstanceLDAPAuthServer",
    ] {
        assert!(trail.contains(&ok(action)), "{action} in {trail:?}");
    }
    let ldap = view
        .read(|s| s.ldap_settings().cloned())
        .expect("LDAP settings");
    assert_eq!(
        (
            ldap.server.as_str(),
            ldap.base_dn.as_str(),
            ldap.password.is_some()
        ),
        ("127.0.0.1", "dc=example,dc=org", true)
    );
    let trail_text = view.read(|s| {
        s.admin_audit()
            .entries()
            .map(|e| format!("{:?}", e.record))
            .collect::<String>()
    });
    assert!(
        trail_text.contains("ModifyInstanceLDAPAuthServer") && !trail_text.contains(LDAP_PASSWORD),
        "the directory password is not in the admin trail"
    );

    // The shared key, and the SFTP-only account on web-01 that uses it.
    let keys = shared["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{shared}");
    let key = keys[0].as_str().unwrap();
    assert!(
        key.starts_with("fleet SHA256:") && key.ends_with(" 1 Delete"),
        "{shared}"
    );
    assert!(
        shared["accounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "backup (SFTP only) SSH shared key fleet VerifyDelete"),
        "{shared}"
    );
    let backup = view.read(|s| {
        let key = s.shared_keys().find(|k| k.name == "fleet").map(|k| k.id);
        s.hosts()
            .flat_map(|h| s.host_accounts_of(h.id))
            .find(|a| a.name == "backup")
            .map(|a| {
                (
                    a.sftp_only,
                    key.is_some() && a.shared_key_id == key,
                    a.private_key.is_none(),
                )
            })
    });
    assert_eq!(backup, Some((true, true, true)), "{shared}");

    // The network domain, its proxy (password sealed, not in the page), web-01 in it.
    let rows = domain["domains"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{domain}");
    assert!(
        rows[0].as_str().unwrap().starts_with("dmz Proxy Master"),
        "{domain}"
    );
    let placed = view.read(|s| {
        let d = s.network_domains().find(|d| d.spec.name == "dmz")?;
        let p = d.spec.proxies.first()?;
        let web = s.hosts().find(|h| h.name == "web-01")?;
        Some((
            p.proxy_type.clone(),
            p.port,
            p.password.is_some(),
            web.network_domain_id == Some(d.id),
        ))
    });
    assert_eq!(placed, Some(("Socks5Proxy".to_string(), 1080, true, true)));
    assert!(!domain.to_string().contains("relay-Passw0rd"));
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_console_speaks_the_administrators_language() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    setup(&nodes[0], &sshd, echo).await;
    user_with_key(&nodes[0], "ada", ADMIN_PASSWORD, Role::Admin).await;
    let r = &nodes[0].replica;
    // Through the leader: node 0 may not have applied the user yet when it is a follower.
    let ada = r
        .read_linearizable(|s| s.user_by_name("ada").map(|u| u.id))
        .await
        .expect("a linearizable read")
        .expect("ada");
    let patch = portunus_model::UserPatch {
        language: Some(Some(portunus_model::UiLanguage::ZhCn)),
        ..Default::default()
    };
    r.propose(Command::UpdateUser {
        user_id: ada,
        patch,
    })
    .await
    .unwrap();
    // A closed shell session of alice's to replay.
    let port = nodes[0].ssh_addr.unwrap().port();
    wait_listening(port).await;
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(port, "alice@root@web-01", ALICE_PASSWORD);
    ssh.arg("-tt").stdin(Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    stdin.write_all(b"echo zh''-replayed\n").await.unwrap();
    shows(&mut stdout, &mut seen, "zh-replayed").await;
    stdin.write_all(b"exit\n").await.unwrap();
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "{status}");
    let view = nodes[1].replica.view().clone();
    wait_for("the session's end, on node 2", WAIT, || {
        view.read(|s| s.sessions().all(|x| !x.is_open()))
    })
    .await;

    let args = json!({
        "a": base(&nodes[1]), "admin": "ada", "admin_password": ADMIN_PASSWORD,
        "engineer": "alice",
    });
    let mut browser = Browser::start_script(CONSOLE_SCRIPT, "chinese", &args);
    let seen = browser.expect("chinese").await;
    browser.finished().await;
    assert_eq!(
        (&seen["title"], &seen["lang"]),
        (&json!("Portunus 管理控制台"), &json!("zh-CN")),
        "{seen}"
    );
    assert_eq!(
        seen["nav"],
        json!(["概览", "资产", "用户", "授权", "运维审计", "设置"]),
        "{seen}"
    );
    // Every word the scripts wrote has a translation, and none of the page's own words
    // (headings, labels, buttons, choices) is left in English on any view.
    assert_eq!(seen["untranslated"], json!([]), "{seen}");
    for view in ["overview", "assets", "users", "authz", "audit", "settings"] {
        assert_eq!(seen["left"][view], json!([]), "{view}: {seen}");
    }
    assert_eq!(seen["replay_status"], "录像完整。", "{seen}");
    assert_eq!(seen["audit_heads"][0], "ID", "{seen}");
    assert_eq!(seen["audit_heads"][1], "用户", "{seen}");
}
