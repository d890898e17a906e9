//! The accept loop's limits, over real sockets: clients that stall in the TLS handshake, the
//! headers or the body are disconnected; an oversized `Content-Length` is refused before the
//! body is read; connections beyond the limit are closed; each cut is counted.

use crate::api::fake::FakeBackend;
use crate::client::{Client, Credentials, Endpoint, Trust};
use crate::{api_router_with, health_router, ApiSettings, Metrics, NodeProbe, Readiness};
use portunus_model::Role;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Generous: how long a test waits for the server to act on a limit of one second.
const DEADLINE: Duration = Duration::from_secs(30);

struct Probe;

impl NodeProbe for Probe {
    fn readiness(&self) -> Readiness {
        Readiness::ready()
    }
    fn observe(&self, _: &Metrics) {}
    fn cluster_status(&self) -> serde_json::Value {
        serde_json::json!({})
    }
}

/// Short timeouts, except the body's: a test that must not wait for a body gets an answer
/// long before this one could fire.
fn limits() -> ApiSettings {
    ApiSettings {
        tls_handshake_timeout_secs: 1,
        header_timeout_secs: 1,
        body_timeout_secs: 600,
        max_body_bytes: 1024,
        max_connections: 64,
        max_bodies_in_flight: 8,
    }
}

