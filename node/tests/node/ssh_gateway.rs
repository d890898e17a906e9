//! The SSH gateway of real in-process nodes, driven by the OpenSSH client: an O&M token issued
//! through one node tunnels to a database through another, the session is recorded under the
//! token's user and its slot given back; a single-use token cannot be used twice, and the
//! refusal reaches the client.

use portunus_model::{
    AssetRef, Command, DbEngine, NewDatabase, NewDatabaseAccount, NewHost, NewHostAccount,
    NewToken, NewUser, Principal, Protocol, Response, TokenAccount,
};
use portunus_node::testing::{created, metric, scrape, three_nodes, wait_for};
use portunus_node::RunningNode;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass, Sshd};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(20);

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

/// alice may reach the database `orders` at 127.0.0.1:`port`; returns her id and a
/// single-use token (its clear text) for it.
async fn database_token(node: &RunningNode, port: u16) -> (u64, String) {
    let r = &node.replica;
    let alice = NewUser {
        name: "alice".into(),
        ..Default::default()
    };
    let user_id = created(r.propose(Command::CreateUser(alice)).await);
    let db = NewDatabase {
        name: "orders".into(),
        engine: DbEngine::SqlServer,
        address: "127.0.0.1".into(),
        port,
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
    r.propose(grant).await.unwrap();
    let token = "tok-Zq8rW2mK5pX7vN3b".to_string();
    let hash: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .try_into()
        .unwrap();
    let issue = NewToken {
        database_schema: None,
        mysql_native: None,
        pg_scram: None,
        issued_by: None,
        token_hash: hash,
        user_id,
        asset: AssetRef::Database(database_id),
        account: TokenAccount::Hosted(account_id),
        protocol: Protocol::SqlServer,
        validity_secs: Some(600),
        use_count: Some(1),
    };
    assert!(matches!(
        r.propose(Command::IssueToken(issue)).await,
        Ok(Response::TokenIssued(_))
    ));
    (user_id, token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_issued_on_one_node_tunnels_through_another_once() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let echo = echo_server().await;
    let (alice, token) = database_token(&nodes[0], echo).await;
    let second = &nodes[1];
    second.replica.read_linearizable(|_| ()).await.unwrap();
    let ssh_port = second.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let commit_before = metric(
        &scrape(second.metrics_addr.unwrap()).await,
        "portunus_raft_commit_index",
    );
    assert!(commit_before >= 1.0, "writes so far are committed");
    let askpass = Askpass::new();

    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "alice", &token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{echo}")]);
    let mut child = ssh.spawn().unwrap();
    wait_listening(local).await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    conn.write_all(&payload).await.unwrap();
    let mut back = vec![0u8; payload.len()];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(back, payload, "bytes cross the tunnel intact");

    let view = nodes[2].replica.view().clone();
    let open: Vec<_> = view.read(|s| s.open_sessions().map(|x| (x.user_id, x.node_id)).collect());
    assert_eq!(
        open,
        vec![(alice, 2)],
        "one session, alice's, held by node 2"
    );
    drop(conn);
    child.kill().await.unwrap();
    wait_for(
        "the session to close and its slot to come back",
        WAIT,
        || view.read(|s| s.slots_in_use()) == 0,
    )
    .await;

    // The token had one use: a second login is refused, with words the client shows.
    let out = askpass
        .ssh(ssh_port, "alice", &token)
        .arg("-N")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no uses left") || err.contains("Permission denied"),
        "{err}"
    );

    // Every node's exposition parses: `name{labels} value` lines and comments only.
    for n in &nodes {
        let body = scrape(n.metrics_addr.unwrap()).await;
        let body = body
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        for line in body
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            let (series, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {line}"));
            assert!(series.starts_with("portunus_"), "{line}");
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
        assert!(
            body.contains("portunus_raft_is_leader"),
            "node {}",
            n.config.node_id
        );
    }
    // Node 2's metrics moved with what happened there.
    let text = scrape(second.metrics_addr.unwrap()).await;
    let value = |series: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(series))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!(
        value("portunus_token_operations_total{operation=\"spend\",outcome=\"ok\"}"),
        1.0
    );
    assert!(
        value("portunus_token_operations_total{operation=\"spend\",outcome=\"refused\"}") >= 1.0
    );
    assert!(value("portunus_login_failures_total{reason=\"tokenusedup\"}") >= 1.0);
    assert_eq!(
        value("portunus_sessions_total{outcome=\"normal\",protocol=\"sqlserver\"}"),
        1.0
    );
    assert!(value("portunus_forwarded_bytes_total{direction=\"up\"}") >= payload.len() as f64);
    assert!(value("portunus_raft_commit_seconds_count{outcome=\"applied\"}") >= 2.0);
    // The commit index is its own gauge: it moved with the spend and the session's close,
    // and never trails what was applied.
    let committed = value("portunus_raft_commit_index ");
    assert!(
        committed > commit_before,
        "{committed} after {commit_before}"
    );
    assert!(committed >= value("portunus_raft_applied_index "));
    assert!(committed <= value("portunus_raft_last_log_index "));
    // The leader tells each peer's lag in entries and in seconds.
    let leader = nodes[0].replica.status().leader.unwrap();
    let lead = nodes.iter().find(|n| n.config.node_id == leader).unwrap();
    let text = scrape(lead.metrics_addr.unwrap()).await;
    let lags: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with("portunus_raft_replication_lag_seconds{peer="))
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(lags.len(), 2, "one per peer:\n{text}");
    assert!(lags.iter().all(|s| s.is_finite() && *s >= 0.0), "{lags:?}");
    for n in nodes {
        n.stop().await;
    }
}

