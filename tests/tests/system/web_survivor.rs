//! The browser's session outlives the node that logged it on: headless Chromium logs on to
//! the O&M portal through node 1 (`node/tests/web/portal.py`, scenario `survivor`), node 1 is
//! SIGKILLed, and the same cookie shows the user's portal on node 2.

use portunus_tests::ProcCluster;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const PASSWORD: &str = "survivor-Passw0rd-9";

/// The next JSON line the script printed (it prints one per step).
fn next_event(out: &mut impl BufRead, child: &mut std::process::Child) -> Value {
    let mut line = String::new();
    let n = out.read_line(&mut line).unwrap();
    if n == 0 {
        let status = child.wait().unwrap();
        let mut err = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
        panic!("portal.py ended ({status}): {err}");
    }
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
}

#[test]
fn a_browser_session_survives_the_sigkill_of_the_node_that_logged_it_on() {
    let mut c = ProcCluster::with_admin(3, START).unwrap();
    let n1 = &c.nodes[0];
    n1.admin_ok(&["user", "create", "alice", "--password", PASSWORD]);
    n1.admin_ok(&["host", "create", "web-01", "--address", "127.0.0.1"]);
    n1.admin_ok(&[
        "host",
        "add-account",
        "web-01",
        "root",
        "--password",
        "unused-pw",
    ]);
    n1.admin_ok(&["grant", "host", "alice", "web-01", "--account", "root"]);
    let args = json!({
        "a": format!("http://{}", n1.api), "b": format!("http://{}", c.nodes[1].api),
        "user": "alice", "password": PASSWORD,
    });
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../node/tests/web/portal.py");
    let mut child = Command::new("python3")
        .arg(&script)
        .args(["survivor", &args.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let logged_in = next_event(&mut out, &mut child);
    assert_eq!(logged_in["event"], "in", "{logged_in}");
    assert_eq!(
        (&logged_in["user"], &logged_in["hosts"]),
        (&json!("alice"), &json!(["web-01"])),
        "{logged_in}"
    );

    let leader = c.nodes[0].leader();
    c.node(1).kill();
    writeln!(child.stdin.as_mut().unwrap()).unwrap();
    let after = next_event(&mut out, &mut child);
    assert_eq!(after["event"], "after", "{after}");
    assert_eq!(
        (&after["user"], &after["hosts"]),
        (&json!("alice"), &json!(["web-01"])),
        "node 2 with node 1's cookie after node 1's SIGKILL (node {leader:?} led before): {after}"
    );
    assert!(child.wait().unwrap().success());
}
