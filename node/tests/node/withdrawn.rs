//! Access ends when it is withdrawn: an open `ssh -N -L` token tunnel through a real node ends,
//! with words the OpenSSH client prints, when the user is locked, the authorization is
//! revoked, the token expires, or the session stays idle past the cluster's idle timeout.

use portunus_model::{
    AssetRef, Command, DbEngine, NewDatabase, NewDatabaseAccount, NewToken, NewUser, Principal,
    Protocol, Response, TokenAccount,
};
use portunus_node::testing::{created, node_config, wait_for};
use portunus_node::RunningNode;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);

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

struct Fixture {
    node: RunningNode,
    user_id: u64,
    database_id: u64,
    account_id: u64,
    echo: u16,
    askpass: Askpass,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let peers: BTreeMap<u64, String> =
            [(1, portunus_node::testing::free_udp().to_string())].into();
        let mut node = portunus_node::start(node_config(1, dir.path(), &peers))
            .await
            .expect("node starts");
        node.registered().await;
        wait_listening(node.ssh_addr.unwrap().port()).await;
        let echo = echo_server().await;
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
            port: echo,
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
        let fx = Fixture {
            node,
            user_id,
            database_id,
            account_id,
            echo,
            askpass: Askpass::new(),
            _dir: dir,
        };
        fx.grant().await;
        fx
    }

    async fn grant(&self) {
        let grant = Command::AttachDatabaseAccounts {
            principal: Principal::User(self.user_id),
            database_id: self.database_id,
            account_ids: [self.account_id].into(),
        };
        self.node.replica.propose(grant).await.expect("grant");
    }

    async fn propose(&self, cmd: Command) {
        self.node.replica.propose(cmd).await.expect("command");
    }

    /// A new token for alice's database account, valid for `secs`.
    async fn token(&self, name: &str, secs: u64) -> String {
        let token = format!("tok-withdrawn-{name}-Qx81");
        let hash: [u8; 32] =
            aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
                .as_ref()
                .try_into()
                .unwrap();
        let issue = NewToken {
            database_schema: None,
            mysql_native: None,
            pg_scram: None,
            issued_by: None,
            token_hash: hash,
            user_id: self.user_id,
            asset: AssetRef::Database(self.database_id),
            account: TokenAccount::Hosted(self.account_id),
            protocol: Protocol::SqlServer,
            validity_secs: Some(secs),
            use_count: None,
        };
        assert!(matches!(
            self.node.replica.propose(Command::IssueToken(issue)).await,
            Ok(Response::TokenIssued(_))
        ));
        token
    }

    /// Opens `ssh -N -L` with `token` and proves it with an echo.
    async fn tunnel(&self, token: &str) -> (tokio::process::Child, u16) {
        let local = free_port();
        let port = self.node.ssh_addr.unwrap().port();
        let mut ssh = self.askpass.ssh(port, "alice", token);
        ssh.args(["-N", "-o", "ExitOnForwardFailure=yes"])
            .args(["-L", &format!("{local}:127.0.0.1:{}", self.echo)]);
        let child = ssh.spawn().unwrap();
        wait_listening(local).await;
        let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
            .await
            .unwrap();
        conn.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        conn.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
        (child, local)
    }

    fn open_sessions(&self) -> usize {
        self.node.replica.view().read(|s| s.open_sessions().count())
    }
}

/// Waits for the ssh client to exit on its own and returns what it printed.
async fn ended(mut child: tokio::process::Child) -> String {
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the tunnel's ssh client is still running")
        .unwrap();
    assert!(!status.success(), "a cut tunnel is a failure for ssh -N");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        e.read_to_string(&mut err).await.unwrap();
    }
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_open_tunnel_ends_when_its_access_is_withdrawn() {
    let fx = Fixture::new().await;

    // The user is locked by an administrator.
    let (child, _) = fx.tunnel(&fx.token("lock", 600).await).await;
    fx.propose(Command::LockUsers {
        user_ids: vec![fx.user_id],
    })
    .await;
    let said = ended(child).await;
    assert!(said.contains("your account was locked"), "{said}");
    fx.propose(Command::UnlockUsers {
        user_ids: vec![fx.user_id],
    })
    .await;

    // The authorization is revoked.
    let (child, _) = fx.tunnel(&fx.token("revoke", 600).await).await;
    fx.propose(Command::DetachDatabaseAccounts {
        principal: Principal::User(fx.user_id),
        database_id: fx.database_id,
        account_ids: Some([fx.account_id].into()),
    })
    .await;
    let said = ended(child).await;
    assert!(
        said.contains("authorization for this asset was withdrawn"),
        "{said}"
    );
    fx.grant().await;

    // The token expires while the tunnel is open.
    let (child, _) = fx.tunnel(&fx.token("expire", 3).await).await;
    let said = ended(child).await;
    assert!(said.contains("the O&M token expired"), "{said}");

    wait_for("every session to be closed", WAIT, || {
        fx.open_sessions() == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_session_ends_after_the_idle_timeout() {
    let fx = Fixture::new().await;
    let mut settings = fx.node.replica.view().read(|s| s.settings().clone());
    settings.session_idle_timeout_secs = 2;
    fx.propose(Command::UpdateSettings(settings)).await;
    let (child, _) = fx.tunnel(&fx.token("idle", 600).await).await;
    let said = ended(child).await;
    assert!(said.contains("idle"), "{said}");
    wait_for("the idle session to be closed", WAIT, || {
        fx.open_sessions() == 0
    })
    .await;
    let reason = fx
        .node
        .replica
        .view()
        .read(|s| s.sessions().map(|x| x.end_reason).collect::<Vec<_>>());
    assert_eq!(reason, vec![Some(portunus_model::EndReason::Timeout)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_abandoned_after_its_token_was_spent_gives_the_slot_back() {
    use portunus_proxy::gate::{AuthAttempt, Secret};
    let fx = Fixture::new().await;
    let token = fx.token("abandoned", 600).await;
    let gate = fx.node.session_gate();
    let attempt = AuthAttempt::Password {
        user: "alice".into(),
        password: Secret(token),
        client: "127.0.0.1:40000".parse().unwrap(),
    };
    // The gate spent the token and admitted the session, as during an SSH login...
    let principal = gate.authenticate(attempt).await.expect("the token logs in");
    let admitted = principal.token.as_ref().expect("a token login's session");
    assert_eq!(admitted.permit().asset_name, "orders");
    assert_eq!(fx.open_sessions(), 1);
    // ...and the client goes away before the connection takes the session over.
    drop(principal);
    wait_for("the abandoned session to be given back", WAIT, || {
        fx.open_sessions() == 0
    })
    .await;
    let ends = fx
        .node
        .replica
        .view()
        .read(|s| s.sessions().map(|x| x.end_reason).collect::<Vec<_>>());
    assert_eq!(ends, vec![Some(portunus_model::EndReason::Error)]);
}
