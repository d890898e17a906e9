//! What the web portal's browser tests share: the cluster's users, hosts and databases, the
//! browser script (`portal.py`, run with selenium and chromedriver) read as events, and plain
//! HTTP requests as a script would make them.
#![allow(dead_code)]

use portunus_model::{
    Command, DbEngine, NewDatabase, NewDatabaseAccount, NewHost, NewHostAccount, NewUser,
    Principal, Protocol, TwoFactorMethod, TwoFactorStatus,
};
use portunus_node::testing::created;
use portunus_node::RunningNode;
use portunus_ops::totp;
use portunus_proxy::testing::openssh::Sshd;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

pub const WAIT: Duration = Duration::from_secs(30);
pub const ALICE_PASSWORD: &str = "alice-Web-Passw0rd";
pub const BOB_PASSWORD: &str = "bob-Web-Passw0rd";
pub const BOB_SECRET: &[u8] = b"bob's web two-factor secret";
pub const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/portal.py");
pub const CONSOLE_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/console.py");

pub fn user(name: &str, password: &str, two_factor: bool) -> Command {
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

pub fn host(name: &str, port: u16) -> Command {
    Command::CreateHost(NewHost {
        name: name.into(),
        private_address: "127.0.0.1".into(),
        ports: [(Protocol::Ssh, port)].into(),
        ..Default::default()
    })
}

pub fn database(name: &str, port: u16) -> Command {
    Command::CreateDatabase(NewDatabase {
        name: name.into(),
        engine: DbEngine::SqlServer,
        address: "127.0.0.1".into(),
        port,
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
        project_id: None,
    })
}

/// What the tests set up: alice may reach host web-01 (root, the sshd's key hosted) and the
/// database orders (app); bob, with two-factor on, may reach the database payroll; nobody may
/// reach the host hidden-01.
pub struct Setup {
    pub alice: u64,
    pub web01: u64,
}

pub async fn setup(node: &RunningNode, sshd: &Sshd, echo: u16) -> Setup {
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

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

pub async fn echo_server() -> u16 {
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

pub fn base(node: &RunningNode) -> String {
    format!("http://{}", node.api_addr.unwrap())
}

/// A plain HTTP/1.1 request to the portal as a script would make it; (status, JSON body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> (u16, Value) {
    http_with(addr, method, path, cookie, "", body).await
}

/// [`http`] with the CSRF token `csrf`.
pub async fn http_with(
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
pub struct Browser {
    child: tokio::process::Child,
    events: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    /// What the script wrote on stderr so far (echoed to the test's stderr as it comes), so
    /// that a failure names the script's reason, not only "see above".
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Browser {
    /// With `PORTUNUS_SCREENSHOTS=<dir>` the script saves screenshots of the pages there.
    pub fn start(scenario: &str, args: &Value) -> Self {
        Self::start_script(SCRIPT, scenario, args)
    }

    /// [`Browser::start`] with another script of `tests/web/`.
    pub fn start_script(script: &str, scenario: &str, args: &Value) -> Self {
        let mut args = args.clone();
        if let Ok(dir) = std::env::var("PORTUNUS_SCREENSHOTS") {
            args["screens"] = json!(dir);
        }
        let mut child = tokio::process::Command::new("python3")
            .args([script, scenario, &args.to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0)
            .spawn()
            .expect("run python3 with selenium (scripts/test.sh installs it)");
        let events = BufReader::new(child.stdout.take().unwrap()).lines();
        let stderr = std::sync::Arc::<std::sync::Mutex<String>>::default();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let kept = stderr.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("{line}");
                let mut kept = kept.lock().unwrap();
                kept.push_str(&line);
                kept.push('\n');
            }
        });
        Browser {
            child,
            events,
            stderr,
        }
    }

    /// The next event, which must be `name`.
    pub async fn expect(&mut self, name: &str) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(90), self.events.next_line())
            .await
            .unwrap_or_else(|_| panic!("no {name} event from the browser"))
            .unwrap();
        let Some(line) = line else {
            let status = self.child.wait().await.unwrap();
            // The reader task gets the last lines once the pipe closes.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let stderr = self.stderr.lock().unwrap().clone();
            let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            panic!(
                "the browser script ended ({status}) before {name}; its stderr ends with:\n{}",
                tail.join("\n")
            );
        };
        let event: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(event["event"], name, "{event}");
        event
    }

    pub async fn tell(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    pub async fn finished(mut self) {
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "the browser script failed: {status}");
    }
}

/// The script's chromedriver and Chromium are in its process group: a test that fails midway
/// takes them down with it (killing python alone left them running).
impl Drop for Browser {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let group = format!("-{pid}");
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &group])
                .status();
        }
    }
}

pub fn names(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = serde_json::from_value(v.clone()).unwrap();
    out.sort();
    out
}

/// `POST /web/api/login` as a script would send it; (status, JSON body, the session cookie).
pub async fn login(addr: SocketAddr, user: &str, password: &str) -> (u16, Value, Option<String>) {
    let body = json!({ "user": user, "password": password }).to_string();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST /web/api/login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let status = out[9..12].parse().unwrap();
    let cookie = out
        .split("portunus_web=")
        .nth(1)
        .and_then(|v| v.split(';').next())
        .map(str::to_string);
    let json = out.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (
        status,
        serde_json::from_str(json).unwrap_or(Value::Null),
        cookie,
    )
}

/// A session's audit events (JSON lines) read through `replica`, once all of them are stored
/// (the session closed and every part is there); None before.
pub async fn complete_events(replica: &portunus_raft::Replica, session_id: u64) -> Option<String> {
    let get = |name: String| async move { replica.get_blob(&name).await };
    let mut out = Vec::new();
    let read = portunus_node::audit::read_events(session_id, get, &mut out)
        .await
        .expect("read into memory");
    read.complete()
        .then(|| String::from_utf8(out).expect("JSON lines"))
}

/// The session's audit events, once its node has stored all of them, read through `reader`.
pub async fn session_events(reader: &RunningNode, session_id: u64) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(text) = complete_events(&reader.replica, session_id).await {
            return text
                .lines()
                .map(|l| serde_json::from_str(l).expect("an event"))
                .collect();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no events for session {session_id}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A user holding an AccessKey of `role` (an Admin or Auditor one opens the web console).
pub async fn user_with_key(
    node: &RunningNode,
    name: &str,
    password: &str,
    role: portunus_model::Role,
) {
    let r = &node.replica;
    let user_id = portunus_node::testing::created(r.propose(user(name, password, false)).await);
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
