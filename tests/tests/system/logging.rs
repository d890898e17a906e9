//! Logs of a real node: JSON on request, and a log filter changed by SIGHUP without a restart.

use portunus_tests::{wait_until, ProcCluster};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);

#[test]
fn json_logs_and_a_log_filter_changed_without_restart() {
    let mut c = ProcCluster::new(1).unwrap();
    c.spawn(1, &["--log-format", "json"]).unwrap();
    c.wait_stable(START).unwrap();
    let n = c.node(1);
    wait_until("registration logged", START, || {
        n.output().contains("node registered")
    })
    .unwrap();
    let json_lines: Vec<serde_json::Value> = n
        .output()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("every log line is JSON"))
        .collect();
    assert!(json_lines
        .iter()
        .any(|v| v["fields"]["message"] == "node registered"));

    std::fs::write(n.data_dir.join("log-level"), "debug").unwrap();
    let pid = n.pid().unwrap();
    let hup = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    wait_until("the new filter applied", START, || {
        n.output().contains("log filter changed")
    })
    .unwrap();
    assert!(n.is_running(), "SIGHUP does not stop the node");
}
