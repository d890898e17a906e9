//! The operator's command line against a real node: AccessKeys created and listed with the
//! cluster secret, then used by the official SDK with their role enforced; session termination.

use portunus_tests::{portunus_bin, ProcCluster};
use std::process::Command;
use std::time::Duration;

const START: Duration = Duration::from_secs(30);

fn cli(c: &ProcCluster, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(portunus_bin())
        .args(["cluster", "--via", &c.nodes[0].cluster.to_string()])
        .args(args)
        .env("PORTUNUS_CLUSTER_SECRET", &c.secret)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

const SDK_AS_AUDITOR: &str = r#"
import os, sys
from alibabacloud_tea_openapi import models as om
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_yundun_bastionhost20191209.client import Client
from alibabacloud_yundun_bastionhost20191209 import models as m
c = Client(om.Config(access_key_id=os.environ["AK"], access_key_secret=os.environ["SK"],
                     endpoint=os.environ["EP"], protocol="http", region_id="portunus"))
iid = c.describe_instances(m.DescribeInstancesRequest()).body.instances[0].instance_id
c.list_hosts(m.ListHostsRequest(instance_id=iid))
try:
    c.create_host(m.CreateHostRequest(instance_id=iid, host_name="x", source="Local", ostype="Linux",
                  active_address_type="Private", host_private_address="10.0.0.1"))
    sys.exit("an auditor created a host")
except ClientException as e:
    print("refused:", e.code)
"#;

#[test]
fn access_keys_from_the_command_line_work_with_the_sdk() {
    let mut c = ProcCluster::new(1).unwrap();
    c.spawn(1, &[]).unwrap();
    c.wait_stable(START).unwrap();
    let (ok, out, err) = cli(
        &c,
        &["create-access-key", "--role", "auditor", "--comment", "ci"],
    );
    assert!(ok, "{err}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    let (id, secret) = (field("access key id:"), field("access key secret:"));
    let (ok, listed, err) = cli(&c, &["list-access-keys"]);
    assert!(ok, "{err}");
    assert!(
        listed.contains(&id) && listed.contains("Auditor"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "secrets are never listed");

    let run = Command::new("python3")
        .args(["-c", SDK_AS_AUDITOR])
        .env("AK", &id)
        .env("SK", &secret)
        .env("EP", c.nodes[0].api.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("refused:"), "{stdout}");

    let (ok, _, err) = cli(&c, &["create-access-key", "--role", "root"]);
    assert!(!ok && err.contains("--role"), "{err}");
    let (ok, _, err) = cli(&c, &["terminate-session", "424242"]);
    assert!(!ok && err.contains("424242"), "{err}");
}
