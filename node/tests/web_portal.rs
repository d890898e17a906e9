//! The web portal on a real three-node cluster, driven by a real headless Chromium
//! (`node/tests/web/portal.py`: selenium and chromedriver): wrong passwords and wrong or absent
//! codes are refused without telling whether the user exists; a two-factor login completes with
//! the code; the portal lists exactly the authorized assets; the token dialog's values open a
//! tunnel with the OpenSSH client; a cookie from node 1 works on node 2 and a logout on node 2
//! ends it on node 1; a lock ends it everywhere. The web terminal runs a command on a real sshd
//! through node 2, resizes, is recorded and audited under the user, and ends on termination.

use portunus_model::{
    AssetRef, Command, DbEngine, EndReason, NewDatabase, NewDatabaseAccount, NewHost,
    NewHostAccount, NewUser, Principal, Protocol, TwoFactorMethod, TwoFactorStatus,
};
use portunus_node::testing::{created, three_nodes, wait_for};
use portunus_node::RunningNode;
use portunus_ops::totp;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass, Sshd};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const WAIT: Duration = Duration::from_secs(30);
const ALICE_PASSWORD: &str = "alice-Web-Passw0rd";
const BOB_PASSWORD: &str = "bob-Web-Passw0rd";
const BOB_SECRET: &[u8] = b"bob's web two-factor secret";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/portal.py");

fn user(name: &str, password: &str, two_factor: bool) -> Command {
    Command::CreateUser(NewUser {
        name: name.into(),
        password_hash: Some(portunus_node::hash_password(password)),
        two_factor: if two_factor {
            [TwoFactorMethod::Totp].into()
        } else {
            Default::default()
        },
        two_factor_status: if two_factor {
            TwoFactorStatus::Enable
        } else {
            TwoFactorStatus::Global
        },
        ..Default::default()
    })
}

fn host(name: &str, port: u16) -> Command {
    Command::CreateHost(NewHost {
        name: name.into(),
        private_address: "127.0.0.1".into(),
        ports: [(Protocol::Ssh, port)].into(),
        ..Default::default()
    })
}

fn database(name: &str, port: u16) -> Command {
    Command::CreateDatabase(NewDatabase {
        name: name.into(),
        engine: DbEngine::SqlServer,
        address: "127.0.0.1".into(),
        port,
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
    })
}

/// What the tests set up: alice may reach host web-01 (root, the sshd's key hosted) and the
/// database orders (app); bob, with two-factor on, may reach the database payroll; nobody may
/// reach the host hidden-01.
struct Setup {
    alice: u64,
    web01: u64,
}

async fn setup(node: &RunningNode, sshd: &Sshd, echo: u16) -> Setup {
    let r = &node.replica;
    let alice = created(r.propose(user("alice", ALICE_PASSWORD, false)).await);
    let bob = created(r.propose(user("bob", BOB_PASSWORD, true)).await);
    let web01 = created(r.propose(host("web-01", sshd.port)).await);
    let hidden = created(r.propose(host("hidden-01", sshd.port)).await);
    let key = node
        .seal(
            portunus_node::seal::purpose::HOST_PRIVATE_KEY,
            sshd.client_key.as_bytes(),
        )
        .unwrap();
    let mut root = None;
    for host_id in [web01, hidden] {
        let account = NewHostAccount {
            host_id,
            name: "root".into(),
            protocol: Protocol::Ssh,
            password: None,
            private_key: Some(key.clone()),
            shared_key_id: None,
            sftp_only: false,
        };
        root.get_or_insert(created(
            r.propose(Command::CreateHostAccount(account)).await,
        ));
    }
    let grant = Command::AttachHostAccounts {
        principal: Principal::User(alice),
        host_id: web01,
        account_ids: [root.unwrap()].into(),
    };
    r.propose(grant).await.unwrap();
    for (name, who) in [("orders", alice), ("payroll", bob)] {
        let database_id = created(r.propose(database(name, echo)).await);
        let account = NewDatabaseAccount {
            database_id,
            name: "app".into(),
            password: None,
            comment: String::new(),
        };
        let account_id = created(r.propose(Command::CreateDatabaseAccount(account)).await);
        let grant = Command::AttachDatabaseAccounts {
            principal: Principal::User(who),
            database_id,
            account_ids: [account_id].into(),
        };
        r.propose(grant).await.unwrap();
    }
    let sealed = node
        .seal(portunus_model::seal_purpose::TOTP_SECRET, BOB_SECRET)
        .unwrap();
    let enroll = Command::EnrollTotp {
        user_id: bob,
        secret: sealed.clone(),
        recovery_codes: Vec::new(),
    };
    r.propose(enroll).await.unwrap();
    let now_step = totp::step_of(now_ms());
    let confirm = Command::ConfirmTotp {
        user_id: bob,
        secret: sealed,
        step: now_step - 1,
    };
    r.propose(confirm).await.unwrap();
    Setup { alice, web01 }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

async fn echo_server() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    port
}

