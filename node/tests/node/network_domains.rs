//! Network domains of proxy type with real proxies: the target (a real sshd) listens only on
//! the loopback of its own network namespace, which the bastion cannot reach; an OpenSSH sshd
//! (as the SSH proxy, password login), microsocks (SOCKS5, user/password) and tinyproxy
//! (HTTP CONNECT, Basic authorization) listen on the namespace's side of a veth pair. The
//! engineer's OpenSSH client reaches the host through each kind of proxy, the Slave takes over
//! from a dead Master, the SSH proxy's host key is trusted on first use and then held, wrong
//! proxy logins and a wrong pin are refused in words, a token tunnel crosses a proxy, and
//! `GetNetworkDomain` with `CheckProxyState` reports each proxy through the official SDK.
//!
//! Needs root (network namespaces, bind mounts), `ip`, `unshare`, sshd, microsocks, tinyproxy.

use portunus_model::{
    AssetRef, Command, DbEngine, DomainKind, NetworkDomainSpec, NetworkProxy, NewDatabase,
    NewDatabaseAccount, NewHost, NewHostAccount, NewToken, NewUser, Principal, Protocol, Response,
    Role, TokenAccount,
};
use portunus_node::testing::{created, three_nodes};
use portunus_node::RunningNode;
use portunus_proxy::testing::openssh::{free_port, keygen, wait_listening, Askpass};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command as Process};

const WAIT: Duration = Duration::from_secs(30);
const ALICE_PASSWORD: &str = "alice-Passw0rd";
const JUMP_PASSWORD: &str = "jump-Passw0rd";
const SOCKS_PASSWORD: &str = "sock-Passw0rd";
const WEB_PASSWORD: &str = "web-Passw0rd";

fn run(args: &[&str]) {
    let status = std::process::Command::new(args[0])
        .args(&args[1..])
        .status()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(status.success(), "{args:?} failed: {status}");
}

/// A network namespace joined to this one by a veth pair, and the processes started in it.
struct Netns {
    name: String,
    veth: String,
    /// The namespace's address on the veth pair (reachable from the bastion).
    inside: String,
    children: Vec<Child>,
}

impl Netns {
    fn create() -> Netns {
        let pid = std::process::id();
        let name = format!("ptn{pid}");
        let (veth, peer) = (format!("ptv{pid}a"), format!("ptv{pid}b"));
        let base = ((pid >> 8) % 63) * 4;
        let net = format!("198.18.{}", pid & 255);
        let (outside, inside) = (format!("{net}.{}", base + 1), format!("{net}.{}", base + 2));
        run(&["ip", "netns", "add", &name]);
        run(&[
            "ip", "link", "add", &veth, "type", "veth", "peer", "name", &peer,
        ]);
        run(&["ip", "link", "set", &peer, "netns", &name]);
        run(&["ip", "addr", "add", &format!("{outside}/30"), "dev", &veth]);
        run(&["ip", "link", "set", &veth, "up"]);
        let exec = ["ip", "netns", "exec", name.as_str()];
        run(&[
            &exec[..],
            &["ip", "addr", "add", &format!("{inside}/30"), "dev", &peer],
        ]
        .concat());
        run(&[&exec[..], &["ip", "link", "set", &peer, "up"]].concat());
        run(&[&exec[..], &["ip", "link", "set", "lo", "up"]].concat());
        Netns {
            name,
            veth,
            inside,
            children: Vec::new(),
        }
    }

    /// Runs `script` with `sh` inside the namespace until the fixture is dropped.
    fn spawn(&mut self, script: &str) {
        let child = Process::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", script])
            .kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start a process in the namespace");
        self.children.push(child);
    }

