//! A russh SSH client: password login (an O&M token is a password) or public-key login, and a
//! direct-tcpip channel, cheap enough to open hundreds of sessions from one process.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::ChannelMsg;

/// Accepts any host key (loopback benchmark targets only).
pub(crate) struct Trusting;

impl client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// A shared client configuration.
pub(crate) fn config() -> Arc<client::Config> {
    Arc::new(client::Config {
        inactivity_timeout: None,
        ..Default::default()
    })
}

/// What a client logs in with.
#[derive(Clone)]
pub(crate) enum Credential {
    /// A password (or an O&M token, which a client sends as one).
    Password(String),
    /// A private key (Ed25519 in the benches: no RSA hash to negotiate).
    Key(Arc<PrivateKey>),
}

impl Credential {
    pub(crate) fn password(p: &str) -> Self {
        Self::Password(p.to_owned())
    }

    /// The private key in the OpenSSH file `path` (no passphrase).
    pub(crate) fn key_file(path: &std::path::Path) -> anyhow::Result<Self> {
        let key = russh::keys::load_secret_key(path, None)
            .with_context(|| format!("read private key {}", path.display()))?;
        Ok(Self::Key(Arc::new(key)))
    }
}

/// Connects to `addr` (from `source` when given, a loopback address) and logs in as `user`
/// with `password`.
pub(crate) async fn login(
    config: Arc<client::Config>,
    addr: SocketAddr,
    source: Option<IpAddr>,
    user: &str,
    password: &str,
) -> anyhow::Result<Handle<Trusting>> {
    let cred = Credential::password(password);
    login_with(config, addr, source, user, &cred).await
}

/// Connects to `addr` (from `source` when given, a loopback address) and logs in as `user`
/// with `cred`.
pub(crate) async fn login_with(
    config: Arc<client::Config>,
    addr: SocketAddr,
    source: Option<IpAddr>,
    user: &str,
    cred: &Credential,
) -> anyhow::Result<Handle<Trusting>> {
    let mut handle = match source {
        None => client::connect(config, addr, Trusting).await,
        Some(ip) => {
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(SocketAddr::new(ip, 0))?;
            let stream = socket.connect(addr).await?;
            client::connect_stream(config, stream, Trusting).await
        }
    }
    .with_context(|| format!("connect {addr}"))?;
    let (auth, what) = match cred {
        Credential::Password(p) => (handle.authenticate_password(user, p).await?, "password"),
        Credential::Key(key) => {
            let key = PrivateKeyWithHashAlg::new(Arc::clone(key), None);
            (handle.authenticate_publickey(user, key).await?, "key")
        }
    };
    if !auth.success() {
        bail!("{what} refused by {addr}");
    }
    Ok(handle)
}

/// The next of 250 loopback source addresses (127.0.1.1 to 127.0.1.250), round robin: many
/// clients, as behind a real bastion, rather than one IP that the per-IP failure limit sees.
pub(crate) fn next_source() -> IpAddr {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed) % 250;
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, n as u8 + 1))
}

/// A full login plus a direct-tcpip channel to `target`, whose echo is checked; then a clean
/// disconnect. Returns after the echo, so the time measured covers auth and channel open.
pub(crate) async fn login_and_forward(
    config: Arc<client::Config>,
    addr: SocketAddr,
    source: Option<IpAddr>,
    user: &str,
    cred: &Credential,
    target: SocketAddr,
    timeout: Duration,
) -> anyhow::Result<()> {
    tokio::time::timeout(timeout, async {
        let handle = login_with(config, addr, source, user, cred).await?;
        let mut channel = open_tunnel(&handle, target).await?;
        echo(&mut channel, b"ping").await?;
        let _ = channel.eof().await;
        let _ = handle
            .disconnect(russh::Disconnect::ByApplication, "", "en")
            .await;
        anyhow::Ok(())
    })
    .await
    .context("login timed out")?
}

/// Sends `data` on `channel` and waits for it to come back (an echo server behind it).
pub(crate) async fn echo(
    channel: &mut russh::Channel<client::Msg>,
    data: &[u8],
) -> anyhow::Result<()> {
    channel.data(data).await?;
    read_n(channel, data.len()).await
}

/// Opens a direct-tcpip channel (what `ssh -L` does per connection) to `target`.
pub(crate) async fn open_tunnel(
    handle: &Handle<Trusting>,
    target: SocketAddr,
) -> anyhow::Result<russh::Channel<client::Msg>> {
    let host = target.ip().to_string();
    Ok(handle
        .channel_open_direct_tcpip(host, target.port().into(), "127.0.0.1", 40000)
        .await?)
}

/// Reads from `channel` until `n` bytes arrived or it closes.
pub(crate) async fn read_n(
    channel: &mut russh::Channel<client::Msg>,
    n: usize,
) -> anyhow::Result<()> {
    let mut got = 0;
    while got < n {
        match channel.wait().await {
            Some(ChannelMsg::Data { data }) => got += data.len(),
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => bail!("channel closed"),
            Some(_) => {}
        }
    }
    Ok(())
}
