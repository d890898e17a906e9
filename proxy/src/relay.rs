//! A tiny raw TCP relay: accepts connections and [`forward`]s each one to a fixed target.
//!
//! Used by tests and the benchmark harness; the gateways build their own listeners.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::forward::{forward, Counters, ForwardMode};

/// A bound relay listener; nothing is accepted until [`Relay::serve`] runs.
#[derive(Debug)]
pub struct Relay {
    listener: TcpListener,
    target: SocketAddr,
    mode: ForwardMode,
    counters: Arc<Counters>,
}

impl Relay {
    /// Binds `listen_addr` (port 0 picks a free port) for relaying to `target_addr` with `mode`.
    pub async fn bind(
        listen_addr: SocketAddr,
        target_addr: SocketAddr,
        mode: ForwardMode,
    ) -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(listen_addr).await?,
            target: target_addr,
            mode,
            counters: Counters::new(),
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Byte counters summed over every connection of this relay, updated live.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// Accepts and relays connections until accepting fails.
    ///
    /// Connections run as tasks owned by this future: dropping it (or aborting the task that
    /// runs it) closes every connection. A connection whose target cannot be reached is
    /// closed; per-connection errors are logged, not returned.
    pub async fn serve(self) -> io::Result<()> {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (client, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => continue,
                        Err(err) => return Err(err),
                    };
                    conns.spawn(relay_one(client, peer, self.target, self.mode, self.counters()));
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    }
}

/// Connects to `target` and forwards `client` to it.
async fn relay_one(
    client: TcpStream,
    peer: SocketAddr,
    target: SocketAddr,
    mode: ForwardMode,
    counters: Arc<Counters>,
) {
    let server = match TcpStream::connect(target).await {
        Ok(server) => server,
        Err(err) => {
            tracing::debug!(%peer, %target, error = %err, "relay: target unreachable");
            return;
        }
    };
    for stream in [&client, &server] {
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(error = %err, "relay: could not set TCP_NODELAY");
        }
    }
    match forward(client, server, mode, counters).await {
        Ok(stats) => tracing::debug!(%peer, ?stats, "relay: connection done"),
        Err(err) => tracing::debug!(%peer, error = %err, "relay: connection failed"),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn relays_to_the_target_and_counts() {
        let target = TcpListener::bind("127.0.0.1:0").await.expect("bind target");
        let target_addr = target.local_addr().expect("target addr");
        let any = "127.0.0.1:0".parse().expect("addr");
        let relay = Relay::bind(any, target_addr, ForwardMode::Auto)
            .await
            .expect("bind relay");
        let (addr, counters) = (relay.local_addr().expect("relay addr"), relay.counters());
        let serving = tokio::spawn(relay.serve());

        let echo = tokio::spawn(async move {
            let (mut conn, _) = target.accept().await.expect("accept");
            let mut buf = Vec::new();
            conn.read_to_end(&mut buf).await.expect("read");
            conn.write_all(&buf).await.expect("echo");
        });
        let mut user = TcpStream::connect(addr).await.expect("connect relay");
        user.write_all(b"hello relay").await.expect("write");
        user.shutdown().await.expect("shutdown");
        let mut back = Vec::new();
        user.read_to_end(&mut back).await.expect("read echo");
        assert_eq!(back, b"hello relay");
        echo.await.expect("echo task");
        assert_eq!(counters.up(), 11);
        serving.abort();
    }
}
