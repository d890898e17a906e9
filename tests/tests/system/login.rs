//! Token logins with the OpenSSH client: a `ssh -N -L` tunnel to the echo "database", proven by
//! an echo round trip, and retried until one works.

use portunus_proxy::testing::openssh::{free_port, Askpass};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

/// How long one login, or a series of retried logins, may take.
const LOGIN: Duration = Duration::from_secs(30);

/// What a test needs to log in: the token, its user, the echo "database" it reaches.
pub struct Login {
    pub askpass: Askpass,
    pub user: String,
    pub token: String,
    pub echo: u16,
}

/// A token tunnel (`ssh -N -L`) through one node.
pub struct Tunnel {
    _ssh: tokio::process::Child,
    local: u16,
}

impl Tunnel {
    /// The local end of the `-L` forward.
    pub fn local_port(&self) -> u16 {
        self.local
    }

    /// A TCP connection through the tunnel to the echo server.
    pub fn connect(&self) -> std::io::Result<TcpStream> {
        let s = TcpStream::connect(("127.0.0.1", self.local))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(s)
    }
}

/// Send `msg` and read it back.
pub fn echo_through(conn: &mut TcpStream, msg: &[u8]) -> bool {
    let mut back = vec![0u8; msg.len()];
    conn.write_all(msg).is_ok() && conn.read_exact(&mut back).is_ok() && back == msg
}

impl Login {
    /// Log in through `ssh_port` and prove the tunnel with an echo; the client's error output
    /// when the login fails.
    pub async fn tunnel(&self, ssh_port: u16) -> Result<Tunnel, String> {
        let local = free_port();
        let mut cmd = self.askpass.ssh(ssh_port, &self.user, &self.token);
        cmd.args(["-N", "-o", "ExitOnForwardFailure=yes"])
            .args(["-L", &format!("{local}:127.0.0.1:{}", self.echo)]);
        let mut ssh = cmd.spawn().map_err(|e| e.to_string())?;
        let end = Instant::now() + LOGIN;
        while Instant::now() < end {
            if let Ok(Some(status)) = ssh.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = ssh.stderr.take() {
                    let _ = e.read_to_string(&mut err).await;
                }
                return Err(format!("ssh exited ({status}): {err}"));
            }
            if let Ok(mut conn) = TcpStream::connect(("127.0.0.1", local)) {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                if echo_through(&mut conn, b"select 1;") {
                    return Ok(Tunnel { _ssh: ssh, local });
                }
                return Err("the tunnel did not pass bytes".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err("no answer within the login timeout".into())
    }

    /// Retry logins through `ssh_port` until one works; how long it took from `since`.
    pub async fn first_success(&self, ssh_port: u16, since: Instant) -> Duration {
        let mut failures = Vec::new();
        while since.elapsed() < LOGIN {
            match self.tunnel(ssh_port).await {
                Ok(_) => {
                    if !failures.is_empty() {
                        eprintln!("logins refused before the first success: {failures:#?}");
                    }
                    return since.elapsed();
                }
                Err(e) => failures.push(format!("after {:?}: {e}", since.elapsed())),
            }
        }
        panic!("no login succeeded through port {ssh_port}: {failures:#?}")
    }
}

/// A `name: value` line of the command line's output.
pub fn field(out: &str, name: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

/// Token `id` of user `eng` as listed through node `n`.
pub fn token_row(n: &portunus_tests::NodeProc, id: &str) -> Option<serde_json::Value> {
    let out = n.admin(&["--json", "token", "list", "eng"]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).ok()?;
    v.as_array()?.iter().find(|t| t["TokenId"] == id).cloned()
}

/// A user `eng` authorized on a SQL Server "database" (an echo server, relayed as bytes) and
/// an O&M token for it (the instance's default use count), made through node 1; the token is
/// listed through every node before this returns. The login and the token's id.
pub fn database_login(c: &portunus_tests::ProcCluster) -> (Login, String) {
    let n = &c.nodes[0];
    let echo = portunus_tests::sdk::echo_server();
    let port = echo.to_string();
    n.admin_ok(&["user", "create", "eng", "--password", "Passw0rd!x"]);
    n.admin_ok(&[
        "database",
        "create",
        "echo",
        "--type",
        "SQLServer",
        "--address",
        "127.0.0.1",
        "--port",
        &port,
    ]);
    n.admin_ok(&["database", "add-account", "echo", "app", "--password", "pw"]);
    n.admin_ok(&["grant", "database", "eng", "echo", "--account", "app"]);
    let issued = n.admin_ok(&[
        "token",
        "generate",
        "--database",
        "echo",
        "--account",
        "app",
        "--user",
        "eng",
    ]);
    let (token_id, token) = (field(&issued, "token id:"), field(&issued, "token:"));
    for n in &c.nodes {
        portunus_tests::wait_until("the token to be listed through every node", LOGIN, || {
            token_row(n, &token_id).is_some()
        })
        .unwrap();
    }
    let login = Login {
        askpass: Askpass::new(),
        user: "eng".into(),
        token,
        echo,
    };
    (login, token_id)
}
