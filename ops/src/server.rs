//! The HTTP surface: the routers of `/healthz` and `/readyz` (open), `/metrics` and
//! `/v1/status` (the operator's listener), and the accept loop that serves a router over plain
//! HTTP/1.1 or TLS (HTTP/1.1 or HTTP/2 by ALPN) within [`ApiSettings`]' limits.
//!
//! The loop picks the protocol itself (ALPN on TLS, HTTP/1.1 on plain TCP) rather than sniffing
//! the first bytes, so that a client that sends nothing is on the header timer from the start.
//!
//! Connections from trusted load balancers (`proxy_from`) start with a PROXY v2 header naming
//! the real client, read before TLS with the SSH gateway's parser: the admin audit trail, the
//! logs and the cut-off records then name the client, not the balancer.

use crate::limits::{ApiSettings, CutOff};
use crate::{Metrics, NodeProbe};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use portunus_proxy_protocol::Cidr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{watch, Semaphore};

#[cfg(test)]
mod tests;

#[derive(Clone)]
struct Ctx {
    probe: Arc<dyn NodeProbe>,
    metrics: Arc<Metrics>,
}

/// Health for load balancers: `/healthz` (liveness) and `/readyz` (readiness). Open to anyone.
pub fn health_router(probe: Arc<dyn NodeProbe>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(Ctx { probe, metrics })
}

/// What operators scrape: `/metrics` (Prometheus) and `/v1/status` (the cluster's layout), with
/// the health routes too. They tell the cluster's shape and load, so they are served on the
/// operator's listener, not to everyone who can reach the API.
pub fn operator_router(probe: Arc<dyn NodeProbe>, metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(metrics_text))
        .route("/v1/status", get(status))
        .with_state(Ctx {
            probe: probe.clone(),
            metrics: metrics.clone(),
        })
        .merge(health_router(probe, metrics))
}

async fn readyz(State(ctx): State<Ctx>) -> Response {
    let r = ctx.probe.readiness();
    let code = if r.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(r)).into_response()
}

async fn metrics_text(State(ctx): State<Ctx>) -> Response {
    ctx.probe.observe(&ctx.metrics);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ctx.metrics.render(),
    )
        .into_response()
}

async fn status(State(ctx): State<Ctx>) -> Json<serde_json::Value> {
    Json(ctx.probe.cluster_status())
}

/// Serves `router` on an already bound listener until `shutdown` resolves: over TLS when `tls`
/// is given, within `limits`, counting cut-off clients in `metrics`. Connections from
/// `proxy_from` must start with a PROXY v2 header, whose client address then stands for the
/// peer's. On shutdown, open connections finish their request in progress (for at most the
/// header and body timeouts).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: &ApiSettings,
    proxy_from: &[Cidr],
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let proxy_from: Arc<[Cidr]> = proxy_from.into();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: keep serving the connections we have.
                    tracing::warn!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            cut(&metrics, CutOff::ConnectionLimit, peer);
            continue;
        };
        let (limits, metrics, router) = (limits.clone(), metrics.clone(), router.clone());
        let (acceptor, stop, proxy_from) = (acceptor.clone(), stop_rx.clone(), proxy_from.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let mut tcp = tcp;
            let Some(client) = client_of(&mut tcp, peer, &proxy_from, &limits).await else {
                return;
            };
            let conn = Conn {
                peer: client,
                limits,
                metrics,
                // The API's handlers see the client address (the admin audit trail records it).
                service: TowerToHyperService::new(
                    router.layer(axum::Extension(axum::extract::ConnectInfo(client))),
                ),
                stop,
            };
            conn.run(tcp, acceptor).await;
        });
    }
    let _ = stop_tx.send(true);
    let grace = limits.header_timeout() + limits.body_timeout();
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
    Ok(())
}

/// The client a connection speaks for: the peer itself, or for a trusted load balancer the
/// client its PROXY v2 header names (None, connection dropped, when that header is missing or
/// malformed: a trusted balancer must always send one).
async fn client_of(
    tcp: &mut tokio::net::TcpStream,
    peer: SocketAddr,
    proxy_from: &[Cidr],
    limits: &ApiSettings,
) -> Option<SocketAddr> {
    if !proxy_from.iter().any(|c| c.contains(peer.ip())) {
        return Some(peer);
    }
    match portunus_proxy_protocol::read_header(tcp, peer, limits.header_timeout()).await {
        Ok(client) => Some(client),
        Err(e) => {
            tracing::warn!(balancer = %peer, error = %e, "API: connection from a trusted load balancer refused");
            None
        }
    }
}

fn cut(metrics: &Metrics, why: CutOff, peer: SocketAddr) {
    crate::limits::record_cut(metrics, why, Some(peer));
}

/// One accepted connection.
struct Conn {
    peer: SocketAddr,
    limits: ApiSettings,
    metrics: Arc<Metrics>,
    service: TowerToHyperService<Router>,
    stop: watch::Receiver<bool>,
}

/// Drives a hyper connection to its end, asking it to finish gracefully when `stop` turns true.
macro_rules! drive {
    ($conn:expr, $stop:expr) => {{
        let conn = $conn;
        tokio::pin!(conn);
        let mut stop = $stop;
        tokio::select! {
            r = conn.as_mut() => r,
            _ = async { drop(stop.wait_for(|s| *s).await) } => {
                conn.as_mut().graceful_shutdown();
                conn.await
            }
        }
    }};
}

impl Conn {
    async fn run(self, tcp: tokio::net::TcpStream, tls: Option<tokio_rustls::TlsAcceptor>) {
        let Some(acceptor) = tls else {
            return self.http1(tcp).await;
        };
        let stream =
            match tokio::time::timeout(self.limits.tls_handshake_timeout(), acceptor.accept(tcp))
                .await
            {
                Err(_) => return cut(&self.metrics, CutOff::TlsHandshakeTimeout, self.peer),
                Ok(Err(e)) => {
                    tracing::debug!(peer = %self.peer, error = %e, "API TLS handshake failed");
                    return;
                }
                Ok(Ok(s)) => s,
            };
        if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
            self.http2(stream).await
        } else {
            self.http1(stream).await
        }
    }

    async fn http1<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut b = hyper::server::conn::http1::Builder::new();
        // hyper's default read buffer (about 400 KiB) times max_connections is what slow
        // senders of big headers could hold; 64 KiB is plenty for the API's headers (431
        // beyond).
        b.timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout())
            .max_header_size(64 * 1024)
            .max_buf_size(64 * 1024);
        // Upgrades are let through for the web portal's terminal (a WebSocket).
        let result = drive!(
            b.serve_connection(TokioIo::new(io), self.service.clone())
                .with_upgrades(),
            self.stop.clone()
        );
        self.ended(result);
    }

    async fn http2<I>(self, io: I)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        b.timer(TokioTimer::new())
            .max_concurrent_streams(32)
            .max_header_list_size(64 * 1024)
            .keep_alive_interval(self.limits.header_timeout())
            .keep_alive_timeout(self.limits.header_timeout());
        let result = drive!(
            b.serve_connection(TokioIo::new(io), self.service.clone()),
            self.stop.clone()
        );
        self.ended(result);
    }

    fn ended(&self, result: Result<(), hyper::Error>) {
        match result {
            Ok(()) => {}
            Err(e) if e.is_timeout() => cut(&self.metrics, CutOff::HeaderTimeout, self.peer),
            Err(e) => {
                tracing::debug!(peer = %self.peer, error = %e, "API connection ended with an error")
            }
        }
    }
}