    /// Waits until `port` of the namespace's veth address accepts connections.
    async fn listening(&self, port: u16) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect((self.inside.as_str(), port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nothing listens on {}:{port} in the namespace",
                self.inside
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.start_kill();
        }
        let _ = std::process::Command::new("ip")
            .args(["link", "del", &self.veth])
            .status();
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

const SSH_PROXY_PORT: u16 = 22;
const SOCKS_PORT: u16 = 1080;
const HTTP_PORT: u16 = 8888;

/// What runs in the namespace.
struct Far {
    ns: Netns,
    /// The target sshd's port on the namespace's loopback (nothing listens on it here).
    target_port: u16,
    /// The key the bastion logs in to the target with (root).
    client_key: String,
    /// The sshd's host key fingerprint (it is the target and the SSH proxy).
    host_key_fingerprint: String,
    _dir: tempfile::TempDir,
}

fn fingerprint(public_key: &Path) -> String {
    let out = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .expect("ssh-keygen -lf");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let fp = text.split_whitespace().nth(1).expect("a fingerprint");
    assert!(fp.starts_with("SHA256:"), "{text}");
    fp.to_string()
}

/// The passwd and shadow files the namespace's sshd sees: this machine's, plus `jump`
/// (the SSH proxy's login, with a password).
fn accounts(dir: &Path) -> (String, String) {
    let hash = std::process::Command::new("openssl")
        .args(["passwd", "-6", JUMP_PASSWORD])
        .output()
        .expect("openssl passwd");
    let hash = String::from_utf8_lossy(&hash.stdout).trim().to_string();
    let mut passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    passwd.push_str("jump:x:0:0:proxy:/root:/bin/sh\n");
    let mut shadow = std::fs::read_to_string("/etc/shadow").expect("read /etc/shadow");
    shadow.push_str(&format!("jump:{hash}:19000:0:99999:7:::\n"));
    let (p, s) = (dir.join("passwd"), dir.join("shadow"));
    std::fs::write(&p, passwd).expect("write passwd");
    std::fs::write(&s, shadow).expect("write shadow");
    (p.display().to_string(), s.display().to_string())
}

async fn far_side() -> Far {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut ns = Netns::create();
    let (host_key, _, _) = keygen(dir.path(), "host_key");
    let host_key_fingerprint = fingerprint(&dir.path().join("host_key.pub"));
    let (_, client_key, client_pub) = keygen(dir.path(), "bastion_key");
    let auth_keys = dir.path().join("authorized_keys");
    std::fs::write(&auth_keys, format!("{client_pub}\n")).expect("authorized_keys");
    std::fs::create_dir_all("/run/sshd").expect("privsep dir");
    // Free here too, so nothing on the bastion's side answers on it by chance.
    let target_port = free_port();
    let config = dir.path().join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "ListenAddress 127.0.0.1:{target_port}\nListenAddress {}:{SSH_PROXY_PORT}\n\
             HostKey {}\nPidFile none\nUsePAM no\nStrictModes no\nPermitRootLogin yes\n\
             PubkeyAuthentication yes\nPasswordAuthentication yes\n\
             KbdInteractiveAuthentication no\nAuthorizedKeysFile {}\nAllowTcpForwarding yes\n\
             LogLevel ERROR\n",
            ns.inside,
            host_key.display(),
            auth_keys.display()
        ),
    )
    .expect("sshd_config");
    let (passwd, shadow) = accounts(dir.path());
    ns.spawn(&format!(
        "exec unshare -m --propagation private sh -c 'mount --bind {passwd} /etc/passwd && \
         mount --bind {shadow} /etc/shadow && exec /usr/sbin/sshd -D -e -f {}'",
        config.display()
    ));
    ns.spawn(&format!(
        "exec microsocks -i {} -p {SOCKS_PORT} -u sockuser -P {SOCKS_PASSWORD}",
        ns.inside
    ));
    let tinyproxy = dir.path().join("tinyproxy.conf");
    std::fs::write(
        &tinyproxy,
        format!(
            "User nobody\nGroup nogroup\nPort {HTTP_PORT}\nListen {}\nTimeout 60\n\
             MaxClients 20\nBasicAuth webuser {WEB_PASSWORD}\nLogLevel Error\n",
            ns.inside
        ),
    )
    .expect("tinyproxy.conf");
    ns.spawn(&format!("exec tinyproxy -d -c {}", tinyproxy.display()));
    for port in [SSH_PROXY_PORT, SOCKS_PORT, HTTP_PORT] {
        ns.listening(port).await;
    }
    Far {
        ns,
        target_port,
        client_key,
        host_key_fingerprint,
        _dir: dir,
    }
}

fn proxy(
    node: &RunningNode,
    kind: &str,
    node_type: &str,
    (address, port): (&str, u16),
    login: Option<(&str, &str)>,
) -> NetworkProxy {
    let purpose = portunus_node::seal::purpose::NETWORK_PROXY_PASSWORD;
    NetworkProxy {
        proxy_type: kind.into(),
        address: address.into(),
        port,
        user: login.map(|l| l.0.to_string()).unwrap_or_default(),
        password: login.map(|l| node.seal(purpose, l.1.as_bytes()).expect("seal")),
        node_type: node_type.into(),
        host_key_fingerprint: None,
    }
}

