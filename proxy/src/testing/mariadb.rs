//! A real MariaDB server for tests (feature `test-util`): `mariadb-install-db` into a temporary
//! directory, `mariadbd` on a free loopback port, accounts made through its socket as root.

use super::openssh::{free_port, wait_listening};
use std::path::PathBuf;
use std::process::Stdio;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// A MariaDB server, stopped when dropped.
pub struct MariaDb {
    pub port: u16,
    socket: PathBuf,
    _child: Child,
    _dir: TempDir,
}

impl MariaDb {
    /// The server's process id (its connections run in its children or threads).
    pub fn pid(&self) -> Option<u32> {
        self._child.id()
    }

    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a server with `extra` options for `mariadbd` (benchmarks: more connections, a
    /// larger buffer pool); later options win over the defaults above them.
    pub async fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        // Temporary tables in the test's own directory, not a /tmp shared with every other
        // server and test on the machine.
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).expect("tmpdir");
        let out = Command::new("mariadb-install-db")
            .env("TMPDIR", &tmp)
            .args([
                "--no-defaults",
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ])
            .arg(format!("--datadir={}", data.display()))
            .output()
            .await
            .expect("run mariadb-install-db (Debian package mariadb-server)");
        assert!(
            out.status.success(),
            "mariadb-install-db failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let socket = dir.path().join("mysqld.sock");
        // A port chosen free may be taken by another test before the server binds it: then the
        // server exits, and it is started again on another port.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new("mariadbd")
                .arg("--no-defaults")
                .arg(format!("--tmpdir={}", tmp.display()))
                .arg(format!("--datadir={}", data.display()))
                .arg(format!("--socket={}", socket.display()))
                .arg(format!(
                    "--pid-file={}",
                    dir.path().join("mysqld.pid").display()
                ))
                .arg(format!("--port={port}"))
                .args([
                    "--bind-address=127.0.0.1",
                    "--user=root",
                    "--skip-name-resolve",
                    "--innodb-buffer-pool-size=32M",
                    "--skip-log-bin",
                    "--log-warnings=0",
                ])
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("start mariadbd");
            for _ in 0..600 {
                if child.try_wait().expect("poll mariadbd").is_some() {
                    break;
                }
                let ping = Command::new("mariadb-admin")
                    .arg(format!("--socket={}", socket.display()))
                    .args(["--user=root", "--silent", "ping"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await
                    .expect("run mariadb-admin (Debian package mariadb-client)");
                if ping.success() {
                    wait_listening(port).await;
                    return MariaDb {
                        port,
                        socket,
                        _child: child,
                        _dir: dir,
                    };
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let _ = child.kill().await;
        }
        panic!("mariadbd did not start (see its data directory's error log)");
    }

    /// Runs SQL as root through the server's socket; panics unless it succeeds; returns the
    /// output (tab-separated, no column names).
    pub async fn root(&self, sql: &str) -> String {
        let out = Command::new("mariadb")
            .arg(format!("--socket={}", self.socket.display()))
            .args(["-uroot", "-N", "-B", "-e", sql])
            .output()
            .await
            .expect("run the mariadb client");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
