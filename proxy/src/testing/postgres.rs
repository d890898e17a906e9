//! A real PostgreSQL 15 server for tests (feature `test-util`): `initdb` into a temporary
//! directory and `postgres` on a free loopback port, both run as the system user `postgres`
//! (PostgreSQL refuses to run as root). TCP logins use SCRAM-SHA-256, or MD5 for the users
//! named at start; the superuser `postgres` needs no password on the server's socket.

use super::openssh::{free_port, wait_listening};
use std::process::Stdio;
use tempfile::TempDir;
use tokio::process::{Child, Command};

const BIN: &str = "/usr/lib/postgresql/15/bin";

/// A PostgreSQL server, stopped when dropped.
pub struct Postgres {
    pub port: u16,
    dir: TempDir,
    _child: Child,
}

/// The system user `postgres`: uid and gid.
fn postgres_user() -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = std::process::Command::new("id")
            .args([flag, "postgres"])
            .output()
            .expect("run id");
        assert!(
            out.status.success(),
            "no system user 'postgres' (Debian package postgresql-15)"
        );
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a numeric id")
    };
    (id("-u"), id("-g"))
}

impl Postgres {
    /// The server's process id (its connections run in its children or threads).
    pub fn pid(&self) -> Option<u32> {
        self._child.id()
    }

    /// Starts a server whose `md5_users` log in over TCP with MD5 (others with SCRAM).
    pub async fn start(md5_users: &[&str]) -> Self {
        Self::start_with(md5_users, None).await
    }

    /// Starts a server that accepts TCP logins over TLS only, with the PEM certificate and
    /// key `tls` (`hostssl` in pg_hba.conf, `ssl=on`).
    pub async fn start_tls(md5_users: &[&str], cert: &str, key: &str) -> Self {
        Self::start_with(md5_users, Some((cert, key))).await
    }

    async fn start_with(md5_users: &[&str], tls: Option<(&str, &str)>) -> Self {
        let (uid, gid) = postgres_user();
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown the tempdir");
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "superuser-Passw0rd\n").expect("write the password file");
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown");
        let out = Command::new(format!("{BIN}/initdb"))
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--auth-local=trust",
            ])
            .args(["--auth-host=scram-sha-256"])
            .arg(format!("--pwfile={}", pwfile.display()))
            .uid(uid)
            .gid(gid)
            .current_dir(dir.path())
            .output()
            .await
            .expect("run initdb (Debian package postgresql-15)");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let host = if tls.is_some() { "hostssl" } else { "host" };
        let mut hba = String::from("local all postgres trust\n");
        for u in md5_users {
            hba.push_str(&format!("{host} all {u} 127.0.0.1/32 md5\n"));
        }
        hba.push_str(&format!("{host} all all 127.0.0.1/32 scram-sha-256\n"));
        std::fs::write(data.join("pg_hba.conf"), hba).expect("write pg_hba.conf");
        let mut settings = vec!["fsync=off".to_string(), "shared_buffers=16MB".to_string()];
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            for (name, pem, mode) in [("server.crt", cert, 0o644), ("server.key", key, 0o600)] {
                let path = data.join(name);
                std::fs::write(&path, pem).expect("write the TLS files");
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).expect("chown");
            }
            settings.push("ssl=on".into());
        }
        let port = free_port();
        let child = Command::new(format!("{BIN}/postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.path().display()))
            .args(settings.iter().flat_map(|s| ["-c", s.as_str()]))
            .uid(uid)
            .gid(gid)
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start postgres");
        wait_listening(port).await;
        // The port opens before the server accepts sessions ("the database system is starting
        // up"): wait until it answers.
        for _ in 0..300 {
            let ready = Command::new(format!("{BIN}/pg_isready"))
                .arg("-h")
                .arg(dir.path())
                .args(["-p", &port.to_string(), "-U", "postgres", "-q"])
                .status()
                .await
                .expect("run pg_isready");
            if ready.success() {
                return Postgres {
                    port,
                    dir,
                    _child: child,
                };
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("PostgreSQL on port {port} did not become ready");
    }

    /// Runs SQL as the superuser through the server's socket in `database`; panics unless it
    /// succeeds; returns the output (unaligned, tuples only).
    pub async fn superuser(&self, database: &str, sql: &str) -> String {
        let out = Command::new(format!("{BIN}/psql"))
            .arg("-h")
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .await
            .expect("run psql");
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}
