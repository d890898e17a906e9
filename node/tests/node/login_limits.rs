//! What an outsider can do to logins, against a real in-process node and the OpenSSH client:
//! wrong passwords lock a password for a while without telling a guesser anything and without
//! blocking the user's key or O&M tokens; connections that do not log in are capped and cut.

use portunus_model::{
    AssetRef, ClusterSettings, Command, DbEngine, NewDatabase, NewDatabaseAccount, NewToken,
    NewUser, Principal, Protocol, Response, TokenAccount,
};
use portunus_node::testing::{created, metric, node_config, scrape};
use portunus_node::RunningNode;
use portunus_proxy::testing::openssh::{free_port, keygen, wait_listening, Askpass};
use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;

const WAIT: Duration = Duration::from_secs(30);
const PASSWORD: &str = "alice-Corr3ct-Horse";

async fn one_node(
    dir: &std::path::Path,
    ssh: impl FnOnce(&mut portunus_proxy::ssh::SshSettings),
) -> RunningNode {
    let peers: BTreeMap<u64, String> = [(1, portunus_node::testing::free_udp().to_string())].into();
    let mut config = node_config(1, dir, &peers);
    ssh(&mut config.ssh);
    let mut node = portunus_node::start(config).await.expect("node starts");
    node.registered().await;
    wait_listening(node.ssh_addr.expect("ssh").port()).await;
    node
}

/// What the OpenSSH client saw of a login that runs `true`.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    /// Authentication failed; the client's last line without the `user@host: ` it starts with
    /// (the same for every such failure).
    Denied(String),
    /// Authentication succeeded (the gateway then spoke: no target named, or the token's).
    LoggedIn,
}

fn seen(out: std::process::Output) -> Seen {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    if err.contains("Permission denied") {
        let last = err.lines().last().unwrap_or_default();
        let words = last.split_once(": ").map_or(last, |(_, w)| w);
        return Seen::Denied(words.to_string());
    }
    assert!(
        err.contains("portunus:") || err.contains("Access denied:"),
        "neither a refused authentication nor the gateway's words after a login:\n{err}"
    );
    Seen::LoggedIn
}

async fn with_password(port: u16, askpass: &Askpass, user: &str, password: &str) -> Seen {
    let out = askpass
        .ssh(port, user, password)
        .args(["-o", "PreferredAuthentications=password", "true"])
        .output()
        .await
        .expect("run ssh");
    seen(out)
}

