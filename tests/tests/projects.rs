//! Projects through the official SDK on a cluster of real processes: an administrator
//! partitions the assets and names a project administrator through node 1; that user, with
//! an Operator AccessKey of their own, administers one project's hosts through node 2 and is
//! refused everything else; removed from the project authorization through node 1, they can
//! do nothing more on node 2 from that moment. Every project, project-authorization and review-rule action is called with its
//! typed answer checked (`ops/tests/sdk_projects.py`).

use portunus_tests::sdk::{run_step, try_step};
use portunus_tests::{wait_until, ProcCluster};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);
const SCRIPT: &str = "sdk_projects.py";
const STEP: &str = "PORTUNUS_PROJECTS_STEP";

#[test]
fn a_project_administrator_administers_only_its_projects_on_every_node() {
    let c = ProcCluster::with_admin_env(2, START, &[]).unwrap();
    let state = c.dir.path().join("projects.json");
    let state_env = ("PORTUNUS_PROJECTS_STATE", state.to_str().unwrap());
    let (n1, n2) = (&c.nodes[0], &c.nodes[1]);
    run_step(n1.api, SCRIPT, STEP, "setup", &[state_env]);
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let pm = st["pm"].as_str().unwrap();
    let made = c
        .cli(
            n1.api,
            &["create-access-key", "--role", "operator", "--user-id", pm],
        )
        .unwrap();
    let field = |name: &str| {
        made.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {made}"))
    };
    let (ak, secret) = (field("access key id:"), field("access key secret:"));
    let as_pm = [
        state_env,
        ("PORTUNUS_AK_ID", ak.as_str()),
        ("PORTUNUS_AK_SECRET", secret.as_str()),
    ];
    // Node 2 serves pm once the key and the delegation written through node 1 reach it.
    let mut last = String::new();
    let served = wait_until(
        "pm to administer web through node 2",
        WAIT,
        || match try_step(n2.api, SCRIPT, STEP, "manager", &as_pm) {
            Ok(()) => true,
            Err(why) => {
                last = why;
                false
            }
        },
    );
    assert!(served.is_ok(), "{last}");
    run_step(n1.api, SCRIPT, STEP, "revoke", &[state_env]);
    // A delegated call waits for its node to hold every acknowledged write: the removal
    // through node 1 is in force on node 2 at once.
    run_step(n2.api, SCRIPT, STEP, "revoked", &as_pm);
}