async fn domain(node: &RunningNode, name: &str, proxies: Vec<NetworkProxy>) -> u64 {
    let spec = NetworkDomainSpec {
        name: name.into(),
        kind: DomainKind::Proxy,
        comment: String::new(),
        proxies,
    };
    created(
        node.replica
            .propose(Command::CreateNetworkDomain(spec))
            .await,
    )
}

async fn move_host(node: &RunningNode, domain: u64, host: u64) {
    let cmd = Command::MoveHostsToNetworkDomain {
        domain_id: Some(domain),
        host_ids: vec![host],
    };
    node.replica.propose(cmd).await.expect("move the host");
}

/// alice (password) may log in to `web-01` (the far sshd, root, hosted key); the host's id.
async fn far_host(node: &RunningNode, far: &Far) -> u64 {
    let r = &node.replica;
    let alice = NewUser {
        name: "alice".into(),
        password_hash: Some(portunus_node::hash_password(ALICE_PASSWORD)),
        ..Default::default()
    };
    let user_id = created(r.propose(Command::CreateUser(alice)).await);
    let host = NewHost {
        name: "web-01".into(),
        private_address: "127.0.0.1".into(),
        ports: [(Protocol::Ssh, far.target_port)].into(),
        ..Default::default()
    };
    let host_id = created(r.propose(Command::CreateHost(host)).await);
    let purpose = portunus_node::seal::purpose::HOST_PRIVATE_KEY;
    let key = node.seal(purpose, far.client_key.as_bytes()).expect("seal");
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
    r.propose(grant).await.expect("authorize alice");
    host_id
}

