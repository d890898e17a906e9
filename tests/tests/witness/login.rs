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
