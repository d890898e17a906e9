//! The official Bastionhost Python SDK drives a three-node cluster of real processes, its
//! requests spread over all nodes; the O&M token it obtains is then used with the OpenSSH client
//! through the SSH ports of other nodes to reach a database (an echo server here).

use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass};
use portunus_tests::{wait_until, ProcCluster};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

const START: Duration = Duration::from_secs(30);

fn echo_server() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut r = s.try_clone().unwrap();
                let _ = std::io::copy(&mut r, &mut s);
            });
        }
    });
    port
}

fn sdk_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ops/tests/sdk_smoke.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_drives_the_cluster_and_its_token_works_over_ssh() {
    let mut c = ProcCluster::new(3).unwrap();
    c.env = vec![
        (
            "PORTUNUS_BOOTSTRAP_ACCESS_KEY_ID".into(),
            "PTNtestadminkey".into(),
        ),
        (
            "PORTUNUS_BOOTSTRAP_ACCESS_KEY_SECRET".into(),
            "test-admin-secret-0123456789".into(),
        ),
    ];
    c.spawn_all().unwrap();
    c.wait_stable(START).unwrap();
    let nodes = &c.nodes;
    wait_until("the first administrator", START, || {
        nodes
            .iter()
            .any(|n| n.output().contains("administrator created"))
    })
    .unwrap();

    let echo = echo_server();
    let out_file = c.dir.path().join("token.json");
    let endpoints: Vec<String> = c.nodes.iter().map(|n| n.api.to_string()).collect();
    let run = std::process::Command::new("python3")
        .arg(sdk_script())
        .env("PORTUNUS_API_ENDPOINTS", endpoints.join(","))
        .env("PORTUNUS_AK_ID", "PTNtestadminkey")
        .env("PORTUNUS_AK_SECRET", "test-admin-secret-0123456789")
        .env("PORTUNUS_SMOKE_DB_PORT", echo.to_string())
        .env("PORTUNUS_SMOKE_OUT", &out_file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && stdout.contains("sdk_smoke: OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let issued: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).unwrap()).unwrap();
    let (user, token) = (
        issued["user"].as_str().unwrap(),
        issued["token"].as_str().unwrap(),
    );

    let askpass = Askpass::new();
    for node in &c.nodes[1..] {
        let local = free_port();
        let mut ssh = askpass.ssh(node.ssh.port(), user, token);
        ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{echo}")]);
        let mut child = ssh.spawn().unwrap();
        wait_listening(local).await;
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", local)).unwrap();
        conn.write_all(b"select 1;").unwrap();
        let mut back = [0u8; 9];
        conn.read_exact(&mut back).unwrap();
        assert_eq!(&back, b"select 1;", "through node {}", node.id);
        child.kill().await.unwrap();
    }
}

/// Every SDK action the other scripts leave out, called through the unchanged SDK against a
/// node (`ops/tests/sdk_sweep.py`): each answers with the typed body its model expects, or with
/// the refusal Portunus documents for it.
#[test]
fn the_sdk_actions_the_other_scripts_leave_out_answer_as_their_models_expect() {
    let c = ProcCluster::with_admin(1, START).unwrap();
    portunus_tests::sdk::run_step(
        c.nodes[0].api,
        "sdk_sweep.py",
        "PORTUNUS_SWEEP_STEP",
        "all",
        &[],
    );
}
