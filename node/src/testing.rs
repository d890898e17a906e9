//! In-process clusters for tests (feature `test-util`): real nodes (RocksDB, QUIC, SSH and API
//! listeners on loopback ports chosen at run time) in one process.

use crate::config::Role;
use crate::{NodeConfig, RunningNode};
use portunus_model::Response;
use portunus_raft::tls::ClusterSecret;
use portunus_raft::ReplicaError;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A free UDP port on loopback (see [`portunus_test_ports`]).
pub fn free_udp() -> SocketAddr {
    portunus_test_ports::free_addr()
}

/// The sealing key of in-process test clusters (a test fixture, never used elsewhere).
pub const TEST_SEAL_KEY: &str = "p8SDiq/N+jLkkIwd77hmC5vU3h39v3gdu9Zxr/d4Tj0=";

/// A sealer holding [`TEST_SEAL_KEY`].
pub fn test_sealer() -> std::sync::Arc<crate::seal::Sealer> {
    let key = crate::seal::SealKey::parse(TEST_SEAL_KEY.as_bytes()).expect("a valid test key");
    std::sync::Arc::new(crate::seal::Sealer::new(key, Vec::new()))
}

pub fn node_config(id: u64, dir: &std::path::Path, peers: &BTreeMap<u64, String>) -> NodeConfig {
    NodeConfig {
        config_file: None,
        node_id: id,
        data_dir: dir.join(format!("n{id}")),
        ssh_listen: "127.0.0.1:0".parse().unwrap(),
        mysql_listen: Some("127.0.0.1:0".parse().unwrap()),
        postgres_listen: Some("127.0.0.1:0".parse().unwrap()),
        api_listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: crate::config::MetricsListen::At("127.0.0.1:0".parse().unwrap()),
        cluster_listen: peers[&id].parse().unwrap(),
        cluster_advertise: peers[&id].clone(),
        peers: peers.clone(),
        join: None,
        cluster_secret: ClusterSecret::new("slots-test-cluster-secret-0123456789-ABCDEF").unwrap(),
        sealer: test_sealer(),
        seal_keys: Default::default(),
        api_plaintext: true,
        api_tls_cert: None,
        api_tls_key: None,
        database_tls_cert: None,
        database_tls_key: None,
        database_target_ca: None,
        // The tests exercise the splice path (off by default in a product node).
        database_splice: true,
        role: Role::Engine,
        proxy_protocol_from: Vec::new(),
        audit_syslog: None,
        directory_ca: None,
        oidc_ca: None,
        drain_grace_secs: 1,
        snapshot_every: crate::config::DEFAULT_SNAPSHOT_EVERY,
        log_json: false,
        log_filter: "warn".into(),
        ssh: Default::default(),
        api: Default::default(),
    }
}

pub async fn wait_for(what: &str, within: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

pub async fn three_nodes(dir: &std::path::Path) -> (Vec<RunningNode>, BTreeMap<u64, String>) {
    // A UDP port chosen free may be taken by a parallel test before a node binds it: then the
    // cluster is started again from empty data directories, on other ports.
    for _ in 0..5 {
        for id in 1..=3 {
            let _ = std::fs::remove_dir_all(dir.join(format!("n{id}")));
        }
        let peers: BTreeMap<u64, String> = (1..=3).map(|i| (i, free_udp().to_string())).collect();
        let mut nodes = Vec::new();
        for id in 1..=3 {
            match crate::start(node_config(id, dir, &peers)).await {
                Ok(n) => nodes.push(n),
                Err(e) => {
                    eprintln!("node {id} did not start ({e:#}); starting the cluster again");
                    break;
                }
            }
        }
        if nodes.len() < 3 {
            for n in nodes {
                n.stop().await;
            }
            continue;
        }
        for n in nodes.iter_mut() {
            n.registered().await;
        }
        return (nodes, peers);
    }
    panic!("three nodes did not start in five attempts");
}

pub fn created(r: Result<Response, ReplicaError>) -> u64 {
    match r {
        Ok(Response::Created { id }) => id,
        other => panic!("expected Created, got {other:?}"),
    }
}

/// Create user `user`, host `host` at `address` with an SSH account `root`, and authorize the
/// user for it; returns (user id, host id, account id).
pub async fn authorized_host_account(
    node: &RunningNode,
    user: &str,
    host: &str,
    address: &str,
) -> (u64, u64, u64) {
    use portunus_model::{Command, NewHost, NewHostAccount, NewUser, Principal, Protocol};
    let r = &node.replica;
    let new_user = NewUser {
        name: user.into(),
        ..Default::default()
    };
    let user_id = created(r.propose(Command::CreateUser(new_user)).await);
    let new_host = NewHost {
        name: host.into(),
        private_address: address.into(),
        ..Default::default()
    };
    let host_id = created(r.propose(Command::CreateHost(new_host)).await);
    let account = NewHostAccount {
        host_id,
        name: "root".into(),
        protocol: Protocol::Ssh,
        password: None,
        private_key: None,
        shared_key_id: None,
        sftp_only: false,
    };
    let account_id = created(r.propose(Command::CreateHostAccount(account)).await);
    let grant = Command::AttachHostAccounts {
        principal: Principal::User(user_id),
        host_id,
        account_ids: [account_id].into(),
    };
    r.propose(grant).await.expect("authorize the user");
    (user_id, host_id, account_id)
}

/// What [`database_token`] sets up.
#[derive(Clone, Copy)]
pub struct DatabaseAccess<'a> {
    /// The user, created unless a user of this name exists.
    pub user: &'a str,
    pub database: &'a str,
    pub engine: portunus_model::DbEngine,
    pub port: u16,
    pub account: &'a str,
    /// The hosted password of the account; None: not hosted.
    pub password: Option<&'a str>,
    /// Logins the token allows (None: no limit).
    pub uses: Option<u32>,
    /// The token's clear text.
    pub token: &'a str,
}

