//! A stock OpenSSH `sshd` started by the bench on a free loopback port with its own config:
//! public-key login for root (tunnels), and password or public-key login for a local user
//! (logins). The local user's password is hashed with yescrypt, what Debian's `passwd` (PAM's
//! `pam_unix ... yescrypt`) stores.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context};
use tokio::process::{Child, Command};

use crate::sys;

/// The local user the login benchmark logs in as, with a password.
pub(crate) const USER: &str = "portunusbench";
pub(crate) const PASSWORD: &str = "Bench-passw0rd-123";

/// A running sshd, killed when dropped.
pub(crate) struct Sshd {
    pub(crate) addr: SocketAddr,
    pub(crate) key: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

fn keygen(path: &std::path::Path) -> anyhow::Result<()> {
    let status = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(path)
        .status()
        .context("ssh-keygen")?;
    ensure!(status.success(), "ssh-keygen failed");
    Ok(())
}

/// Creates the local password user if it does not exist yet.
pub(crate) fn ensure_user() -> anyhow::Result<()> {
    let exists = std::process::Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?
        .success();
    if !exists {
        let ok = std::process::Command::new("useradd")
            .args(["-M", "-s", "/bin/sh", USER])
            .status()
            .context("useradd")?
            .success();
        ensure!(ok, "useradd {USER} failed (run as root)");
    }
    let mut chpasswd = std::process::Command::new("chpasswd")
        .args(["-c", "YESCRYPT"])
        .stdin(Stdio::piped())
        .spawn()
        .context("chpasswd")?;
    use std::io::Write;
    chpasswd
        .stdin
        .take()
        .context("chpasswd stdin")?
        .write_all(format!("{USER}:{PASSWORD}\n").as_bytes())?;
    ensure!(chpasswd.wait()?.success(), "chpasswd failed");
    Ok(())
}

impl Sshd {
    /// The pid of the listening sshd (its connections run in its children).
    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// sshd with `UsePAM no`: keys and passwords checked by sshd itself.
    pub(crate) async fn start() -> anyhow::Result<Self> {
        Self::start_with(false).await
    }

    /// sshd with `UsePAM yes`, as Debian ships it: passwords checked by PAM (`pam_unix`), and
    /// every login, key or password, through PAM's account and session stacks.
    pub(crate) async fn start_with_pam() -> anyhow::Result<Self> {
        Self::start_with(true).await
    }

    async fn start_with(pam: bool) -> anyhow::Result<Self> {
        ensure_user()?;
        let dir = tempfile::tempdir()?;
        let host_key = dir.path().join("host_key");
        let key = dir.path().join("client_key");
        keygen(&host_key)?;
        keygen(&key)?;
        let auth_keys = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &auth_keys)?;
        std::fs::create_dir_all("/run/sshd")?;
        let addr = sys::free_loopback_addr()?;
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM {}\n\
                 StrictModes no\nPermitRootLogin yes\nPubkeyAuthentication yes\n\
                 PasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
                 AuthorizedKeysFile {}\nAllowTcpForwarding yes\nMaxStartups 1000\n\
                 MaxSessions 10\nUseDNS no\nLogLevel ERROR\n",
                addr.port(),
                host_key.display(),
                if pam { "yes" } else { "no" },
                auth_keys.display()
            ),
        )?;
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .kill_on_drop(true)
            .stderr(Stdio::null())
            .spawn()
            .context("start sshd")?;
        sys::wait_listening(addr.port(), Duration::from_secs(10)).await?;
        Ok(Self {
            addr,
            key,
            child,
            _dir: dir,
        })
    }
}