/// Runs `echo <marker>` on web-01 through the bastion's SSH port; (succeeded, stdout, stderr).
async fn exec(ssh_port: u16, marker: &str) -> (bool, String, String) {
    let askpass = Askpass::new();
    let mut ssh = askpass.ssh(ssh_port, "alice@root@web-01", ALICE_PASSWORD);
    ssh.arg(format!("echo {marker}-$((6*7))"));
    let out = tokio::time::timeout(WAIT, ssh.output())
        .await
        .expect("the ssh client ends")
        .expect("run ssh");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

async fn reaches(ssh_port: u16, marker: &str) {
    let (ok, out, err) = exec(ssh_port, marker).await;
    assert!(ok, "{marker}: stdout {out:?}, stderr {err:?}");
    assert_eq!(out.trim(), format!("{marker}-42"), "stderr {err:?}");
}

async fn refused(ssh_port: u16, marker: &str, words: &str) {
    let (ok, out, err) = exec(ssh_port, marker).await;
    assert!(!ok, "{marker} ran: {out:?}");
    assert!(!out.contains(marker), "{out:?}");
    assert!(err.contains(words), "{words:?} not in stderr {err:?}");
    for secret in [JUMP_PASSWORD, SOCKS_PASSWORD, WEB_PASSWORD] {
        assert!(
            !err.contains(secret),
            "a proxy password reached the engineer: {err:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_are_reached_through_each_kind_of_proxy() {
    let far = far_side().await;
    let inside = far.ns.inside.as_str();
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let host = far_host(&nodes[0], &far).await;
    let server = &nodes[1];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    let port = server.ssh_addr.unwrap().port();
    wait_listening(port).await;

    // Straight, the host is out of reach: only the namespace's loopback has it.
    refused(port, "direct", "unreachable").await;

    // SOCKS5: the Master is down, the Slave (microsocks, user/password) carries the session.
    let n0 = &nodes[0];
    let dead = proxy(n0, "Socks5Proxy", "Master", (inside, 1), None);
    let login = Some(("sockuser", SOCKS_PASSWORD));
    let socks = proxy(n0, "Socks5Proxy", "Slave", (inside, SOCKS_PORT), login);
    let socks_domain = domain(n0, "socks-zone", vec![dead, socks]).await;
    move_host(n0, socks_domain, host).await;
    reaches(port, "via-socks5").await;

    // HTTP CONNECT with Basic authorization (tinyproxy).
    let login = Some(("webuser", WEB_PASSWORD));
    let web = proxy(n0, "HTTPProxy", "Master", (inside, HTTP_PORT), login);
    let http_domain = domain(n0, "http-zone", vec![web]).await;
    move_host(n0, http_domain, host).await;
    reaches(port, "via-http").await;

    // SSH: a password login to the proxy, then a direct-tcpip channel; its key trusted on
    // first use, replicated to every node.
    let login = Some(("jump", JUMP_PASSWORD));
    let jump = proxy(n0, "SSHProxy", "Master", (inside, SSH_PROXY_PORT), login);
    let ssh_domain = domain(n0, "ssh-zone", vec![jump.clone()]).await;
    move_host(n0, ssh_domain, host).await;
    reaches(port, "via-ssh").await;
    let third = &nodes[2];
    third.replica.read_linearizable(|_| ()).await.unwrap();
    let pinned = third.replica.view().read(|s| {
        s.network_domain(ssh_domain)
            .map(|d| d.spec.proxies[0].host_key_fingerprint.clone())
    });
    assert_eq!(pinned, Some(Some(far.host_key_fingerprint.clone())));
    reaches(port, "via-ssh-again").await;

    // A change read before the key was trusted (no fingerprint in it) keeps the trusted key.
    let spec = NetworkDomainSpec {
        name: "ssh-zone".into(),
        kind: DomainKind::Proxy,
        comment: "changed".into(),
        proxies: vec![jump.clone()],
    };
    let update = Command::UpdateNetworkDomain {
        domain_id: ssh_domain,
        spec,
        forget_host_keys: Vec::new(),
    };
    n0.replica
        .propose(update)
        .await
        .expect("change the comment");
    // Read through the leader, so that the change is applied here (it is the changed comment
    // that shows it), not the state before it, which holds the key too.
    let kept = n0
        .replica
        .read_linearizable(|s| {
            s.network_domain(ssh_domain).map(|d| {
                (
                    d.spec.comment.clone(),
                    d.spec.proxies[0].host_key_fingerprint.clone(),
                )
            })
        })
        .await
        .expect("a linearizable read");
    assert_eq!(
        kept,
        Some((
            "changed".to_string(),
            Some(far.host_key_fingerprint.clone())
        ))
    );

    // Another key than the trusted one: refused before the proxy password is sent.
    let mut wrong = jump.clone();
    wrong.host_key_fingerprint = Some("SHA256:AAAAnotTheProxysKeyAAAAAAAAAAAAAAAAAAAAAAA".into());
    let spec = NetworkDomainSpec {
        name: "ssh-zone".into(),
        kind: DomainKind::Proxy,
        comment: String::new(),
        proxies: vec![wrong],
    };
    let update = Command::UpdateNetworkDomain {
        domain_id: ssh_domain,
        spec,
        forget_host_keys: Vec::new(),
    };
    n0.replica.propose(update).await.expect("pin another key");
    refused(port, "pin", "not the pinned").await;

    // Wrong proxy logins, in words naming the proxy and the user.
    let login = Some(("sockuser", "not-the-password"));
    let bad = proxy(n0, "Socks5Proxy", "Master", (inside, SOCKS_PORT), login);
    let bad_socks = domain(n0, "bad-socks", vec![bad]).await;
    move_host(n0, bad_socks, host).await;
    refused(port, "socks-login", "refused the login of user sockuser").await;
    let login = Some(("jump", "not-the-password"));
    let bad = proxy(n0, "SSHProxy", "Master", (inside, SSH_PROXY_PORT), login);
    let bad_jump = domain(n0, "bad-jump", vec![bad]).await;
    move_host(n0, bad_jump, host).await;
    refused(port, "jump-login", "refused the login of user jump").await;

    // The administrator's check of each proxy, through the official SDK on node 3.
    // A check sends no password to an SSH proxy whose key is not trusted yet: a fresh SSH
    // proxy domain is reported Unavailable (with the key it presented).
    let login = Some(("jump", JUMP_PASSWORD));
    let fresh = proxy(n0, "SSHProxy", "Master", (inside, SSH_PROXY_PORT), login);
    let fresh_jump = domain(n0, "fresh-jump", vec![fresh]).await;
    let domains = [socks_domain, bad_socks, http_domain, fresh_jump];
    let states = check_proxy_state(third, &domains).await;
    let expected = [
        format!("{socks_domain} Master Unavailable CHECK_PWD_NETWORK_ERR"),
        format!("{socks_domain} Slave Available "),
        format!("{bad_socks} Master Unavailable CHECK_PWD_FAILED"),
        format!("{http_domain} Master Available "),
        format!("{fresh_jump} Master Unavailable UNEXPECTED"),
    ];
    assert_eq!(states.lines().collect::<Vec<_>>(), expected, "{states}");
}

/// `GetNetworkDomain` with `CheckProxyState=true` through the SDK: one line per proxy,
/// `<domain> <NodeType> <ProxyState> <ProxyStateErrorCode>`.
async fn check_proxy_state(node: &RunningNode, domains: &[u64]) -> String {
    let instance = node.instance_id().expect("the instance id");
    let secret = "nd-check-secret-0123456789";
    let sealed = node
        .seal(portunus_ops::api::ACCESS_KEY_PURPOSE, secret.as_bytes())
        .expect("seal");
    let key = Command::CreateAccessKey {
        access_key_id: "nd-admin".into(),
        secret: sealed,
        role: Role::Admin,
        user_id: None,
        comment: String::new(),
    };
    node.replica.propose(key).await.expect("an admin key");
    let ids: Vec<String> = domains.iter().map(u64::to_string).collect();
    let script = format!(
        "import sys; sys.path.insert(0, '{}/../ops/tests')\n\
         import sdk_common\n\
         from alibabacloud_yundun_bastionhost20191209 import models as m\n\
         c = sdk_common.client()\n\
         for d in {ids:?}:\n\
         \x20   r = c.get_network_domain(m.GetNetworkDomainRequest(instance_id='{instance}', \
         network_domain_id=d, check_proxy_state=True))\n\
         \x20   for p in r.body.network_domain.proxies:\n\
         \x20       print(d, p.node_type, p.proxy_state, p.proxy_state_error_code)\n",
        env!("CARGO_MANIFEST_DIR")
    );
    let api = node.api_addr.expect("an API address");
    let out = Process::new("python3")
        .args(["-c", &script])
        .env("PORTUNUS_API_ENDPOINT", api.to_string())
        .env("PORTUNUS_AK_ID", "nd-admin")
        .env("PORTUNUS_AK_SECRET", secret)
        .output()
        .await
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_tunnel_crosses_an_http_proxy() {
    let far = far_side().await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let n0 = &nodes[0];
    let login = Some(("webuser", WEB_PASSWORD));
    let web = proxy(
        n0,
        "HTTPProxy",
        "Master",
        (&far.ns.inside, HTTP_PORT),
        login,
    );
    let zone = domain(n0, "http-zone", vec![web]).await;
    let token = pipe_token(n0, far.target_port, zone).await;
    let server = &nodes[1];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    let port = server.ssh_addr.unwrap().port();
    wait_listening(port).await;
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(port, "alice", &token);
    let forward = format!("{local}:127.0.0.1:{}", far.target_port);
    ssh.args(["-N", "-L", &forward]);
    let mut child = ssh.spawn().expect("ssh -L");
    wait_listening(local).await;
    // The far sshd's banner, through the tunnel and the proxy.
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .expect("connect to the tunnel");
    let mut banner = [0u8; 8];
    tokio::time::timeout(WAIT, conn.read_exact(&mut banner))
        .await
        .expect("the banner in time")
        .expect("read the banner");
    assert_eq!(&banner, b"SSH-2.0-");
    child.kill().await.expect("stop ssh");
}

/// alice's single-use token for the database `far-pipe` (a type carried as a pipe) at the
/// far namespace's loopback `port`, in network domain `zone`.
async fn pipe_token(node: &RunningNode, port: u16, zone: u64) -> String {
    let r = &node.replica;
    let alice = NewUser {
        name: "alice".into(),
        ..Default::default()
    };
    let user_id = created(r.propose(Command::CreateUser(alice)).await);
    let db = NewDatabase {
        name: "far-pipe".into(),
        engine: DbEngine::SqlServer,
        address: "127.0.0.1".into(),
        port,
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: Some(zone),
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
    r.propose(grant).await.expect("authorize alice");
    let token = "tok-Fr4Pz8Lq2Wn6Xc1V".to_string();
    let hash: [u8; 32] = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .try_into()
        .expect("32 bytes");
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
    let issued = r.propose(Command::IssueToken(issue)).await;
    assert!(matches!(issued, Ok(Response::TokenIssued(_))), "{issued:?}");
    token
}
