//! The instance's public-network door on the native MySQL port: a client that a trusted load
//! balancer reports as coming from a public address is refused before any credential, with
//! words saying why, when public access is off; a private source meets the usual credential
//! check instead.

use portunus_model::Command;
use portunus_node::testing::{free_udp, node_config, python};
use std::collections::BTreeMap;

/// What PyMySQL says when a client the balancer names `source` logs in through `port`.
async fn mysql_from(source: &str, port: u16) -> String {
    python(&format!(
        r#"
import ipaddress, socket, struct, pymysql
src, dst = ipaddress.ip_address("{source}"), ipaddress.ip_address("127.0.0.1")
s = socket.socket(); s.bind(("127.0.0.2", 0)); s.connect(("127.0.0.1", {port}))
body = src.packed + dst.packed + struct.pack("!HH", 40000, {port})
s.sendall(b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body)
c = pymysql.connections.Connection(host="127.0.0.1", port={port}, user="alice",
                                   password="not-a-token", defer_connect=True)
try:
    c.connect(s)
    print("CONNECTED")
except pymysql.err.MySQLError as e:
    print("REFUSED", e.args)
"#
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_sources_are_refused_with_the_reason_when_public_access_is_off() {
    let dir = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, String> = [(1, free_udp().to_string())].into();
    let mut config = node_config(1, dir.path(), &peers);
    config.proxy_protocol_from = portunus_proxy_protocol::Cidr::parse_list("127.0.0.2/32").unwrap();
    let mut node = portunus_node::start(config).await.unwrap();
    node.registered().await;
    let port = node.mysql_addr.unwrap().port();

    let before = mysql_from("203.0.113.9", port).await;
    assert!(
        before.contains("REFUSED") && !before.contains("public network"),
        "{before}"
    );
    node.replica
        .propose(Command::SetPublicAccess(false))
        .await
        .unwrap();
    let public = mysql_from("203.0.113.9", port).await;
    assert!(
        public.contains("REFUSED")
            && public.contains("Logons from the public network (203.0.113.9) are disabled"),
        "{public}"
    );
    let private = mysql_from("10.1.2.3", port).await;
    assert!(
        private.contains("REFUSED") && !private.contains("public network"),
        "{private}"
    );
    node.stop().await;
}
