//! The instance's public-network door across a cluster of real processes: the official SDK
//! sets the public white list and switches public access through one node
//! (`ops/tests/sdk_instance.py`); the OpenSSH client, arriving through a stand-in load balancer
//! that names its source in a PROXY v2 header, is let in or refused by the others according to
//! where it comes from. Also the instance's region, storage and cloud-only refusals.

use portunus_proxy::testing::openssh::{Askpass, Sshd};
use portunus_tests::{sshd_host, ProcCluster};
use std::path::Path;
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);
const PASSWORD: &str = "door-Passw0rd-5";
const LOGIN: &str = "alice@root@web-01";

/// Runs one step of `ops/tests/sdk_instance.py` against `api`.
fn sdk(api: std::net::SocketAddr, step: &str, env: &[(&str, &str)]) {
    portunus_tests::sdk::run_step(api, "sdk_instance.py", "PORTUNUS_INSTANCE_STEP", step, env);
}

/// An exec through `port` by a client the stand-in balancer reports as `source`: Ok when it
/// ran, Err(what ssh said) when refused.
async fn login(askpass: &Askpass, port: u16, source: &str) -> Result<(), String> {
    let relay = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/proxy_v2_connect.py");
    let proxy = format!("ProxyCommand=python3 {} {source} %h %p", relay.display());
    let mut ssh = askpass.ssh_with(port, LOGIN, PASSWORD, &[&proxy]);
    ssh.arg("echo door-$((2+3))");
    let out = tokio::time::timeout(WAIT, ssh.output())
        .await
        .expect("ssh in time")
        .unwrap();
    let (said, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if out.status.success() && said.contains("door-5") {
        return Ok(());
    }
    assert!(
        err.contains("Permission denied"),
        "neither ran nor refused at login: {said} {err}"
    );
    Err(err.into_owned())
}

/// Waits until a login through `port` from `source` is admitted (`admit`) or refused.
async fn until(askpass: &Askpass, port: u16, source: &str, admit: bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let got = login(askpass, port, source).await;
        if got.is_ok() == admit {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a login from {source} through port {port}: expected admitted={admit}, got {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_sources_meet_the_white_list_and_the_public_access_switch_on_every_node() {
    let sshd = Sshd::start().await;
    let c = ProcCluster::with_admin_env(
        3,
        START,
        &[("PORTUNUS_PROXY_PROTOCOL_FROM", "127.0.0.2/32")],
    )
    .unwrap();
    let n1 = &c.nodes[0];
    sshd_host(
        n1,
        c.dir.path(),
        sshd.port,
        &sshd.client_key,
        ("alice", PASSWORD),
        "web-01",
    );
    sdk(n1.api, "check", &[]);
    let askpass = Askpass::new();
    let (p2, p3) = (c.nodes[1].ssh.port(), c.nodes[2].ssh.port());
    const OFFICE: &str = "198.51.100.7";
    const CAFE: &str = "203.0.113.9";
    const PRIVATE: &str = "10.9.8.7";

    // Open by default: any source.
    until(&askpass, p2, CAFE, true).await;

    // A white list written through node 1 admits the office on node 2 and 3 and refuses the
    // cafe; private sources are not its business.
    sdk(
        n1.api,
        "whitelist",
        &[("PORTUNUS_WHITE_LIST", "198.51.100.0/24,2001:db8::/32")],
    );
    until(&askpass, p2, CAFE, false).await;
    until(&askpass, p3, CAFE, false).await;
    login(&askpass, p3, OFFICE).await.unwrap();
    login(&askpass, p2, "2001:db8::42").await.unwrap();
    login(&askpass, p2, PRIVATE).await.unwrap();
    let log = c.nodes[1].output();
    assert!(
        log.contains("203.0.113.9 is not in this bastion's public white list"),
        "node 2 does not say why it refused: {log}"
    );

    // Public access off (through node 2): the office is refused too, private sources still in.
    sdk(c.nodes[1].api, "public", &[("PORTUNUS_SWITCH", "off")]);
    until(&askpass, p3, OFFICE, false).await;
    login(&askpass, p3, PRIVATE).await.unwrap();
    login(&askpass, p3, "::1").await.unwrap();
    let log = c.nodes[2].output();
    assert!(
        log.contains("Logons from the public network (198.51.100.7) are disabled"),
        "node 3 does not say why it refused: {log}"
    );

    // Back on (through node 3), the white list still applies.
    sdk(c.nodes[2].api, "public", &[("PORTUNUS_SWITCH", "on")]);
    until(&askpass, p2, OFFICE, true).await;
    assert!(login(&askpass, p2, CAFE).await.is_err());
    sdk(n1.api, "whitelist", &[("PORTUNUS_WHITE_LIST", "")]);
    until(&askpass, p3, CAFE, true).await;
}