/// Serves health and the API over a fake backend; returns the address and the metrics.
async fn start(
    limits: ApiSettings,
    tls: Option<Arc<rustls::ServerConfig>>,
) -> (SocketAddr, Arc<Metrics>) {
    let backend = Arc::new(FakeBackend::new("portunus-test"));
    backend.add_access_key("admin", "admin-secret", Role::Admin, None);
    let metrics = Arc::new(Metrics::new());
    let router = health_router(Arc::new(Probe), metrics.clone()).merge(api_router_with(
        backend,
        metrics.clone(),
        &limits,
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let m = metrics.clone();
    tokio::spawn(async move {
        super::serve(
            listener,
            router,
            tls,
            &limits,
            &[],
            m,
            std::future::pending(),
        )
        .await
    });
    (addr, metrics)
}

/// Reads until the server closes the connection (EOF or reset); panics past the deadline.
async fn until_closed(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(DEADLINE, read)
        .await
        .expect("the server closes the connection");
    String::from_utf8_lossy(&got).into_owned()
}

fn cut_count(metrics: &Metrics, reason: &str) -> u64 {
    metrics.api_cut_off_total.with_label_values(&[reason]).get()
}

/// Waits until `reason` was counted `n` times (the count may follow the close by a moment),
/// then checks it is exactly `n`.
async fn counted(metrics: &Metrics, reason: &str, n: u64) {
    let reached = async {
        while cut_count(metrics, reason) < n {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(DEADLINE, reached)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{reason} counted {} times, not {n}",
                cut_count(metrics, reason)
            )
        });
    assert_eq!(cut_count(metrics, reason), n, "{reason}");
}

fn self_signed() -> Arc<rustls::ServerConfig> {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("cert");
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(ck.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(vec![ck.cert.der().clone()], key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

#[tokio::test]
async fn a_client_stalling_in_the_tls_handshake_is_disconnected() {
    let (addr, metrics) = start(limits(), Some(self_signed())).await;
    let mut stalled = TcpStream::connect(addr).await.expect("connect");
    // Half a ClientHello's record header, then nothing.
    stalled.write_all(&[0x16, 0x03]).await.expect("write");
    until_closed(&mut stalled).await;
    counted(&metrics, "tls_handshake_timeout", 1).await;
    // A client that completes the handshake is served over TLS.
    let creds = Credentials {
        access_key_id: "admin".into(),
        access_key_secret: "admin-secret".into(),
    };
    let endpoint = Endpoint::parse(&format!("https://{addr}")).expect("endpoint");
    let client = Client::new(endpoint, creds, Some(Trust::Insecure)).expect("client");
    let hosts = client
        .call("ListHosts", &[])
        .await
        .expect("served over TLS");
    assert_eq!(hosts["TotalCount"], 0, "{hosts}");
}

#[tokio::test]
async fn clients_stalling_in_their_headers_or_idle_are_disconnected() {
    let (addr, metrics) = start(limits(), None).await;
    let mut partial = TcpStream::connect(addr).await.expect("connect");
    partial
        .write_all(b"POST / HTTP/1.1\r\nHost: api\r\nx-acs-action: ListHosts\r\n")
        .await
        .expect("write");
    let mut silent = TcpStream::connect(addr).await.expect("connect");
    until_closed(&mut partial).await;
    until_closed(&mut silent).await;
    counted(&metrics, "header_timeout", 2).await;
}

#[tokio::test]
async fn a_client_stalling_in_its_body_is_answered_and_disconnected() {
    let mut l = limits();
    l.body_timeout_secs = 1;
    l.header_timeout_secs = 600;
    let (addr, metrics) = start(l, None).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: api\r\nx-acs-action: ListHosts\r\n\
          content-type: application/x-www-form-urlencoded\r\ncontent-length: 500\r\n\r\nA=1",
    )
    .await
    .expect("write");
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"Code\":\"RequestTimeout\""), "{answer}");
    assert!(answer.contains("not received within 1 seconds"), "{answer}");
    counted(&metrics, "body_timeout", 1).await;
}

#[tokio::test]
async fn an_oversized_content_length_is_refused_before_the_body_is_read() {
    let (addr, metrics) = start(limits(), None).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    // No body is sent: the answer cannot have waited for it (the body timeout is 10 minutes).
    s.write_all(
        b"POST / HTTP/1.1\r\nHost: api\r\nx-acs-action: ListHosts\r\n\
          content-type: application/x-www-form-urlencoded\r\ncontent-length: 1048576\r\n\r\n",
    )
    .await
    .expect("write");
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"Code\":\"RequestBodyTooLarge\""),
        "{answer}"
    );
    assert!(
        answer.contains("(1048576 bytes) exceeds the limit of 1024 bytes"),
        "{answer}"
    );
    counted(&metrics, "body_too_large", 1).await;
    counted(&metrics, "body_timeout", 0).await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_once() {
    let mut l = limits();
    l.max_connections = 2;
    l.header_timeout_secs = 600;
    let (addr, metrics) = start(l, None).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        // A complete request proves the connection is being served (and holds a slot).
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n")
            .await
            .expect("write");
        let mut buf = [0u8; 256];
        let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
            .await
            .expect("answer")
            .expect("read");
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        held.push(s);
    }
    let mut third = TcpStream::connect(addr).await.expect("connect");
    let answer = until_closed(&mut third).await;
    assert_eq!(answer, "");
    counted(&metrics, "connection_limit", 1).await;
    // A slot comes back when a connection ends.
    drop(held.pop());
    let served = async {
        loop {
            let mut s = TcpStream::connect(addr).await.expect("connect");
            let _ = s
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: api\r\n\r\n")
                .await;
            let mut buf = [0u8; 256];
            if let Ok(n) = s.read(&mut buf).await {
                if buf[..n].starts_with(b"HTTP/1.1 200") {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(DEADLINE, served)
        .await
        .expect("served again once a slot is free");
}

#[tokio::test]
async fn oversized_headers_are_refused() {
    let (addr, _) = start(limits(), None).await;
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let big = "a".repeat(100 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: api\r\nx-junk: {big}\r\n\r\n");
    // The server may close while we are still writing.
    let _ = s.write_all(request.as_bytes()).await;
    let answer = until_closed(&mut s).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn the_metric_of_cut_offs_is_exported_with_every_reason() {
    let text = Metrics::new().render();
    for reason in crate::CutOff::ALL {
        let line = format!(
            "portunus_api_cut_off_total{{reason=\"{}\"}} 0",
            reason.label()
        );
        assert!(text.contains(&line), "{line} missing");
    }
}

/// A PROXY v2 header for a TCP/IPv4 connection from `client` to 192.0.2.1:8443.
fn proxy_v2(client: SocketAddr) -> Vec<u8> {
    let SocketAddr::V4(c) = client else {
        panic!("an IPv4 client")
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend([0x21, 0x11, 0, 12]);
    h.extend(c.ip().octets());
    h.extend([192, 0, 2, 1]);
    h.extend(c.port().to_be_bytes());
    h.extend(8443u16.to_be_bytes());
    h
}

#[tokio::test]
async fn a_trusted_balancer_names_the_client_and_must_send_the_header() {
    use axum::extract::ConnectInfo;
    let router = axum::Router::new().route(
        "/whoami",
        axum::routing::get(
            |ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let trusted = [portunus_proxy_protocol::Cidr::parse("127.0.0.1").expect("a range")];
    let metrics = Arc::new(Metrics::new());
    tokio::spawn(async move {
        let limits = limits();
        super::serve(
            listener,
            router,
            None,
            &limits,
            &trusted,
            metrics,
            std::future::pending(),
        )
        .await
    });
    let request = b"GET /whoami HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";

    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(&proxy_v2("198.51.100.7:40000".parse().expect("addr")))
        .await
        .expect("header");
    s.write_all(request).await.expect("request");
    let answer = until_closed(&mut s).await;
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.ends_with("198.51.100.7:40000"),
        "{answer}"
    );

    // From the trusted address, a request without the header is not served.
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request).await.expect("request");
    let answer = until_closed(&mut s).await;
    assert_eq!(answer, "", "no answer without a PROXY header");
}