async fn with_key(port: u16, key: &std::path::Path) -> Seen {
    let out = tokio::process::Command::new("ssh")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .args(["-o", "BatchMode=yes", "-F", "/dev/null", "-i"])
        .arg(key)
        .args(["-p", &port.to_string(), "-l", "alice", "127.0.0.1", "true"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run ssh");
    seen(out)
}

fn sha256(text: &str) -> [u8; 32] {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes())
        .as_ref()
        .try_into()
        .expect("32 bytes")
}

/// alice, with a password, a public key and an O&M token for a database.
async fn alice(node: &RunningNode, public_key: &str) -> (u64, String) {
    let r = &node.replica;
    let new = NewUser {
        name: "alice".into(),
        password_hash: Some(portunus_node::hash_password(PASSWORD)),
        ..Default::default()
    };
    let user_id = created(r.propose(Command::CreateUser(new)).await);
    let key = Command::AddUserPublicKey {
        user_id,
        name: "laptop".into(),
        public_key: public_key.into(),
        fingerprint: "SHA256:laptop".into(),
        comment: String::new(),
    };
    created(r.propose(key).await);
    let db = NewDatabase {
        name: "orders".into(),
        engine: DbEngine::SqlServer,
        address: "127.0.0.1".into(),
        port: free_port(),
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
        project_id: None,
    };
    let database_id = created(r.propose(Command::CreateDatabase(db)).await);
    let account = NewDatabaseAccount {
        database_id,
        name: "app".into(),
        password: None,
        comment: String::new(),
    };
    let account_id = created(r.propose(Command::CreateDatabaseAccount(account)).await);
    let grant = Command::AttachDatabaseAccounts {
        principal: Principal::User(user_id),
        database_id,
        account_ids: [account_id].into(),
    };
    r.propose(grant).await.expect("grant");
    let token = "tok-lockout-Wq7s9Xk2".to_string();
    let issue = NewToken {
        database_schema: None,
        mysql_native: None,
        pg_scram: None,
        issued_by: None,
        token_hash: sha256(&token),
        user_id,
        asset: AssetRef::Database(database_id),
        account: TokenAccount::Hosted(account_id),
        protocol: Protocol::SqlServer,
        validity_secs: Some(600),
        use_count: Some(10),
    };
    assert!(matches!(
        r.propose(Command::IssueToken(issue)).await,
        Ok(Response::TokenIssued(_))
    ));
    (user_id, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn wrong_passwords_lock_only_the_password_for_a_while_and_tell_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = one_node(dir.path(), |_| {}).await;
    let settings = ClusterSettings {
        login_lock_threshold: 3,
        login_lock_window_secs: 600,
        login_lock_secs: 3,
        login_lock_max_secs: 600,
        ..ClusterSettings::default()
    };
    node.replica
        .propose(Command::UpdateSettings(settings))
        .await
        .expect("settings");
    let (key_path, _, public) = keygen(dir.path(), "alice_key");
    let (user_id, token) = alice(&node, &public).await;
    let port = node.ssh_addr.unwrap().port();
    let askpass = Askpass::new();

    assert_eq!(
        with_password(port, &askpass, "alice", PASSWORD).await,
        Seen::LoggedIn
    );
    let wrong = with_password(port, &askpass, "alice", "guess-1").await;
    assert!(matches!(wrong, Seen::Denied(_)), "{wrong:?}");
    for guess in ["guess-2", "guess-3"] {
        assert_eq!(with_password(port, &askpass, "alice", guess).await, wrong);
    }
    let locked_until = node.replica.view().read(|s| {
        s.user(user_id)
            .and_then(|u| u.password_locked_until_ms)
            .expect("the third wrong password locks")
    });

    // Locked: the right password gets exactly what a wrong one gets (no oracle), and so does an
    // unknown user.
    assert_eq!(
        with_password(port, &askpass, "alice", PASSWORD).await,
        wrong
    );
    assert_eq!(
        with_password(port, &askpass, "alice", "guess-4").await,
        wrong
    );
    assert_eq!(
        with_password(port, &askpass, "nobody", PASSWORD).await,
        wrong
    );
    let still = node
        .replica
        .view()
        .read(|s| s.user(user_id).and_then(|u| u.password_locked_until_ms));
    assert_eq!(
        still,
        Some(locked_until),
        "guesses during a lockout do not lengthen it"
    );

    // The lock guards the password only: alice's key and her O&M token still log in.
    assert_eq!(with_key(port, &key_path).await, Seen::LoggedIn);
    assert_eq!(
        with_password(port, &askpass, "alice", &token).await,
        Seen::LoggedIn
    );

    // The lockout ends by itself.
    let end = tokio::time::Instant::now() + WAIT;
    loop {
        match with_password(port, &askpass, "alice", PASSWORD).await {
            Seen::LoggedIn => break,
            denied => assert!(
                tokio::time::Instant::now() < end,
                "still refused ({denied:?}) long after the 3 s lockout"
            ),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Locked again (the back-off doubles it), then unlocked early by an administrator.
    for guess in ["guess-5", "guess-6", "guess-7"] {
        assert_eq!(with_password(port, &askpass, "alice", guess).await, wrong);
    }
    assert_eq!(
        with_password(port, &askpass, "alice", PASSWORD).await,
        wrong
    );
    node.replica
        .propose(Command::UnlockUsers {
            user_ids: vec![user_id],
        })
        .await
        .expect("unlock");
    assert_eq!(
        with_password(port, &askpass, "alice", PASSWORD).await,
        Seen::LoggedIn
    );
    node.stop().await;
}

/// Reads what a server sends first, or None if it closes without a byte.
async fn first_bytes(s: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => None,
        Ok(Ok(n)) => Some(buf[..n].to_vec()),
        Err(_) => panic!("the server neither spoke nor closed"),
    }
}

/// A connection the gateway greets (`greeting` holds for its first bytes), tried again while
/// the address's places are still held by connections the gateway has not yet seen closed
/// (it then closes the new one, saying nothing or what `refusal` recognises).
async fn greeted(
    addr: std::net::SocketAddr,
    greeting: impl Fn(&[u8]) -> bool,
    refusal: impl Fn(&[u8]) -> bool,
) -> tokio::net::TcpStream {
    let end = tokio::time::Instant::now() + WAIT;
    loop {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        match first_bytes(&mut s).await {
            Some(hello) if greeting(&hello) => return s,
            Some(other) => assert!(
                refusal(&other),
                "neither a greeting nor a refusal: {other:?}"
            ),
            None => {}
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the gateway never greeted a connection"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the server closes the connection (reading and dropping whatever it sends).
async fn closed_by_server(s: &mut tokio::net::TcpStream) {
    let mut buf = vec![0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => panic!("the connection is still open"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_that_do_not_log_in_are_capped_and_cut_after_the_grace_time() {
    let dir = tempfile::tempdir().unwrap();
    let node = one_node(dir.path(), |s| {
        s.max_unauthenticated_per_ip = 2;
        s.login_grace_secs = 2;
    })
    .await;
    let addr = node.ssh_addr.unwrap();

    // Two connections that never log in hold the address's places (the probe that saw the
    // port listening may hold one for a moment after it closed: until the gateway notices, a
    // connection is closed unanswered and tried again)...
    let ssh = |h: &[u8]| h.starts_with(b"SSH-2.0-");
    let mut a = greeted(addr, ssh, |_| false).await;
    let mut b = greeted(addr, ssh, |_| false).await;
    // ...so a third is closed before a word is said.
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert_eq!(first_bytes(&mut c).await, None, "over the per-address cap");

    // Without a login they are cut after the grace time, and the places come back.
    closed_by_server(&mut a).await;
    closed_by_server(&mut b).await;
    let end = tokio::time::Instant::now() + WAIT;
    loop {
        let mut d = tokio::net::TcpStream::connect(addr).await.unwrap();
        match first_bytes(&mut d).await {
            Some(hello) => {
                assert!(hello.starts_with(b"SSH-2.0-"), "{hello:?}");
                break;
            }
            None => assert!(
                tokio::time::Instant::now() < end,
                "the cut connections' places never came back"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let text = scrape(node.metrics_addr.expect("a metrics listener")).await;
    assert!(
        metric(
            &text,
            "portunus_ssh_preauth_cut_total{reason=\"address_cap\"}"
        ) >= 1.0,
        "the refused connection is counted"
    );
    assert!(
        metric(
            &text,
            "portunus_ssh_preauth_cut_total{reason=\"grace_time\"}"
        ) >= 2.0,
        "the two silent connections are counted"
    );
    node.stop().await;
}

/// A MySQL greeting (protocol version 10) and a MySQL ERR packet.
fn mysql_greeting(h: &[u8]) -> bool {
    h.get(4) == Some(&10)
}

fn mysql_error(h: &[u8]) -> Option<(u16, String)> {
    (h.get(4) == Some(&0xff) && h.len() > 7).then(|| {
        let code = u16::from_le_bytes([h[5], h[6]]);
        (code, String::from_utf8_lossy(&h[7..]).into_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_ports_cap_connections_that_do_not_log_in_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let node = one_node(dir.path(), |s| {
        s.max_unauthenticated_per_ip = 2;
        s.login_grace_secs = 2;
    })
    .await;
    let mysql = node.mysql_addr.expect("the MySQL port is on by default");
    let postgres = node
        .postgres_addr
        .expect("the PostgreSQL port is on by default");
    let refused = |h: &[u8]| mysql_error(h).is_some_and(|(code, _)| code == 1040);
    // Two silent MySQL connections hold the address's places...
    let mut a = greeted(mysql, mysql_greeting, refused).await;
    let mut b = greeted(mysql, mysql_greeting, refused).await;
    // ...so a third is told so in MySQL's words before it is closed...
    let mut c = tokio::net::TcpStream::connect(mysql).await.unwrap();
    let answer = first_bytes(&mut c)
        .await
        .expect("an answer before the close");
    let (code, words) = mysql_error(&answer).expect("an ERR packet");
    assert_eq!(code, 1040);
    assert!(
        words.contains("Too many connections from your address"),
        "{words}"
    );
    closed_by_server(&mut c).await;
    let metrics = node.metrics_addr.expect("a metrics listener");
    let text = scrape(metrics).await;
    assert_eq!(
        metric(&text, "portunus_database_unauthenticated_connections"),
        2.0,
        "the two silent connections wait to log in"
    );
    // ...and a PostgreSQL client, whose port shares the places, in PostgreSQL's.
    let mut d = tokio::net::TcpStream::connect(postgres).await.unwrap();
    let answer = first_bytes(&mut d)
        .await
        .expect("an answer before the close");
    assert_eq!(answer.first(), Some(&b'E'), "{answer:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.contains("53300") && text.contains("waiting to log in"),
        "{text}"
    );
    closed_by_server(&mut d).await;
    // The silent ones are cut after the grace time, and their places come back.
    closed_by_server(&mut a).await;
    closed_by_server(&mut b).await;
    greeted(mysql, mysql_greeting, refused).await;
    let text = scrape(metrics).await;
    assert_eq!(
        metric(
            &text,
            "portunus_database_preauth_cut_total{reason=\"address_cap\"}"
        ),
        2.0,
        "the refused MySQL and PostgreSQL connections are counted"
    );
    assert!(
        metric(
            &text,
            "portunus_database_preauth_cut_total{reason=\"grace_time\"}"
        ) >= 2.0,
        "the two silent connections are counted"
    );
    assert_eq!(
        metric(
            &text,
            "portunus_ssh_preauth_cut_total{reason=\"address_cap\"}"
        ),
        0.0,
        "database cuts are not counted as SSH ones"
    );
    node.stop().await;
}
