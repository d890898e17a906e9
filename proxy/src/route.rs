//! How the bastion reaches an asset: straight to its address, or through the proxies of the
//! asset's network domain — an SSH server (a `direct-tcpip` channel, as `ssh -J` does), an
//! HTTP proxy (`CONNECT`) or a SOCKS5 proxy (RFC 1928, with RFC 1929 user/password) — the
//! `Master` proxy first, then the `Slave`.
//!
//! Every leg that leaves the bastion for a target goes through [`dial`]: SSH shells, exec and
//! SFTP, the web terminal, token tunnels, the database gateway's native ports and host-account
//! checks. An SSH proxy's host key is checked like a target's: the pinned fingerprint, or trust
//! on first use through [`ProxyKeys`]. Errors name the proxy and what it said, never a secret.

use std::fmt;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use futures::future::BoxFuture;
use russh::client::{self, Msg};
use russh::keys::{HashAlg, PublicKeyOrCertificate};
use russh::ChannelStream;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::gate::Secret;

/// The kind of a network domain's proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// An SSH server the bastion logs in to and asks for a `direct-tcpip` channel.
    Ssh,
    /// An HTTP proxy that accepts `CONNECT host:port`.
    Http,
    /// A SOCKS5 proxy.
    Socks5,
}

impl ProxyKind {
    /// The kind from its Bastionhost name (`SSHProxy`, `HTTPProxy`, `Socks5Proxy`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SSHProxy" => Some(Self::Ssh),
            "HTTPProxy" => Some(Self::Http),
            "Socks5Proxy" => Some(Self::Socks5),
            _ => None,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Ssh => "SSH",
            Self::Http => "HTTP",
            Self::Socks5 => "SOCKS5",
        }
    }
}

/// One proxy of a network domain, with its unsealed password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHop {
    pub kind: ProxyKind,
    /// `Master` or `Slave`.
    pub node_type: String,
    pub address: String,
    pub port: u16,
    /// Empty: no login (HTTP and SOCKS5 only).
    pub user: String,
    pub password: Option<Secret>,
    /// An SSH proxy's trusted host key (`SHA256:...`); None until first use.
    pub host_key: Option<String>,
}

impl fmt::Display for ProxyHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, node) = (self.kind.label(), &self.node_type);
        write!(
            f,
            "the {kind} proxy {} ({node})",
            join(&self.address, self.port)
        )
    }
}

/// How to reach an asset: no proxies means straight to its address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Route {
    /// The network domain, when the asset's domain uses proxies; None: straight.
    pub domain_id: Option<u64>,
    pub domain_name: String,
    /// Tried in order: the first that reaches the target wins.
    pub proxies: Vec<ProxyHop>,
}

impl Route {
    /// Straight to the address.
    pub fn direct() -> Self {
        Self::default()
    }

    pub fn is_direct(&self) -> bool {
        self.domain_id.is_none()
    }
}

/// Trust on first use of an SSH proxy's host key (the node records it in the replicated
/// state); refuses a key other than the one already trusted.
pub trait ProxyKeys: Send + Sync {
    fn trust<'a>(
        &'a self,
        route: &'a Route,
        hop: &'a ProxyHop,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), String>>;
}

/// Accepts only pinned proxy keys: for legs that follow one already made (a PostgreSQL cancel
/// request), where the key was trusted by then.
pub struct PinnedOnly;

impl ProxyKeys for PinnedOnly {
    fn trust<'a>(
        &'a self,
        _route: &'a Route,
        hop: &'a ProxyHop,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), String>> {
        let words = format!(
            "{hop} presented host key {fingerprint}, and no key of it is trusted yet (the \
             first session through it trusts it, or an administrator pins it with \
             Proxies.N.HostKeyFingerprint)"
        );
        Box::pin(async move { Err(words) })
    }
}

/// Why a target could not be reached: words for the engineer and the audit trail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DialError {
    pub message: String,
    /// Nothing answered in time (rather than a refusal).
    pub timed_out: bool,
}

/// A connected leg to the target.
pub enum Upstream {
    /// A TCP connection to the target (direct, or through an HTTP or SOCKS5 proxy).
    Tcp(TcpStream),
    /// A `direct-tcpip` channel through an SSH proxy; the proxy's session lives as long as it.
    Ssh(Box<SshLeg>),
}