fn base(node: &RunningNode) -> String {
    format!("http://{}", node.api_addr.unwrap())
}

/// A plain HTTP/1.1 request to the portal as a script would make it; (status, JSON body).
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, Value) {
    http_with(addr, method, path, cookie, "", body).await
}

/// [`http`] with the CSRF token `csrf`.
async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    csrf: &str,
    body: &str,
) -> (u16, Value) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\n\
         Cookie: portunus_web={cookie}\r\nX-CSRF-Token: {csrf}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// The browser script, started with `scenario` and `args`; its stdout read as events.
struct Browser {
    child: tokio::process::Child,
    events: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl Browser {
    /// With `PORTUNUS_SCREENSHOTS=<dir>` the script saves screenshots of the pages there.
    fn start(scenario: &str, args: &Value) -> Self {
        let mut args = args.clone();
        if let Ok(dir) = std::env::var("PORTUNUS_SCREENSHOTS") {
            args["screens"] = json!(dir);
        }
        let mut child = tokio::process::Command::new("python3")
            .args([SCRIPT, scenario, &args.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run python3 with selenium (scripts/test.sh installs it)");
        let events = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser { child, events }
    }

    /// The next event, which must be `name`.
    async fn expect(&mut self, name: &str) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(90), self.events.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {name} event from the browser"))
            .unwrap();
        let Some(line) = line else {
            let status = self.child.wait().await.unwrap();
            panic!("the browser script ended ({status}) before {name}; see its stderr above");
        };
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["event"], name, "{event}");
        event
    }

    async fn tell(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    async fn finished(mut self) {
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "the browser script failed: {status}");
    }
}

fn names(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = serde_json::from_value(v.clone()).unwrap();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_logins_tokens_and_sessions_across_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    let setup = setup(&nodes[0], &sshd, echo).await;
    for n in &nodes {
        n.replica.read_linearizable(|_| ()).await.unwrap();
        wait_listening(n.ssh_addr.unwrap().port()).await;
    }
    let args = json!({
        "a": base(&nodes[0]), "b": base(&nodes[1]),
        "alice_password": ALICE_PASSWORD, "bob_password": BOB_PASSWORD,
        "bob_totp": totp::base32(BOB_SECRET), "database": "orders", "account": "app",
    });
    let mut browser = Browser::start("logins", &args);

    // Refusals: the same words for a wrong password and a user that does not exist, and no
    // session cookie.
    let refused = browser.expect("refused").await;
    let wrong = refused["wrong_password"].as_str().unwrap();
    assert!(wrong.contains("wrong user name, password"), "{refused}");
    assert_eq!(refused["unknown_user"], wrong, "{refused}");
    assert_eq!(refused["cookie"], Value::Null, "{refused}");
    let codes = browser.expect("codes_refused").await;
    assert!(
        codes["absent"]
            .as_str()
            .unwrap()
            .contains("wrong or already used verification code"),
        "{codes}"
    );
    assert!(
        codes["wrong"]
            .as_str()
            .unwrap()
            .contains("wrong or already used verification code"),
        "{codes}"
    );
    assert_eq!(codes["portal"], false, "{codes}");
    // With the right code bob is in, and sees only his database.
    let bob = browser.expect("bob").await;
    assert_eq!(
        (names(&bob["hosts"]), names(&bob["databases"])),
        (vec![], vec!["payroll".to_string()])
    );

    // alice sees exactly what she is authorized for; her cookie is HttpOnly and Strict.
    let alice = browser.expect("alice").await;
    assert_eq!(alice["user"], "alice");
    assert_eq!(names(&alice["hosts"]), vec!["web-01"]);
    assert_eq!(names(&alice["databases"]), vec!["orders"]);
    let cookie = &alice["cookie"];
    assert_eq!(
        (&cookie["httpOnly"], &cookie["sameSite"]),
        (&json!(true), &json!("Strict"))
    );
    let cookie = cookie["value"].as_str().unwrap().to_string();

    // The token dialog: node 1's SSH port, alice, a token with its expiry; its ssh command
    // opens a tunnel with the OpenSSH client.
    let token = browser.expect("token").await;
    let ssh_port = nodes[0].ssh_addr.unwrap().port();
    assert_eq!(token["address"], "127.0.0.1", "{token}");
    assert_eq!(token["port"], ssh_port.to_string(), "{token}");
    assert_eq!(token["user"], "alice", "{token}");
    assert_eq!(token["token"].as_str().unwrap().len(), 64, "{token}");
    assert!(!token["expire"].as_str().unwrap().is_empty(), "{token}");
    let trail = nodes[2].replica.read_linearizable(|s| {
        s.admin_audit()
            .entries()
            .map(|e| e.record.clone())
            .find(|r| r.action == "GenerateAssetOperationToken")
    });
    let trail = trail.await.unwrap();
    let trail = trail.expect("the token's issue is in the admin audit trail");
    assert_eq!(
        (
            trail.access_key_id.as_str(),
            trail.user_id,
            trail.result.as_str()
        ),
        ("web-portal", Some(setup.alice), "OK")
    );
    let command = token["ssh"].as_str().unwrap().to_string();
    assert!(command.starts_with("ssh -N -L "), "{command}");
    assert!(
        command.ends_with(&format!(":127.0.0.1:{echo} alice@127.0.0.1 -p {ssh_port}")),
        "{command}"
    );

    // The cookie works on node 2 (the browser shows alice's portal there), and the logout
    // there ends the session on node 1 as well.
    let on_b = browser.expect("on_b").await;
    assert_eq!(
        (&on_b["user"], names(&on_b["databases"])),
        (&json!("alice"), vec!["orders".to_string()])
    );
    let after = browser.expect("after_logout").await;
    assert_eq!(
        (&after["login"], &after["portal"]),
        (&json!(true), &json!(false))
    );
    browser.finished().await;
    for n in &nodes {
        let (status, body) = http(n.api_addr.unwrap(), "GET", "/web/api/me", &cookie, "").await;
        assert_eq!(status, 401, "node {}: {body}", n.config.node_id);
    }

    // The dialog's command, as an engineer runs it (the local port made free for the test).
    let local = free_port();
    let mut words = command
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect::<Vec<_>>();
    let forward = words.iter().position(|w| w == "-L").unwrap() + 1;
    let (_, rest) = words[forward].split_once(':').unwrap();
    words[forward] = format!("{local}:{rest}");
    let askpass = Askpass::new();
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(["-o", "PubkeyAuthentication=no", "-F", "/dev/null"])
    .args(&words)
    .kill_on_drop(true);
    askpass.env(&mut ssh, token["token"].as_str().unwrap());
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    conn.write_all(b"through the portal's token").await.unwrap();
    let mut back = [0u8; 26];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"through the portal's token");
    let view = nodes[2].replica.view().clone();
    wait_for("the tunnel's session", WAIT, || {
        view.read(|s| {
            s.open_sessions()
                .any(|x| x.user_id == setup.alice && x.node_id == 1)
        })
    })
    .await;
    drop(conn);
    tunnel.kill().await.unwrap();

