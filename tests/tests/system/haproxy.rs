//! A real HAProxy, configured from the example in `deploy/haproxy.cfg`, in front of three real
//! nodes: token logins through it keep working while a node is killed with SIGKILL, and new
//! connections go only to ready nodes (a draining node gets none). Behind it, SSH limits and
//! logs and the API's admin audit trail see the real client (PROXY v2 on both ports).

use portunus_proxy::testing::openssh::{wait_listening, Askpass};
use portunus_tests::{free_tcp, portunus_bin, wait_until, ProcCluster};
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const AK_ID: &str = "PTNhaproxytestkey";
const AK_SECRET: &str = "haproxy-test-secret-0123456789";

fn repo(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn echo_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut s);
            });
        }
    });
    port
}

/// The address HAProxy connects to the nodes from (the nodes trust its PROXY headers).
const HAPROXY_SOURCE: &str = "127.0.0.2";
const CA_FILE: &str = "/etc/portunus/api-ca.pem";

/// The example configuration with this cluster's loopback addresses and plaintext APIs, plus
/// a stats socket to watch server states; HAProxy connects to the SSH and API ports from
/// [`HAPROXY_SOURCE`].
fn haproxy_config(c: &ProcCluster, ssh: u16, api: u16, socket: &Path) -> String {
    haproxy_config_with_databases(c, ssh, api, (free_tcp().port(), free_tcp().port()), socket)
}

/// [`haproxy_config`] with the native MySQL and PostgreSQL frontends on `databases`.
fn haproxy_config_with_databases(
    c: &ProcCluster,
    ssh: u16,
    api: u16,
    databases: (u16, u16),
    socket: &Path,
) -> String {
    let example = std::fs::read_to_string(repo("deploy/haproxy.cfg")).unwrap();
    assert!(
        example.contains("send-proxy-v2"),
        "the SSH servers get PROXY headers"
    );
    let mut out = example
        .replacen(
            "global\n",
            &format!(
                "global\n    stats socket {} mode 600 level admin\n",
                socket.display()
            ),
            1,
        )
        .replace("bind :60022", &format!("bind 127.0.0.1:{ssh}"))
        .replace("bind :8443", &format!("bind 127.0.0.1:{api}"))
        .replace("bind :33306", &format!("bind 127.0.0.1:{}", databases.0))
        .replace("bind :35432", &format!("bind 127.0.0.1:{}", databases.1))
        .replace(&format!(" check-ssl verify required ca-file {CA_FILE}"), "")
        .replace(&format!(" ssl verify required ca-file {CA_FILE}"), "")
        .replace(
            "    balance leastconn\n",
            &format!("    balance leastconn\n    source {HAPROXY_SOURCE}\n"),
        )
        .replace(
            "    balance roundrobin\n",
            &format!("    balance roundrobin\n    source {HAPROXY_SOURCE}\n"),
        );
    let servers: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("server "))
        .collect();
    assert!(
        servers.len() == 12 && servers.iter().all(|l| l.contains("send-proxy-v2")),
        "the SSH, database and API servers get PROXY headers: {servers:?}"
    );
    assert!(!out.contains(CA_FILE), "every TLS word was replaced");
    for n in &c.nodes {
        let host = format!("10.0.0.{}", n.id);
        out = out
            .replace(
                &format!("{host}:60022 check port 8443"),
                &format!("{} check port {}", n.ssh, n.api.port()),
            )
            .replace(
                &format!("{host}:33306 check port 8443"),
                &format!("{} check port {}", n.mysql, n.api.port()),
            )
            .replace(
                &format!("{host}:35432 check port 8443"),
                &format!("{} check port {}", n.postgres, n.api.port()),
            )
            .replace(&format!("{host}:8443"), &n.api.to_string());
    }
    out
}

