//! `direct-tcpip` channels (`ssh -L`): ask the gate, connect to the permitted address first,
//! then accept the channel and relay it to the TCP connection with backpressure.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelOpenFailure};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::conn::Conn;
use crate::gate::{AuditEvent, AuditSink, Permit, SessionGate};

/// Bytes read per direction before they are written on: each direction holds one buffer.
const BUF: usize = 64 * 1024;

/// Runs one tunnel channel to its end.
pub(crate) async fn run<G: SessionGate, A: AuditSink>(
    conn: Arc<Conn<G, A>>,
    channel: Channel<Msg>,
    host: String,
    port: u16,
    reply: ChannelOpenHandle,
) {
    let lease = match conn.tunnel_lease(&host, port).await {
        Ok(lease) => lease,
        Err(refusal) => {
            tracing::info!(%host, port, kind = ?refusal.kind, "ssh: tunnel refused");
            let reason = ChannelOpenFailure::Other {
                code: 1,
                reason: refusal.message,
            };
            reply.reject(reason).await;
            return;
        }
    };
    let timeout = conn
        .shared
        .config
        .settings
        .target_connect_timeout_secs
        .max(1);
    let tcp = match connect(lease.permit(), &host, port, Duration::from_secs(timeout)).await {
        Ok(tcp) => tcp,
        Err(reason) => {
            reply
                .reject(ChannelOpenFailure::Other { code: 2, reason })
                .await;
            return;
        }
    };
    let _ = tcp.set_nodelay(true);
    reply.accept().await;
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    let count_up = |n: usize| {
        lease.add_up(n);
        up.fetch_add(n as u64, Ordering::Relaxed);
    };
    let count_down = |n: usize| {
        lease.add_down(n);
        down.fetch_add(n as u64, Ordering::Relaxed);
    };
    tokio::select! {
        () = relay(channel, tcp, count_up, count_down) => {}
        () = lease.terminated() => {}
        () = conn.closed.cancelled() => {}
    }
    conn.shared.audit.event(AuditEvent::Tunnel {
        session_id: lease.session_id(),
        host,
        port,
        bytes_up: up.load(Ordering::Relaxed),
        bytes_down: down.load(Ordering::Relaxed),
    });
}

/// Connects to the permitted address; on failure, the words for the user.
async fn connect(
    permit: &Permit,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream, String> {
    let (address, target_port) = (permit.address.as_str(), permit.port);
    match tokio::time::timeout(timeout, TcpStream::connect((address, target_port))).await {
        Ok(Ok(tcp)) => Ok(tcp),
        Ok(Err(err)) => {
            tracing::info!(%address, target_port, error = %err, "ssh: tunnel target unreachable");
            Err(format!("{host}:{port} is unreachable from the bastion"))
        }
        Err(_) => Err(format!("{host}:{port} did not answer in time")),
    }
}

/// Relays until both directions end at EOF, or either fails (which ends both).
async fn relay(
    channel: Channel<Msg>,
    tcp: TcpStream,
    count_up: impl Fn(usize),
    count_down: impl Fn(usize),
) {
    let (chan_r, chan_w) = tokio::io::split(channel.into_stream());
    let (tcp_r, tcp_w) = tcp.into_split();
    let up = pump(chan_r, tcp_w, count_up);
    let down = pump(tcp_r, chan_w, count_down);
    tokio::pin!(up, down);
    let (mut up_done, mut down_done) = (false, false);
    while !(up_done && down_done) {
        let clean = tokio::select! {
            clean = &mut up, if !up_done => { up_done = true; clean }
            clean = &mut down, if !down_done => { down_done = true; clean }
        };
        if !clean {
            return;
        }
    }
}

/// Copies `from` into `to` with one bounded buffer, counting; shuts `to` down at EOF.
/// Returns false if the copy ended on an error rather than EOF.
async fn pump<R, W>(mut from: R, mut to: W, count: impl Fn(usize)) -> bool
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) => return false,
        };
        if to.write_all(&buf[..n]).await.is_err() {
            return false;
        }
        count(n);
    }
    to.shutdown().await.is_ok()
}
