//! `direct-tcpip` channels (`ssh -L`): ask the gate, connect to the permitted address first,
//! then accept the channel and relay it to the TCP connection with backpressure.

use std::io::IoSlice;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes};
use futures::FutureExt;
use russh::server::{ChannelOpenHandle, Msg};
use russh::{Channel, ChannelMsg, ChannelOpenFailure, ChannelReadHalf};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conn::Conn;
use crate::gate::{AuditEvent, AuditSink, GateKeys, Permit, SessionGate};
use crate::route::{self, Upstream};

/// Bytes read per direction before they are written on: each direction holds one buffer
/// (target -> client), or at most this much of queued channel data (client -> target).
const BUF: usize = 64 * 1024;

/// SSH data packets written to the target in one vectored write, at most.
const MAX_BATCH: usize = 16;

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
    let gate = &*conn.shared.gate;
    let timeout = Duration::from_secs(timeout);
    let tcp = match connect(gate, lease.permit(), &host, port, timeout).await {
        Ok(tcp) => tcp,
        Err(reason) => {
            reply
                .reject(ChannelOpenFailure::Other { code: 2, reason })
                .await;
            return;
        }
    };
    tcp.set_nodelay();
    let id = channel.id();
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
    let spoken = crate::db::spoken(lease.permit());
    let session = async {
        if spoken {
            let client = crate::db::Counted {
                inner: channel.into_stream(),
                on_read: &count_up,
                on_write: &count_down,
            };
            let audit = conn.shared.audit.clone();
            let gather = crate::db::gather(&tcp);
            if let Err(e) = crate::db::run(
                client,
                tcp,
                gather,
                lease.permit(),
                audit,
                &conn.shared.config.database_tls,
            )
            .await
            {
                tracing::info!(session_id = lease.session_id(), error = %e, "ssh: database session ended");
            }
        } else {
            relay(channel, tcp, &count_up, &count_down).await;
        }
    };
    tokio::select! {
        () = session => {}
        () = lease.terminated() => {}
        () = conn.closed.cancelled() => {}
    }
    let _ = conn.handle.close(id).await;
    conn.shared.audit.event(AuditEvent::Tunnel {
        session_id: lease.session_id(),
        host,
        port,
        bytes_up: up.load(Ordering::Relaxed),
        bytes_down: down.load(Ordering::Relaxed),
    });
}

/// Connects to the permitted address (along the asset's route); on failure, the words for the
/// user.
async fn connect<G: SessionGate>(
    gate: &G,
    permit: &Permit,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<Upstream, String> {
    let (address, target_port) = (permit.address.as_str(), permit.port);
    let keys = GateKeys(gate);
    match route::dial(&permit.route, address, target_port, timeout, &keys).await {
        Ok(up) => Ok(up),
        Err(err) if permit.route.is_direct() => {
            tracing::info!(%address, target_port, error = %err, "ssh: tunnel target unreachable");
            if err.timed_out {
                Err(format!("{host}:{port} did not answer in time"))
            } else {
                Err(format!("{host}:{port} is unreachable from the bastion"))
            }
        }
        Err(err) => Err(err.message),
    }
}

/// Relays until both directions end at EOF, or either fails (which ends both).
async fn relay(
    channel: Channel<Msg>,
    target: Upstream,
    count_up: impl Fn(usize),
    count_down: impl Fn(usize),
) {
    match target {
        Upstream::Tcp(tcp) => {
            let (tcp_r, tcp_w) = tcp.into_split();
            relay_halves(channel, tcp_r, tcp_w, count_up, count_down).await;
        }
        other => {
            let (r, w) = tokio::io::split(other);
            relay_halves(channel, r, w, count_up, count_down).await;
        }
    }
}

async fn relay_halves(
    channel: Channel<Msg>,
    tcp_r: impl AsyncRead + Unpin,
    tcp_w: impl AsyncWrite + Unpin,
    count_up: impl Fn(usize),
    count_down: impl Fn(usize),
) {
    let (mut chan_r, chan_w) = channel.split();
    let up = up(&mut chan_r, tcp_w, count_up);
    let down = pump(tcp_r, chan_w.make_writer(), count_down);
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

/// Client -> target: writes the channel's data messages as they come, without copying them
/// again, and whatever further messages are already queued with them in one vectored write
/// (one syscall for several SSH packets when the target is slower than the client). Shuts the
/// TCP side down at the channel's EOF. Returns false if a write failed.
async fn up<W>(from: &mut ChannelReadHalf, mut to: W, count: impl Fn(usize)) -> bool
where
    W: AsyncWrite + Unpin,
{
    let mut batch: Vec<Bytes> = Vec::with_capacity(MAX_BATCH);
    loop {
        let mut end = match from.wait().await {
            Some(ChannelMsg::Data { data }) => {
                batch.push(data);
                false
            }
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => true,
            Some(_) => continue,
        };
        let mut queued: usize = batch.iter().map(Bytes::len).sum();
        while !end && batch.len() < MAX_BATCH && queued < BUF {
            match from.wait().now_or_never() {
                Some(Some(ChannelMsg::Data { data })) => {
                    queued += data.len();
                    batch.push(data);
                }
                Some(Some(ChannelMsg::Eof | ChannelMsg::Close) | None) => end = true,
                Some(Some(_)) => {}
                None => break,
            }
        }
        if write_all_bytes(&mut to, &mut batch).await.is_err() {
            return false;
        }
        count(queued);
        if end {
            return to.shutdown().await.is_ok();
        }
    }
}

/// Writes every buffer of `bufs` (vectored), then empties it.
async fn write_all_bytes<W>(to: &mut W, bufs: &mut Vec<Bytes>) -> std::io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    // An empty data message is legal; a write of nothing but empty buffers would return 0.
    bufs.retain(|b| !b.is_empty());
    let mut first = 0;
    while first < bufs.len() {
        let slices: Vec<IoSlice<'_>> = bufs[first..].iter().map(|b| IoSlice::new(b)).collect();
        let mut written = to.write_vectored(&slices).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while written > 0 {
            let Some(buf) = bufs.get_mut(first) else {
                break;
            };
            if written >= buf.len() {
                written -= buf.len();
                first += 1;
            } else {
                buf.advance(written);
                written = 0;
            }
        }
    }
    bufs.clear();
    Ok(())
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

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    /// Takes at most 7 bytes per write, and only from the first buffer of a vectored write.
    struct Trickle(Vec<u8>);

    impl AsyncWrite for Trickle {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let n = buf.len().min(7);
            self.0.extend_from_slice(&buf[..n]);
            Poll::Ready(Ok(n))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn short_vectored_writes_still_write_everything_in_order() {
        let parts: Vec<Bytes> = [&b"first packet"[..], b"", b"x", b"the third, longer one"]
            .iter()
            .map(|p| Bytes::copy_from_slice(p))
            .collect();
        let mut bufs = parts.clone();
        let mut out = Trickle(Vec::new());
        write_all_bytes(&mut out, &mut bufs).await.expect("write");
        assert!(bufs.is_empty());
        assert_eq!(out.0, parts.concat());
        let mut empty = vec![Bytes::new()];
        write_all_bytes(&mut out, &mut empty)
            .await
            .expect("an empty message is no error");
        assert_eq!(out.0, parts.concat());
    }
}