/// Whether HAProxy currently considers SSH server `node{id}` up.
fn haproxy_server_up(socket: &Path, id: u64) -> Option<bool> {
    use std::os::unix::net::UnixStream;
    let mut s = UnixStream::connect(socket).ok()?;
    s.write_all(b"show servers state portunus_ssh_nodes\n")
        .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let name = format!("node{id}");
    let line = out
        .lines()
        .find(|l| l.split_whitespace().nth(3) == Some(name.as_str()))?;
    // Columns: be_id be_name srv_id srv_name srv_addr srv_op_state ...; 2 means running.
    Some(line.split_whitespace().nth(5)? == "2")
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_through_haproxy_survive_a_killed_node_and_skip_a_draining_one() {
    let mut c = ProcCluster::new(3).unwrap();
    // The example as it is, with a CA file that exists here.
    let example = std::fs::read_to_string(repo("deploy/haproxy.cfg")).unwrap();
    let checked = c.dir.path().join("example.cfg");
    let ca = "/etc/ssl/certs/ca-certificates.crt";
    std::fs::write(&checked, example.replace(CA_FILE, ca)).unwrap();
    let check = Command::new("haproxy")
        .args(["-c", "-q", "-f"])
        .arg(&checked)
        .status()
        .unwrap();
    assert!(check.success(), "the example configuration is valid");

    c.env = vec![
        ("PORTUNUS_PROXY_PROTOCOL_FROM".into(), HAPROXY_SOURCE.into()),
        ("PORTUNUS_BOOTSTRAP_ACCESS_KEY_ID".into(), AK_ID.into()),
        (
            "PORTUNUS_BOOTSTRAP_ACCESS_KEY_SECRET".into(),
            AK_SECRET.into(),
        ),
    ];
    c.spawn_all().unwrap();
    c.wait_stable(START).unwrap();
    let nodes = &c.nodes;
    wait_until("the first administrator", START, || {
        nodes
            .iter()
            .any(|n| n.output().contains("administrator created"))
    })
    .unwrap();

    let (ssh_port, api_port) = (free_tcp().port(), free_tcp().port());
    let cfg = c.dir.path().join("haproxy.cfg");
    let socket = c.dir.path().join("haproxy.sock");
    std::fs::write(&cfg, haproxy_config(&c, ssh_port, api_port, &socket)).unwrap();
    let _haproxy = Haproxy(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg)
            .spawn()
            .unwrap(),
    );
    wait_listening(ssh_port).await;
    let all_up = || (1..=3).all(|id| haproxy_server_up(&socket, id) == Some(true));
    wait_until("HAProxy to see every node ready", START, all_up).unwrap();

    // A token for a database (an echo server), obtained with the SDK through HAProxy's API port.
    let echo = echo_server();
    let out_file = c.dir.path().join("token.json");
    let run = Command::new("python3")
        .arg(repo("ops/tests/sdk_smoke.py"))
        .env("PORTUNUS_API_ENDPOINT", format!("127.0.0.1:{api_port}"))
        .env("PORTUNUS_AK_ID", AK_ID)
        .env("PORTUNUS_AK_SECRET", AK_SECRET)
        .env("PORTUNUS_SMOKE_DB_PORT", echo.to_string())
        .env("PORTUNUS_SMOKE_OUT", &out_file)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let issued: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let (user, token) = (
        issued["user"].as_str().unwrap().to_string(),
        issued["token"].as_str().unwrap().to_string(),
    );
    let login = crate::login::Login {
        askpass: Askpass::new(),
        user,
        token,
        echo,
    };

    for i in 0..6 {
        if let Err(e) = login.tunnel(ssh_port).await {
            panic!("login {i} before the kill: {e}");
        }
    }
    let leader = c.wait_stable(START).unwrap();
    c.node(leader).kill();
    for i in 0..9 {
        if let Err(e) = login.tunnel(ssh_port).await {
            panic!("login {i} after killing node {leader}: {e}");
        }
    }

    // A draining node reports not-ready; HAProxy stops sending it new connections, so every
    // login succeeds (a login reaching it would be refused as "draining").
    let survivor = c.nodes.iter().find(|n| n.id != leader).unwrap().id;
    let victim = &c.nodes[survivor as usize - 1];
    // Hold a session on it so that its drain lasts (grace 5 s in tests).
    let held = login
        .tunnel(victim.ssh.port())
        .await
        .unwrap_or_else(|e| panic!("a session held on node {survivor}: {e}"));
    let pid = victim.pid().unwrap();
    assert!(Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    wait_until("the draining node reports not ready", START, || {
        !victim.ready()
    })
    .unwrap();
    wait_until("HAProxy to mark the draining node down", START, || {
        haproxy_server_up(&socket, survivor) == Some(false)
    })
    .unwrap();
    for i in 0..5 {
        if let Err(e) = login.tunnel(ssh_port).await {
            panic!("login {i} while node {survivor} drains: {e}");
        }
    }
    drop(held);
}

/// Runs `ssh ... true` from `source` through `port`; whether authentication succeeded (the
/// gateway then speaks), from the client's error output.
async fn logs_in_from(askpass: &Askpass, source: &str, port: u16, user: &str, pw: &str) -> bool {
    let out = askpass
        .ssh(port, user, pw)
        .args([
            "-b",
            source,
            "-o",
            "PreferredAuthentications=password",
            "true",
        ])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("Permission denied") {
        return false;
    }
    assert!(err.contains("portunus:"), "unexpected client output: {err}");
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_limits_and_logs_see_the_real_client() {
    let mut c = ProcCluster::new(1).unwrap();
    c.env = vec![
        ("PORTUNUS_PROXY_PROTOCOL_FROM".into(), HAPROXY_SOURCE.into()),
        ("PORTUNUS_BOOTSTRAP_ACCESS_KEY_ID".into(), AK_ID.into()),
        (
            "PORTUNUS_BOOTSTRAP_ACCESS_KEY_SECRET".into(),
            AK_SECRET.into(),
        ),
    ];
    c.spawn_all().unwrap();
    c.wait_stable(START).unwrap();
    let (ssh_port, api_port) = (free_tcp().port(), free_tcp().port());
    let (mysql_port, pg_port) = (free_tcp().port(), free_tcp().port());
    let cfg = c.dir.path().join("haproxy.cfg");
    let socket = c.dir.path().join("haproxy.sock");
    let databases = (mysql_port, pg_port);
    let one_node: String =
        haproxy_config_with_databases(&c, ssh_port, api_port, databases, &socket)
            .lines()
            .filter(|l| !l.contains("10.0.0."))
            .map(|l| format!("{l}\n"))
            .collect();
    std::fs::write(&cfg, one_node).unwrap();
    let _haproxy = Haproxy(
        Command::new("haproxy")
            .args(["-db", "-f"])
            .arg(&cfg)
            .spawn()
            .unwrap(),
    );
    wait_listening(ssh_port).await;
    wait_until("HAProxy to see the node ready", START, || {
        haproxy_server_up(&socket, 1) == Some(true)
    })
    .unwrap();
    wait_until("the first administrator", START, || {
        c.nodes[0].output().contains("administrator created")
    })
    .unwrap();
    let echo = echo_server();
    let out_file = c.dir.path().join("token.json");
    let run = Command::new("python3")
        .arg(repo("ops/tests/sdk_smoke.py"))
        .env("PORTUNUS_API_ENDPOINT", format!("127.0.0.1:{api_port}"))
        .env("PORTUNUS_AK_ID", AK_ID)
        .env("PORTUNUS_AK_SECRET", AK_SECRET)
        .env("PORTUNUS_SMOKE_DB_PORT", echo.to_string())
        .env("PORTUNUS_SMOKE_OUT", &out_file)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let issued: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let (user, token) = (
        issued["user"].as_str().unwrap(),
        issued["token"].as_str().unwrap(),
    );
    let askpass = Askpass::new();

    // A guesser at 127.0.0.4 uses up its address's allowance of failed logins (20 a minute)...
    for i in 0..21 {
        let name = format!("guess{i}");
        assert!(!logs_in_from(&askpass, "127.0.0.4", ssh_port, &name, "wrong").await);
    }
    let node = &c.nodes[0];
    wait_until("the guesser to be rate limited", START, || {
        node.output()
            .lines()
            .any(|l| l.contains("rate limited") && l.contains("127.0.0.4:"))
    })
    .unwrap();
    // ...while an engineer at 127.0.0.3, behind the same HAProxy, logs in.
    assert!(
        logs_in_from(&askpass, "127.0.0.3", ssh_port, user, token).await,
        "the engineer is not shut out by another client's failures"
    );
    let logged = node.output();
    assert!(
        logged
            .lines()
            .any(|l| l.contains("login accepted") && l.contains("127.0.0.3:")),
        "the node logs the engineer's own address:\n{logged}"
    );
    assert!(
        !logged
            .lines()
            .any(|l| l.contains("login") && l.contains(&format!("{HAPROXY_SOURCE}:"))),
        "no login is attributed to HAProxy's address:\n{logged}"
    );

    // The native database ports read the PROXY header too: a MySQL and a PostgreSQL login, each
    // with a wrong token, are refused in their protocols and logged under the client's address
    // (127.0.0.1), never HAProxy's.
    let out = tokio::process::Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &mysql_port.to_string()])
        .args(["--skip-ssl", "-u", user, "-pnot-a-token"])
        .args(["-e", "SELECT 1"])
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Access denied for user"),
        "{err}"
    );
    let out = tokio::process::Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={pg_port} user={user} dbname=shop sslmode=disable"
        ))
        .args(["-w", "-c", "SELECT 1"])
        .env("PGPASSWORD", "not-a-token")
        .output()
        .await
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("password authentication failed"),
        "{err}"
    );
    let logged = node.output();
    for what in ["mysql", "postgres"] {
        let refused = format!("{what}: login refused");
        let lines: Vec<&str> = logged.lines().filter(|l| l.contains(&refused)).collect();
        assert!(
            !lines.is_empty() && lines.iter().all(|l| l.contains("127.0.0.1:")),
            "the node logs the {what} client's own address: {lines:?}"
        );
    }

    // The SDK's calls went through HAProxy's API port: the admin audit trail names the SDK's
    // own address (127.0.0.1), never HAProxy's.
    let out = Command::new(portunus_bin())
        .args(["admin", "--json", "--endpoint"])
        .arg(format!("http://{}", node.api))
        .args(["--access-key-id", AK_ID, "--access-key-secret", AK_SECRET])
        .args(["audit", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let trail: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let sources: Vec<&str> = trail
        .as_array()
        .expect("a list of entries")
        .iter()
        .map(|e| e["Source"].as_str().expect("a source address"))
        .collect();
    assert!(
        sources.len() >= 5,
        "the smoke scenario's calls are in the trail: {sources:?}"
    );
    assert!(
        sources.iter().all(|s| s.starts_with("127.0.0.1:")),
        "every call is attributed to the SDK's address, none to HAProxy's: {sources:?}"
    );
}