/// Creates (or reuses, by name) the user, the database at 127.0.0.1:`port` and its account, authorizes
/// the user, and issues a token for it; returns (user id, database id).
pub async fn database_token(node: &RunningNode, a: DatabaseAccess<'_>) -> (u64, u64) {
    use portunus_model::{
        AssetRef, Command, NewDatabase, NewDatabaseAccount, NewToken, NewUser, Principal,
        TokenAccount,
    };
    let r = &node.replica;
    // Read through the leader: a call before this one may have created them, and this node may
    // not have applied that yet when it is a follower.
    let current = "a linearizable read";
    let existing = r
        .read_linearizable(|s| s.user_by_name(a.user).map(|u| u.id))
        .await
        .expect(current);
    let user_id = match existing {
        Some(id) => id,
        None => {
            let user = NewUser {
                name: a.user.into(),
                ..Default::default()
            };
            created(r.propose(Command::CreateUser(user)).await)
        }
    };
    let existing = r
        .read_linearizable(|s| s.databases().find(|d| d.name == a.database).map(|d| d.id))
        .await
        .expect(current);
    let database_id = match existing {
        Some(id) => id,
        None => {
            let db = NewDatabase {
                name: a.database.into(),
                engine: a.engine,
                address: "127.0.0.1".into(),
                port: a.port,
                source: Default::default(),
                source_instance_id: String::new(),
                comment: String::new(),
                network_domain_id: None,
                project_id: None,
            };
            created(r.propose(Command::CreateDatabase(db)).await)
        }
    };
    let password = a.password.map(|p| {
        node.seal(crate::seal::purpose::DATABASE_PASSWORD, p.as_bytes())
            .expect("seal")
    });
    let existing = r
        .read_linearizable(|s| {
            s.database_accounts_of(database_id)
                .find(|acc| acc.name == a.account)
                .map(|acc| acc.id)
        })
        .await
        .expect(current);
    let account_id = match existing {
        Some(id) => id,
        None => {
            let account = NewDatabaseAccount {
                database_id,
                name: a.account.into(),
                password,
                comment: String::new(),
            };
            created(r.propose(Command::CreateDatabaseAccount(account)).await)
        }
    };
    let grant = Command::AttachDatabaseAccounts {
        principal: Principal::User(user_id),
        database_id,
        account_ids: [account_id].into(),
    };
    r.propose(grant).await.expect("authorize the user");
    let hash: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, a.token.as_bytes())
        .as_ref()
        .try_into()
        .expect("a SHA-256");
    let issue = NewToken {
        database_schema: None,
        mysql_native: (a.engine == portunus_model::DbEngine::MySql).then(|| {
            let sha1 = |b: &[u8]| {
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, b)
            };
            let mut out = [0u8; 20];
            out.copy_from_slice(sha1(sha1(a.token.as_bytes()).as_ref()).as_ref());
            out
        }),
        pg_scram: (a.engine == portunus_model::DbEngine::PostgreSql).then(|| {
            let v = portunus_proxy::db::token_verifier(a.user, a.token);
            portunus_model::ScramVerifier {
                stored_key: v.stored_key,
                server_key: v.server_key,
            }
        }),
        issued_by: None,
        token_hash: hash,
        user_id,
        asset: AssetRef::Database(database_id),
        account: TokenAccount::Hosted(account_id),
        protocol: a.engine.protocol(),
        validity_secs: Some(600),
        use_count: a.uses,
    };
    match r.propose(Command::IssueToken(issue)).await {
        Ok(portunus_model::Response::TokenIssued(_)) => {}
        other => panic!("issuing a token: {other:?}"),
    }
    (user_id, database_id)
}