/// A channel through an SSH proxy, with the session that carries it.
pub struct SshLeg {
    stream: Pin<Box<ChannelStream<Msg>>>,
    _session: client::Handle<ProxyKeyCheck>,
    /// The proxy (its node type) and the host key it presented.
    node_type: String,
    fingerprint: String,
}

impl Upstream {
    /// `route` with the host key this leg's SSH proxy presented (trusted by now) filled in,
    /// for later legs of the same session that cannot ask for trust (a cancel request).
    pub fn route_with_seen_key(&self, route: &Route) -> Route {
        let mut route = route.clone();
        if let Self::Ssh(leg) = self {
            for hop in &mut route.proxies {
                if hop.node_type == leg.node_type && hop.host_key.is_none() {
                    hop.host_key = Some(leg.fingerprint.clone());
                }
            }
        }
        route
    }

    /// Disables Nagle on a TCP leg (an SSH leg's proxy session already has it off).
    pub fn set_nodelay(&self) {
        if let Self::Tcp(t) = self {
            let _ = t.set_nodelay(true);
        }
    }
}

impl AsyncRead for Upstream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(t) => Pin::new(t).poll_read(cx, buf),
            Self::Ssh(s) => s.stream.as_mut().poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Upstream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(t) => Pin::new(t).poll_write(cx, buf),
            Self::Ssh(s) => s.stream.as_mut().poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(t) => Pin::new(t).poll_flush(cx),
            Self::Ssh(s) => s.stream.as_mut().poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(t) => Pin::new(t).poll_shutdown(cx),
            Self::Ssh(s) => s.stream.as_mut().poll_shutdown(cx),
        }
    }
}

/// Connects to `host:port` along `route` within `timeout` (for each proxy tried).
pub async fn dial(
    route: &Route,
    host: &str,
    port: u16,
    timeout: Duration,
    keys: &dyn ProxyKeys,
) -> Result<Upstream, DialError> {
    if route.is_direct() {
        let tcp = tcp(host, port, timeout)
            .await
            .map_err(|(message, timed_out)| DialError { message, timed_out })?;
        return Ok(Upstream::Tcp(tcp));
    }
    if route.proxies.is_empty() {
        return Err(DialError {
            message: format!(
                "network domain {} has no usable proxy to reach {}; ask an administrator to check it",
                route.domain_name,
                join(host, port)
            ),
            timed_out: false,
        });
    }
    let mut failures = Vec::new();
    let mut timed_out = true;
    for hop in &route.proxies {
        let attempt = tokio::time::timeout(timeout, through(route, hop, host, port, keys));
        let failure = match attempt.await {
            Ok(Ok(up)) => return Ok(up),
            Ok(Err(words)) => {
                timed_out = false;
                words
            }
            Err(_) => format!("{hop} did not answer in time"),
        };
        tracing::info!(domain = %route.domain_name, proxy = %hop, target = %join(host, port), reason = %failure, "route: proxy leg failed");
        failures.push(failure);
    }
    Err(DialError {
        message: format!(
            "{} is unreachable through network domain {}: {}",
            join(host, port),
            route.domain_name,
            failures.join("; ")
        ),
        timed_out,
    })
}