    // A lock ends a session on every node: a fresh login (as a script would), then the lock.
    let node2 = nodes[1].api_addr.unwrap();
    let login = json!({"user": "alice", "password": ALICE_PASSWORD}).to_string();
    let mut s = tokio::net::TcpStream::connect(node2).await.unwrap();
    let req = format!(
        "POST /web/api/login HTTP/1.1\r\nHost: {node2}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{login}",
        login.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let fresh = out
        .split("portunus_web=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no cookie in {out}"))
        .to_string();
    let (status, me) = http(nodes[2].api_addr.unwrap(), "GET", "/web/api/me", &fresh, "").await;
    assert_eq!((status, &me["user"]), (200, &json!("alice")), "{me}");
    // Without the CSRF token a change is refused, even with the cookie.
    let (status, _) = http(node2, "POST", "/web/api/logout", &fresh, "").await;
    assert_eq!(status, 403);
    nodes[0]
        .replica
        .propose(Command::LockUsers {
            user_ids: vec![setup.alice],
        })
        .await
        .unwrap();
    for n in &nodes {
        let (status, _) = http(n.api_addr.unwrap(), "GET", "/web/api/me", &fresh, "").await;
        assert_eq!(status, 401, "node {}", n.config.node_id);
    }
    for n in nodes {
        n.stop().await;
    }
}

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
    let events_name = portunus_node::audit::events_name(session_id);
    for _ in 0..1000 {
        if reader.get_blob(&end_name).await.is_some()
            && reader.get_blob(&events_name).await.is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let events = String::from_utf8(reader.get_blob(&events_name).await.expect("events")).unwrap();
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
    let status = ended["status"].as_str().unwrap();
    assert!(
        status.contains("this bastion node is shutting down") || status.contains("went away"),
        "{ended}"
    );
    assert!(status.contains("another node may serve you"), "{ended}");
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
        ended["status"], "ended: session ended: you logged out of the portal",
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
