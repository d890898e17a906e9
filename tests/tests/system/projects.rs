//! Projects through the official SDK on a cluster of real processes: an administrator
//! partitions the assets and names a project administrator through node 1; that user, with
//! an Operator AccessKey of their own, administers one project's hosts through node 2 and is
//! refused everything else; removed from the project authorization through node 1, they can
//! do nothing more on node 2 from that moment. Every project, project-authorization and
//! review-rule action is called with its typed answer checked (`ops/tests/sdk_projects.py`).
//! The configuration export made through node 1 is handed out by node 2 after node 1 is
//! killed, and restores into a fresh cluster.

use portunus_tests::sdk::{run_step, try_step};
use portunus_tests::{wait_until, ProcCluster};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const WAIT: Duration = Duration::from_secs(20);
const SCRIPT: &str = "sdk_projects.py";
const STEP: &str = "PORTUNUS_PROJECTS_STEP";

#[test]
fn a_project_administrator_administers_only_its_projects_on_every_node() {
    let mut c = ProcCluster::with_admin_env(3, START, &[]).unwrap();
    let state = c.dir.path().join("projects.json");
    let state_env = ("PORTUNUS_PROJECTS_STATE", state.to_str().unwrap());
    let (api1, api2) = (c.nodes[0].api, c.nodes[1].api);
    let cluster1 = c.nodes[0].cluster;
    run_step(api1, SCRIPT, STEP, "setup", &[state_env]);
    let st: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    let pm = st["pm"].as_str().unwrap();
    let made = c
        .cli(
            cluster1,
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
        || match try_step(api2, SCRIPT, STEP, "manager", &as_pm) {
            Ok(()) => true,
            Err(why) => {
                last = why;
                false
            }
        },
    );
    assert!(served.is_ok(), "{last}");
    run_step(api1, SCRIPT, STEP, "revoke", &[state_env]);
    // A delegated call waits for its node to hold every acknowledged write: the removal
    // through node 1 is in force on node 2 at once.
    run_step(api2, SCRIPT, STEP, "revoked", &as_pm);

    // A configuration export made through node 1 is handed out by node 2 after node 1 is
    // killed (a majority holds it), and restores into a fresh cluster: the projects, hosts,
    // users and delegations are there, and the exported Admin key works there.
    let job = c.dir.path().join("job");
    let file = c.dir.path().join("export.json");
    let job_env = ("PORTUNUS_PROJECTS_JOB", job.to_str().unwrap());
    let file_env = ("PORTUNUS_PROJECTS_EXPORT", file.to_str().unwrap());
    run_step(api1, SCRIPT, STEP, "export", &[state_env, job_env]);
    c.node(1).kill();
    run_step(
        api2,
        SCRIPT,
        STEP,
        "download",
        &[state_env, job_env, file_env],
    );

    let mut fresh = ProcCluster::new(1).unwrap();
    fresh.spawn_all().unwrap();
    fresh.wait_stable(START).unwrap();
    let (api, via) = (fresh.nodes[0].api, fresh.nodes[0].cluster);
    // Under another sealing key the export's secrets would not open: refused, nothing stored.
    let other_key = fresh.dir.path().join("other-seal-key");
    std::fs::write(&other_key, "DQTEUkTV3AB7feCTieibhLYonOFeTBJDtQri43sKp6k=\n").unwrap();
    let refused = fresh.cli(
        via,
        &[
            "import-config",
            file.to_str().unwrap(),
            "--seal-key-file",
            other_key.to_str().unwrap(),
        ],
    );
    let why = refused
        .expect_err("imported under another sealing key")
        .to_string();
    assert!(why.contains("does not open with this sealing key"), "{why}");
    let out = fresh
        .cli(via, &["import-config", file.to_str().unwrap()])
        .unwrap();
    assert!(out.contains("imported the configuration of"), "{out}");
    let again = fresh.cli(via, &["import-config", file.to_str().unwrap()]);
    let why = again.expect_err("imported twice").to_string();
    assert!(why.contains("import into a fresh cluster"), "{why}");
    let restored = wait_until(
        "the exported Admin key to work on the new cluster",
        WAIT,
        || match try_step(api, SCRIPT, STEP, "restored", &[state_env]) {
            Ok(()) => true,
            Err(why) => {
                last = why;
                false
            }
        },
    );
    assert!(restored.is_ok(), "{last}");
}