/// A TCP connection; on failure, the words and whether it timed out.
async fn tcp(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, (String, bool)> {
    match tokio::time::timeout(timeout, TcpStream::connect((host, port))).await {
        Ok(Ok(t)) => Ok(t),
        Ok(Err(e)) => Err((format!("{}: {e}", join(host, port)), false)),
        Err(_) => Err((format!("{} did not answer in time", join(host, port)), true)),
    }
}

async fn through(
    route: &Route,
    hop: &ProxyHop,
    host: &str,
    port: u16,
    keys: &dyn ProxyKeys,
) -> Result<Upstream, String> {
    let reach = |e: std::io::Error| format!("{hop} is unreachable: {e}");
    let mut tcp = TcpStream::connect((hop.address.as_str(), hop.port))
        .await
        .map_err(reach)?;
    let _ = tcp.set_nodelay(true);
    let lost = |e: std::io::Error| format!("{hop} closed the connection: {e}");
    match hop.kind {
        ProxyKind::Socks5 => {
            socks5(&mut tcp, hop, host, port)
                .await
                .map_err(|w| w.or_else(lost))?;
            Ok(Upstream::Tcp(tcp))
        }
        ProxyKind::Http => {
            connect(&mut tcp, hop, host, port)
                .await
                .map_err(|w| w.or_else(lost))?;
            Ok(Upstream::Tcp(tcp))
        }
        ProxyKind::Ssh => ssh(tcp, route, hop, host, port, keys)
            .await
            .map(Upstream::Ssh),
    }
}

/// A proxy's refusal in words, or an i/o failure to word by the caller.
enum Failed {
    Said(String),
    Io(std::io::Error),
}

impl Failed {
    fn or_else(self, f: impl FnOnce(std::io::Error) -> String) -> String {
        match self {
            Self::Said(w) => w,
            Self::Io(e) => f(e),
        }
    }
}

impl From<std::io::Error> for Failed {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

fn said(words: String) -> Failed {
    Failed::Said(words)
}

/// The SOCKS5 handshake: methods, the user/password login when the proxy asks, CONNECT.
async fn socks5(tcp: &mut TcpStream, hop: &ProxyHop, host: &str, port: u16) -> Result<(), Failed> {
    socks5_login(tcp, hop).await?;
    socks5_connect(tcp, hop, host, port).await
}

/// SOCKS5 methods and, when the proxy asks for it, the user/password login.
async fn socks5_login(tcp: &mut TcpStream, hop: &ProxyHop) -> Result<(), Failed> {
    const NO_LOGIN: u8 = 0x00;
    const USER_PASSWORD: u8 = 0x02;
    let login = (!hop.user.is_empty()).then(|| {
        let password = hop.password.as_ref().map_or("", |p| p.0.as_str());
        (hop.user.as_str(), password)
    });
    let methods: &[u8] = if login.is_some() {
        &[NO_LOGIN, USER_PASSWORD]
    } else {
        &[NO_LOGIN]
    };
    let mut hello = vec![5, methods.len() as u8];
    hello.extend_from_slice(methods);
    tcp.write_all(&hello).await?;
    let mut chosen = [0u8; 2];
    tcp.read_exact(&mut chosen).await?;
    if chosen[0] != 5 {
        return Err(said(format!("{hop} does not speak SOCKS5")));
    }
    match (chosen[1], login) {
        (NO_LOGIN, _) => {}
        (USER_PASSWORD, Some((user, password))) => {
            if user.len() > 255 || password.len() > 255 {
                return Err(said(format!(
                    "{hop}: the user or password is longer than SOCKS5 allows (255 bytes)"
                )));
            }
            let mut auth = vec![1, user.len() as u8];
            auth.extend_from_slice(user.as_bytes());
            auth.push(password.len() as u8);
            auth.extend_from_slice(password.as_bytes());
            tcp.write_all(&auth).await?;
            let mut status = [0u8; 2];
            tcp.read_exact(&mut status).await?;
            if status[0] != 1 {
                return Err(said(format!("{hop} answered the login out of protocol")));
            }
            if status[1] != 0 {
                return Err(said(format!("{hop} refused the login of user {user}")));
            }
        }
        (USER_PASSWORD, None) => {
            return Err(said(format!(
                "{hop} asks for a user and password, and the domain gives none"
            )));
        }
        _ => {
            let offered = if login.is_some() {
                "none, user/password"
            } else {
                "none"
            };
            return Err(said(format!(
                "{hop} accepts none of the login methods offered ({offered})"
            )));
        }
    }
    Ok(())
}

/// SOCKS5 CONNECT and its answer.
async fn socks5_connect(
    tcp: &mut TcpStream,
    hop: &ProxyHop,
    host: &str,
    port: u16,
) -> Result<(), Failed> {
    let mut request = vec![5, 1, 0];
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => {
            request.push(1);
            request.extend_from_slice(&a.octets());
        }
        Ok(IpAddr::V6(a)) => {
            request.push(4);
            request.extend_from_slice(&a.octets());
        }
        Err(_) if host.len() <= 255 => {
            request.push(3);
            request.push(host.len() as u8);
            request.extend_from_slice(host.as_bytes());
        }
        Err(_) => {
            return Err(said(format!(
                "the name {host} is longer than SOCKS5 allows"
            )))
        }
    }
    request.extend_from_slice(&port.to_be_bytes());
    tcp.write_all(&request).await?;
    let mut head = [0u8; 4];
    tcp.read_exact(&mut head).await?;
    if head[0] != 5 {
        return Err(said(format!("{hop} answered CONNECT out of protocol")));
    }
    if head[1] != 0 {
        let why = match head[1] {
            1 => "general failure",
            2 => "not allowed by its rules",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "CONNECT not supported",
            8 => "address type not supported",
            _ => "unknown reply",
        };
        let target = join(host, port);
        return Err(said(format!(
            "{hop} could not reach {target}: {why} (SOCKS5 reply {})",
            head[1]
        )));
    }
    let rest = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            tcp.read_exact(&mut len).await?;
            usize::from(len[0]) + 2
        }
        other => {
            return Err(said(format!(
                "{hop} answered with an unknown address type {other}"
            )))
        }
    };
    let mut bound = vec![0u8; rest];
    tcp.read_exact(&mut bound).await?;
    Ok(())
}