/// Runs `node/tests/jdbc/JdbcProbe.java` (what DBeaver does through a JDBC driver: prepared
/// statements, a refused DROP, the connection used afterwards) against `url` with the Debian
/// MariaDB and PostgreSQL JDBC drivers; (success, stdout, stderr).
pub async fn jdbc_probe(url: &str, user: &str, password: &str) -> (bool, String, String) {
    let probe = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/jdbc/JdbcProbe.java");
    let out = tokio::process::Command::new("java")
        .arg("-cp")
        .arg("/usr/share/java/mariadb-java-client.jar:/usr/share/java/postgresql.jar")
        .args([probe, url, user, password])
        .output()
        .await
        .expect("run java (openjdk-17-jdk-headless)");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// The port of `node`'s native database listener for `engine`, once `node` has applied what
/// the cluster committed so far (a token issued through another node is known to it) and the
/// port accepts connections.
pub async fn native_port(node: &RunningNode, engine: portunus_model::DbEngine) -> u16 {
    use portunus_model::DbEngine;
    node.replica.read_linearizable(|_| ()).await.unwrap();
    let addr = match engine {
        DbEngine::MySql => node.mysql_addr.expect("the node's MySQL port"),
        DbEngine::PostgreSql => node.postgres_addr.expect("the node's PostgreSQL port"),
        other => panic!("no native port for {other:?}"),
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "{addr} accepts no connection");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    addr.port()
}

/// Creates a SQL rule named `no-drop` refusing `DROP` on the database `database_id`.
pub async fn no_drop_rule(node: &RunningNode, database_id: u64) {
    let rule = portunus_model::SqlRuleSpec {
        name: "no-drop".into(),
        comment: String::new(),
        enabled: true,
        matcher: portunus_model::SqlMatcher::Verbs(vec!["DROP".into()]),
        databases: [database_id].into(),
        users: Default::default(),
        user_groups: Default::default(),
    };
    node.replica
        .propose(portunus_model::Command::CreateSqlRule(rule))
        .await
        .expect("create the rule");
}

/// Changes the cluster settings through `node` with `change`, and waits until `serving` has
/// the change.
pub async fn change_settings(
    node: &RunningNode,
    serving: &RunningNode,
    change: impl FnOnce(&mut portunus_model::ClusterSettings),
) {
    // Read through the leader: a change made just before through a follower may not be applied
    // here yet, and writing back a stale copy would undo it.
    let mut settings = node
        .replica
        .read_linearizable(|s| s.settings().clone())
        .await
        .expect("a linearizable read");
    change(&mut settings);
    node.replica
        .propose(portunus_model::Command::UpdateSettings(settings))
        .await
        .expect("change the cluster settings");
    serving.replica.read_linearizable(|_| ()).await.unwrap();
}

/// Runs a Python script (a client driver the tests use: PyMySQL, asyncpg, psycopg,
/// mysql-connector-python); its standard output, after asserting that it succeeded.
pub async fn python(script: &str) -> String {
    let out = tokio::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .await
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `/metrics` exposition a node serves at `addr`.
pub async fn scrape(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

/// The value of one series (a name, with its labels if it has any) in an exposition.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// The value of `series` at the node serving metrics at `addr` (0 while the series has no
/// sample), once `until` holds for it; panics after ten seconds.
pub async fn metric_until(
    addr: std::net::SocketAddr,
    series: &str,
    until: impl Fn(f64) -> bool,
) -> f64 {
    let mut value = 0.0;
    for _ in 0..500 {
        let text = scrape(addr).await;
        value = match text.lines().any(|l| l.starts_with(&format!("{series} "))) {
            true => metric(&text, series),
            false => 0.0,
        };
        if until(value) {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{series} stayed at {value}");
}