/// alice may log in to `web-01` (a real sshd) as root with the hosted private key.
async fn shell_target(node: &RunningNode, sshd: &Sshd) {
    let r = &node.replica;
    let alice = NewUser {
        name: "alice".into(),
        password_hash: Some(portunus_node::hash_password("alice-Passw0rd")),
        ..Default::default()
    };
    let user_id = created(r.propose(Command::CreateUser(alice)).await);
    let host = NewHost {
        name: "web-01".into(),
        private_address: "127.0.0.1".into(),
        ports: [(Protocol::Ssh, sshd.port)].into(),
        ..Default::default()
    };
    let host_id = created(r.propose(Command::CreateHost(host)).await);
    let key = node
        .seal(
            portunus_node::seal::purpose::HOST_PRIVATE_KEY,
            sshd.client_key.as_bytes(),
        )
        .unwrap();
    let account = NewHostAccount {
        host_id,
        name: "root".into(),
        protocol: Protocol::Ssh,
        password: None,
        private_key: Some(key),
        shared_key_id: None,
        sftp_only: false,
    };
    let account_id = created(r.propose(Command::CreateHostAccount(account)).await);
    let grant = Command::AttachHostAccounts {
        principal: Principal::User(user_id),
        host_id,
        account_ids: [account_id].into(),
    };
    r.propose(grant).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shell_recording_outlives_the_node_that_served_it() {
    let dir = tempfile::tempdir().unwrap();
    let (mut nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    shell_target(&nodes[0], &sshd).await;
    let server = &nodes[1];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(
        server.ssh_addr.unwrap().port(),
        "alice@root@web-01",
        "alice-Passw0rd",
    );
    ssh.arg("-tt").stdin(std::process::Stdio::piped());
    let mut child = ssh.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"echo recorded''-output; exit 4\n")
        .await
        .unwrap();
    let out = tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let view = nodes[0].replica.view().clone();
    wait_for("the shell session to close", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;
    let session_id = view.read(|s| s.sessions().map(|x| x.id).max().unwrap());
    let end_name = portunus_node::audit::recording_end_name(session_id);
    let origin = nodes.remove(1);
    let reader = nodes[1].replica.clone();
    for _ in 0..500 {
        if reader.get_blob(&end_name).await.is_some()
            && crate::fixture::complete_events(&reader, session_id)
                .await
                .is_some()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    origin.stop().await;
    let mut cast = Vec::new();
    let get = |name: String| {
        let reader = reader.clone();
        async move { reader.get_blob(&name).await }
    };
    let read = portunus_node::audit::read_recording(session_id, get, &mut cast)
        .await
        .unwrap();
    assert!(read.complete(), "recording readable and whole: {read:?}");
    let cast = String::from_utf8(cast).unwrap();
    let header: serde_json::Value = serde_json::from_str(cast.lines().next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "asciicast v2: {cast}");
    assert!(cast.contains("recorded-output"), "{cast}");
    // The command line typed, replicated with the session's other audit events.
    let events = crate::fixture::complete_events(&reader, session_id)
        .await
        .expect("session events readable and whole");
    let command = events
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|e| e["type"] == "command")
        .unwrap_or_else(|| panic!("no command event: {events}"));
    assert_eq!(command["session_id"], session_id, "{events}");
    assert!(
        command["line"]
            .as_str()
            .unwrap()
            .contains("echo recorded''-output"),
        "{events}"
    );
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_terminates_a_session_held_by_another_node() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let echo = echo_server().await;
    let (_, token) = database_token(&nodes[0], echo).await;
    let holder = &nodes[2];
    holder.replica.read_linearizable(|_| ()).await.unwrap();
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(holder.ssh_addr.unwrap().port(), "alice", &token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{echo}")]);
    let mut child = ssh.spawn().unwrap();
    wait_listening(local).await;
    let view = nodes[0].replica.view().clone();
    wait_for("the session to open", WAIT, || {
        view.read(|s| s.slots_in_use()) == 1
    })
    .await;
    let session_id = view.read(|s| s.open_sessions().next().unwrap().id);

    let asked = std::time::Instant::now();
    nodes[0]
        .replica
        .propose(Command::RequestTermination { session_id })
        .await
        .unwrap();
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("client disconnected")
        .unwrap();
    eprintln!(
        "session ended {:?} after the request (client exit {status})",
        asked.elapsed()
    );
    wait_for("the slot to come back", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;
    let reason = view.read(|s| s.session(session_id).and_then(|x| x.end_reason));
    assert_eq!(reason, Some(portunus_model::EndReason::Terminated));
    for n in nodes {
        n.stop().await;
    }
}

/// An engineer authorized on a host reaches it through the recorded shell only: a `-L` tunnel
/// to its sshd is refused by the gate before any session opens, with the reason shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tunnel_to_an_authorized_host_is_refused_before_a_session_opens() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    shell_target(&nodes[0], &sshd).await;
    let node = &nodes[1];
    node.replica.read_linearizable(|_| ()).await.unwrap();
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(node.ssh_addr.unwrap().port(), "alice", "alice-Passw0rd");
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", sshd.port)]);
    let mut child = ssh.spawn().unwrap();
    wait_listening(local).await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    let mut carried = Vec::new();
    tokio::time::timeout(WAIT, conn.read_to_end(&mut carried))
        .await
        .expect("the refused tunnel is closed")
        .unwrap();
    assert!(
        carried.is_empty(),
        "the host's sshd answered: {:?}",
        String::from_utf8_lossy(&carried)
    );
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("web-01 is a host: tunnels through the bastion reach databases only"),
        "{stderr}"
    );
    let opened = node
        .replica
        .read_linearizable(|s| s.sessions().count())
        .await
        .expect("a linearizable read");
    assert_eq!(opened, 0, "no session was opened for the refused tunnel");
    for n in nodes {
        n.stop().await;
    }
}