/// Longest HTTP CONNECT answer head read from a proxy.
const MAX_HTTP_HEAD: usize = 16 * 1024;

/// `CONNECT host:port`, with Basic proxy authorization when the domain gives a user.
async fn connect(tcp: &mut TcpStream, hop: &ProxyHop, host: &str, port: u16) -> Result<(), Failed> {
    let target = join(host, port);
    let mut request = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if !hop.user.is_empty() {
        let password = hop.password.as_ref().map_or("", |p| p.0.as_str());
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", hop.user));
        request.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await?;
    // Byte by byte: whatever follows the head is the target's, and must stay in the socket.
    let mut head = Vec::with_capacity(256);
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() >= MAX_HTTP_HEAD {
            return Err(said(format!(
                "{hop} sent an answer head longer than {MAX_HTTP_HEAD} bytes"
            )));
        }
        let mut byte = [0u8; 1];
        if tcp.read(&mut byte).await? == 0 {
            return Err(said(format!(
                "{hop} closed the connection before answering CONNECT"
            )));
        }
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status_line = text.lines().next().unwrap_or_default().trim().to_string();
    let mut parts = status_line.split_whitespace();
    let (version, code) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    if !version.starts_with("HTTP/") {
        return Err(said(format!(
            "{hop} does not speak HTTP (it answered {status_line:?})"
        )));
    }
    match code {
        c if c.len() == 3 && c.starts_with('2') => Ok(()),
        "407" if hop.user.is_empty() => Err(said(format!(
            "{hop} asks for a login, and the domain gives none"
        ))),
        "407" => Err(said(format!(
            "{hop} refused the login of user {}",
            hop.user
        ))),
        _ => Err(said(format!(
            "{hop} refused CONNECT {target}: {status_line:?}"
        ))),
    }
}

/// The SSH client settings of proxy sessions.
fn ssh_config() -> Arc<client::Config> {
    static CONFIG: OnceLock<Arc<client::Config>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(client::Config {
                keepalive_interval: Some(Duration::from_secs(30)),
                nodelay: true,
                ..Default::default()
            })
        })
        .clone()
}

/// Checks an SSH proxy's host key against the pinned one; remembers what it saw.
pub struct ProxyKeyCheck {
    pinned: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for ProxyKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            return Ok(false);
        };
        let seen = key.fingerprint(HashAlg::Sha256).to_string();
        let accepted = self.pinned.as_ref().is_none_or(|p| *p == seen);
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(seen);
        // An unpinned key is accepted here only to learn it: nothing is sent before the
        // caller has trusted it (see `ssh`).
        Ok(accepted)
    }
}

/// Logs in to an SSH proxy with the domain's password and opens `direct-tcpip` to the target.
async fn ssh(
    tcp: TcpStream,
    route: &Route,
    hop: &ProxyHop,
    host: &str,
    port: u16,
    keys: &dyn ProxyKeys,
) -> Result<Box<SshLeg>, String> {
    let (session, fingerprint) = ssh_login(tcp, route, hop, keys).await?;
    let channel = session
        .channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0)
        .await
        .map_err(|e| {
            format!(
                "{hop} could not open a channel to {}: {e}",
                join(host, port)
            )
        })?;
    Ok(Box::new(SshLeg {
        stream: Box::pin(channel.into_stream()),
        _session: session,
        node_type: hop.node_type.clone(),
        fingerprint,
    }))
}

