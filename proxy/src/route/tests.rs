//! The proxy handshakes against scripted peers: what the bastion sends, and the words it
//! gives for each refusal. (Interoperation with real proxies — OpenSSH, microsocks,
//! tinyproxy — is tested by the node's `network_domains` test.)

use super::*;
use tokio::net::TcpListener;

fn hop(kind: ProxyKind, port: u16, user: &str, password: Option<&str>) -> ProxyHop {
    ProxyHop {
        kind,
        node_type: "Master".into(),
        address: "127.0.0.1".into(),
        port,
        user: user.into(),
        password: password.map(|p| Secret(p.into())),
        host_key: None,
    }
}

fn route(hops: Vec<ProxyHop>) -> Route {
    Route {
        domain_id: Some(7),
        domain_name: "dmz".into(),
        proxies: hops,
    }
}

const T: Duration = Duration::from_secs(5);

/// A peer that answers one connection with `script(stream)`; its port.
async fn peer<F, Fut>(script: F) -> (u16, tokio::task::JoinHandle<Vec<u8>>)
where
    F: FnOnce(TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<u8>> + Send,
{
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = l.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let (s, _) = l.accept().await.expect("accept");
        script(s).await
    });
    (port, task)
}

/// An HTTP request head, read whole (so that closing does not reset the connection).
async fn read_head(s: &mut TcpStream) -> Vec<u8> {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.extend(read_n(s, 1).await);
    }
    head
}

async fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    s.read_exact(&mut b).await.expect("read");
    b
}

#[tokio::test]
async fn socks5_logs_in_and_connects_by_name() {
    let (port, seen) = peer(|mut s| async move {
        let mut got = read_n(&mut s, 4).await; // 5, 2 methods: none, user/password
        s.write_all(&[5, 2]).await.expect("w");
        got.extend(read_n(&mut s, 2 + 5 + 1 + 6).await); // 1, len, "alice", len, "s3cret"
        s.write_all(&[1, 0]).await.expect("w");
        got.extend(read_n(&mut s, 5 + 8 + 2).await); // CONNECT db.local:5432
        s.write_all(&[5, 0, 0, 1, 127, 0, 0, 1, 0, 80])
            .await
            .expect("w");
        s.write_all(b"hello").await.expect("w");
        got
    })
    .await;
    let r = route(vec![hop(ProxyKind::Socks5, port, "alice", Some("s3cret"))]);
    let mut up = dial(&r, "db.local", 5432, T, &PinnedOnly)
        .await
        .expect("dial");
    let mut hello = [0u8; 5];
    up.read_exact(&mut hello).await.expect("read");
    assert_eq!(&hello, b"hello");
    let sent = seen.await.expect("peer");
    let mut want = vec![5, 2, 0, 2, 1, 5];
    want.extend(b"alice");
    want.push(6);
    want.extend(b"s3cret");
    want.extend([5, 1, 0, 3, 8]);
    want.extend(b"db.local");
    want.extend(5432u16.to_be_bytes());
    assert_eq!(sent, want);
}

#[tokio::test]
async fn socks5_refusals_are_named() {
    let (port, _) = peer(|mut s| async move {
        read_n(&mut s, 4).await;
        s.write_all(&[5, 2]).await.expect("w");
        read_n(&mut s, 2 + 5 + 1 + 5).await;
        s.write_all(&[1, 1]).await.expect("w");
        Vec::new()
    })
    .await;
    let r = route(vec![hop(ProxyKind::Socks5, port, "alice", Some("wrong"))]);
    let err = dial(&r, "10.0.0.5", 22, T, &PinnedOnly)
        .await
        .err()
        .expect("refused");
    assert!(
        err.message.contains("refused the login of user alice"),
        "{err}"
    );
    assert!(err.message.contains("network domain dmz"), "{err}");
    assert!(!err.message.contains("wrong"), "the password leaked: {err}");

    let (port, _) = peer(|mut s| async move {
        read_n(&mut s, 3).await;
        s.write_all(&[5, 0]).await.expect("w");
        read_n(&mut s, 10).await; // CONNECT 10.0.0.5:22 by address
        s.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0])
            .await
            .expect("w");
        Vec::new()
    })
    .await;
    let r = route(vec![hop(ProxyKind::Socks5, port, "", None)]);
    let err = dial(&r, "10.0.0.5", 22, T, &PinnedOnly)
        .await
        .err()
        .expect("refused");
    assert!(
        err.message
            .contains("could not reach 10.0.0.5:22: connection refused"),
        "{err}"
    );
}

#[tokio::test]
async fn http_connect_keeps_what_follows_the_head() {
    let (port, seen) = peer(|mut s| async move {
        let head = read_head(&mut s).await;
        // The target's first bytes arrive with the proxy's answer.
        s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\nSSH-2.0-x\r\n")
            .await
            .expect("w");
        head
    })
    .await;
    let r = route(vec![hop(ProxyKind::Http, port, "bob", Some("pw"))]);
    let mut up = dial(&r, "::1", 22, T, &PinnedOnly).await.expect("dial");
    let mut banner = [0u8; 11];
    up.read_exact(&mut banner).await.expect("read");
    assert_eq!(&banner, b"SSH-2.0-x\r\n");
    let head = String::from_utf8(seen.await.expect("peer")).expect("utf8");
    assert!(head.starts_with("CONNECT [::1]:22 HTTP/1.1\r\n"), "{head}");
    // bob:pw
    assert!(
        head.contains("Proxy-Authorization: Basic Ym9iOnB3\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn http_refusals_are_named_and_the_slave_is_tried_next() {
    let (master, _) = peer(|mut s| async move {
        read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n")
            .await
            .expect("w");
        Vec::new()
    })
    .await;
    let (slave, _) = peer(|mut s| async move {
        read_head(&mut s).await;
        s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await.expect("w");
        Vec::new()
    })
    .await;
    let mut second = hop(ProxyKind::Http, slave, "", None);
    second.node_type = "Slave".into();
    let r = route(vec![
        hop(ProxyKind::Http, master, "bob", Some("pw")),
        second,
    ]);
    dial(&r, "10.0.0.5", 22, T, &PinnedOnly)
        .await
        .expect("the slave connects");

    let (only, _) = peer(|mut s| async move {
        read_head(&mut s).await;
        s.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n")
            .await
            .expect("w");
        Vec::new()
    })
    .await;
    let r = route(vec![hop(ProxyKind::Http, only, "", None)]);
    let err = dial(&r, "10.0.0.5", 22, T, &PinnedOnly)
        .await
        .err()
        .expect("refused");
    assert!(
        err.message
            .contains("refused CONNECT 10.0.0.5:22: \"HTTP/1.1 403 Forbidden\""),
        "{err}"
    );
}

#[tokio::test]
async fn a_proxy_domain_never_falls_back_to_a_direct_leg() {
    let target = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = target.local_addr().expect("addr").port();
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let dead = closed.local_addr().expect("addr").port();
    drop(closed);
    let r = route(vec![hop(ProxyKind::Socks5, dead, "", None)]);
    let err = dial(&r, "127.0.0.1", port, T, &PinnedOnly)
        .await
        .err()
        .expect("no route");
    assert!(err.message.contains("is unreachable"), "{err}");
    let none = route(Vec::new());
    let err = dial(&none, "127.0.0.1", port, T, &PinnedOnly)
        .await
        .err()
        .expect("no route");
    assert!(err.message.contains("has no usable proxy"), "{err}");
    assert!(dial(&Route::direct(), "127.0.0.1", port, T, &PinnedOnly)
        .await
        .is_ok());
}
