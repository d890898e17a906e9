//! Real OpenSSH parts for tests (feature `test-util`): keys from `ssh-keygen`, an `sshd` target
//! on a free loopback port, and the `ssh` client given a password through SSH_ASKPASS.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tempfile::TempDir;
use tokio::process::{Child, Command};

/// How long fixtures wait for a process to come up.
pub const WAIT: Duration = Duration::from_secs(20);

/// Generates an ed25519 key with ssh-keygen; returns (private key text, public key line).
pub fn keygen(dir: &Path, name: &str) -> (PathBuf, String, String) {
    let path = dir.join(name);
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed");
    let private = std::fs::read_to_string(&path).expect("read key");
    let public = std::fs::read_to_string(path.with_extension("pub")).expect("read pub key");
    (path, private, public.trim().to_owned())
}

pub use portunus_test_ports::free_port;

/// Waits until something accepts TCP connections on `port`.
pub async fn wait_listening(port: u16) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "nothing listens on {port}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A real OpenSSH sshd on a free loopback port, accepting root with a key.
pub struct Sshd {
    pub port: u16,
    pub client_key: String,
    /// Killed when the fixture is dropped.
    _child: Child,
    _dir: TempDir,
}

impl Sshd {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// Like [`Sshd::start`], with `extra` appended to its sshd_config (for example
    /// `"Ciphers aes128-gcm@openssh.com\n"`).
    pub async fn start_with(extra: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (host_key, _, _) = keygen(dir.path(), "sshd_host_key");
        let (_, client_key, client_pub) = keygen(dir.path(), "bastion_key");
        let auth_keys = dir.path().join("authorized_keys");
        std::fs::write(&auth_keys, format!("{client_pub}\n")).expect("write authorized_keys");
        std::fs::create_dir_all("/run/sshd").expect("privsep dir");
        let port = free_port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\n\
                 StrictModes no\nPermitRootLogin yes\nPubkeyAuthentication yes\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 AuthorizedKeysFile {}\nSubsystem sftp internal-sftp\nLogLevel ERROR\n{extra}",
                host_key.display(),
                auth_keys.display()
            ),
        )
        .expect("write sshd_config");
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .kill_on_drop(true)
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        wait_listening(port).await;
        Self {
            port,
            client_key,
            _child: child,
            _dir: dir,
        }
    }
}

/// An SSH_ASKPASS script that answers with `$PORTUNUS_TEST_PASSWORD`.
pub struct Askpass {
    path: PathBuf,
    _dir: TempDir,
}

impl Askpass {
    /// Write the script in a new temporary directory.
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("askpass.sh");
        std::fs::write(
            &path,
            "#!/bin/sh\nprintf '%s\\n' \"$PORTUNUS_TEST_PASSWORD\"\n",
        )
        .expect("write askpass");
        std::process::Command::new("chmod")
            .arg("700")
            .arg(&path)
            .status()
            .expect("chmod");
        Askpass { path, _dir: dir }
    }

    /// Set the askpass environment of an OpenSSH tool (ssh, sftp, scp).
    pub fn env(&self, cmd: &mut Command, password: &str) {
        cmd.env("SSH_ASKPASS", &self.path)
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .env("PORTUNUS_TEST_PASSWORD", password);
    }

    /// An OpenSSH client logging in to `127.0.0.1:port` as `login` with `password`.
    pub fn ssh(&self, port: u16, login: &str, password: &str) -> Command {
        self.ssh_with(port, login, password, &[])
    }

    /// Like [`Askpass::ssh`], with more client options (`-o Name=value` pairs) before the
    /// destination.
    pub fn ssh_with(&self, port: u16, login: &str, password: &str, options: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        for o in options {
            cmd.args(["-o", o]);
        }
        cmd.args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
        ])
        .args(["-o", "ConnectTimeout=10", "-F", "/dev/null"])
        .args(["-p", &port.to_string(), "-l", login, "127.0.0.1"]);
        self.env(&mut cmd, password);
        cmd.kill_on_drop(true)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }
}

impl Default for Askpass {
    fn default() -> Self {
        Self::new()
    }
}