/// The SSH proxy's session after its host key is trusted and the password login succeeded;
/// with the key's fingerprint.
async fn ssh_login(
    tcp: TcpStream,
    route: &Route,
    hop: &ProxyHop,
    keys: &dyn ProxyKeys,
) -> Result<(client::Handle<ProxyKeyCheck>, String), String> {
    let seen = Arc::new(Mutex::new(None));
    let check = ProxyKeyCheck {
        pinned: hop.host_key.clone(),
        seen: Arc::clone(&seen),
    };
    let connected = client::connect_stream(ssh_config(), tcp, check).await;
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).take();
    let mut session = match connected {
        Ok(s) => s,
        Err(e) => {
            return Err(match (&hop.host_key, seen) {
                (Some(pinned), Some(seen)) if *pinned != seen => {
                    tracing::warn!(proxy = %hop, %pinned, %seen, "route: proxy host key mismatch");
                    format!("{hop} presented host key {seen}, not the pinned {pinned}; no password was sent; ask an administrator")
                }
                (_, None) => format!("{hop} presented no usable host key: {e}"),
                _ => format!("{hop}: SSH handshake failed: {e}"),
            });
        }
    };
    let Some(fingerprint) = seen else {
        return Err(format!("{hop} presented no host key"));
    };
    if hop.host_key.is_none() {
        keys.trust(route, hop, &fingerprint).await?;
    }
    let password = hop.password.as_ref().map_or("", |p| p.0.as_str());
    let auth = session
        .authenticate_password(hop.user.clone(), password.to_string())
        .await
        .map_err(|e| format!("{hop}: login failed: {e}"))?;
    if !auth.success() {
        return Err(format!("{hop} refused the login of user {}", hop.user));
    }
    Ok((session, fingerprint))
}

/// Why a proxy check failed, in the codes Bastionhost reports (`ProxyStateErrorCode`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProxyFault {
    /// `CHECK_PWD_FAILED`, `CHECK_PWD_TIMEOUT`, `CHECK_PWD_NETWORK_ERR` or `UNEXPECTED`.
    pub code: &'static str,
    pub message: String,
}

/// Checks one proxy as a session would use it, without reaching a target: it answers, speaks
/// its protocol and accepts the domain's login (an SSH proxy: its host key is the trusted one,
/// or is trusted now through `keys`, then the password login; SOCKS5: the method choice and
/// the user/password login; HTTP: it answers — its login is only checked by a `CONNECT`).
pub async fn check_proxy(
    route: &Route,
    hop: &ProxyHop,
    timeout: Duration,
    keys: &dyn ProxyKeys,
) -> Result<(), ProxyFault> {
    let fault = |code, message| ProxyFault { code, message };
    let attempt = async {
        let mut tcp = TcpStream::connect((hop.address.as_str(), hop.port))
            .await
            .map_err(|e| {
                fault(
                    "CHECK_PWD_NETWORK_ERR",
                    format!("{hop} is unreachable: {e}"),
                )
            })?;
        match hop.kind {
            ProxyKind::Http => Ok(()),
            ProxyKind::Socks5 => socks5_login(&mut tcp, hop).await.map_err(|f| match f {
                Failed::Said(w) if w.contains("refused the login") => fault("CHECK_PWD_FAILED", w),
                Failed::Said(w) => fault("UNEXPECTED", w),
                Failed::Io(e) => fault(
                    "CHECK_PWD_NETWORK_ERR",
                    format!("{hop} closed the connection: {e}"),
                ),
            }),
            ProxyKind::Ssh => ssh_login(tcp, route, hop, keys)
                .await
                .map(drop)
                .map_err(|w| {
                    let code = if w.contains("refused the login") {
                        "CHECK_PWD_FAILED"
                    } else {
                        "UNEXPECTED"
                    };
                    fault(code, w)
                }),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(fault(
            "CHECK_PWD_TIMEOUT",
            format!("{hop} did not answer in time"),
        )),
    }
}

/// `host:port`, with brackets around an IPv6 address.
fn join(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests;
