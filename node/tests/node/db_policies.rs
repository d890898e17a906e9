//! Control policies on database sessions, with real parts: a MariaDB server, an in-process
//! cluster, the `mariadb` client on the native MySQL port and through the OpenSSH client's
//! `-L` tunnel. A policy covering the database refuses a login from an address it does not
//! list (and spends nothing of the token), and with port forwarding off refuses the tunnel
//! while the native port still serves; outside its logon hours it refuses, and under O&M
//! approval only an approved request admits (once for a one-logon request).

use portunus_model::ticket::{NewTicket, TicketDecision};
use portunus_model::{
    AccessHours, Accounts, AssetRef, AssetScope, Command, DbEngine, IpAcl, ListMode, PolicyBasics,
    PolicyPart, Protocol, RdpOptions, SshOptions, UserScope,
};
use portunus_node::testing::DatabaseAccess;
use portunus_node::testing::{created, database_token, native_port, three_nodes, wait_for};
use portunus_node::RunningNode;
use portunus_proxy::testing::mariadb::MariaDb;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::process::Command as Process;

const WAIT: Duration = Duration::from_secs(30);
const HOSTED_PASSWORD: &str = "Ho5ted-db-Passw0rd";

/// `mariadb` to 127.0.0.1:`port` as `user` with `password`; (success, stdout, stderr).
async fn mariadb(port: u16, user: &str, password: &str, sql: &str) -> (bool, String, String) {
    let out = Process::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            user,
            "-N",
            "-B",
        ])
        .args(["--skip-ssl", &format!("-p{password}"), "-e", sql])
        .output()
        .await
        .expect("run mariadb");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

async fn update(node: &RunningNode, policy_id: u64, part: PolicyPart) {
    let r = node
        .replica
        .propose(Command::UpdatePolicy { policy_id, part })
        .await;
    assert!(matches!(r, Ok(portunus_model::Response::Done)), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_policy_refuses_addresses_and_tunnels_on_every_node() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         GRANT ALL ON shop.* TO 'app'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-policy-Vb3nQ8sL1zK5";
    let (_, database_id) = database_token(
        &nodes[0],
        DatabaseAccess {
            user: "dana",
            database: "orders",
            engine: DbEngine::MySql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: Some(4),
            token,
        },
    )
    .await;

    // Written through node 1: only 10.9.9.9 may reach the database.
    let r = &nodes[0].replica;
    let basics = PolicyBasics {
        name: "db-guard".into(),
        comment: String::new(),
        priority: 1,
    };
    let policy = created(r.propose(Command::CreatePolicy(basics)).await);
    update(&nodes[0], policy, PolicyPart::Users(UserScope::All)).await;
    let scope = AssetScope::Databases(BTreeMap::from([(database_id, Accounts::All)]));
    update(&nodes[0], policy, PolicyPart::Assets(scope)).await;
    let only_elsewhere = IpAcl {
        mode: ListMode::AllowOnly,
        entries: vec!["10.9.9.9".into()],
    };
    update(&nodes[0], policy, PolicyPart::IpAcl(only_elsewhere)).await;

    // Refused on node 3's native port, and the token keeps both its uses.
    let serving = &nodes[2];
    let native = native_port(serving, DbEngine::MySql).await;
    let (ok, _, err) = mariadb(native, "dana", token, "SELECT 1").await;
    assert!(
        !ok && err.contains("source address 127.0.0.1") && err.contains("db-guard"),
        "{err}"
    );
    /// Dana's token uses, read through the leader (the serving node's own spend may not be
    /// applied on it yet when the client already has its answer).
    async fn uses(n: &RunningNode) -> u32 {
        n.replica
            .read_linearizable(|s| {
                let user = s.user_by_name("dana").expect("dana").id;
                s.tokens_of_user(user).map(|t| t.uses).sum::<u32>()
            })
            .await
            .expect("a linearizable read")
    }
    assert_eq!(uses(serving).await, 0);

    // Addresses allowed again, port forwarding off: the native port serves, the tunnel not.
    update(&nodes[0], policy, PolicyPart::IpAcl(IpAcl::default())).await;
    let no_forwarding = SshOptions {
        direct_tcp: false,
        ..SshOptions::OPEN
    };
    update(
        &nodes[0],
        policy,
        PolicyPart::Protocols {
            ssh: no_forwarding,
            rdp: RdpOptions::default(),
        },
    )
    .await;
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let (ok, out, err) = mariadb(native, "dana", token, "SELECT CURRENT_USER()").await;
    assert!(ok, "{err}");
    assert_eq!(out, "app@%\n");

    let via = &nodes[1];
    via.replica.read_linearizable(|_| ()).await.unwrap();
    let ssh_port = via.ssh_addr.unwrap().port();
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "dana", token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    let (ok, _, err) = mariadb(local, "app", "x", "SELECT 1").await;
    assert!(!ok, "the tunnel served: {err}");
    let _ = tunnel.start_kill();
    let out = tunnel.wait_with_output().await.unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("port forwarding (-L) is not allowed by control policy \"db-guard\""),
        "{said}"
    );

    // Logon hours: only the hour twelve hours from now (UTC) is allowed.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let hour = ((now_ms / 3_600_000) % 24 + 12) % 24;
    let hours = AccessHours {
        week: [1 << hour; 7],
        time_zone: "UTC".into(),
    };
    update(&nodes[0], policy, PolicyPart::Hours(Some(hours))).await;
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let spent = uses(serving).await;
    let (ok, _, err) = mariadb(native, "dana", token, "SELECT 1").await;
    assert!(
        !ok && err.contains("not allowed at this time") && err.contains("db-guard"),
        "{err}"
    );
    assert_eq!(uses(serving).await, spent, "a refused logon spends nothing");

    // O&M approval: refused without a request; an approved one-logon request admits one.
    update(&nodes[0], policy, PolicyPart::Hours(None)).await;
    update(&nodes[0], policy, PolicyPart::Approval(true)).await;
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let (ok, _, err) = mariadb(native, "dana", token, "SELECT 1").await;
    assert!(!ok && err.contains("O&M approval is required"), "{err}");
    let dana = serving
        .replica
        .view()
        .read(|s| s.user_by_name("dana").map(|u| u.id))
        .expect("dana");
    let ticket = created(
        r.propose(Command::CreateOperationTicket(NewTicket {
            user_id: dana,
            asset: AssetRef::Database(database_id),
            account_name: "app".into(),
            protocol: Protocol::MySql,
            comment: "month end".into(),
            start_ms: None,
            end_ms: None,
            one_time: true,
        }))
        .await,
    );
    let decision = TicketDecision::as_asked(true, "PTNadmin");
    r.propose(Command::DecideOperationTicket {
        ticket_id: ticket,
        decision,
    })
    .await
    .unwrap();
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let (ok, out, err) = mariadb(native, "dana", token, "SELECT 6*7").await;
    assert!(ok && out == "42\n", "{out} {err}");
    let (ok, _, err) = mariadb(native, "dana", token, "SELECT 1").await;
    assert!(
        !ok && err.contains("O&M approval is required"),
        "a one-logon request admitted two: {err}"
    );
    update(&nodes[0], policy, PolicyPart::Approval(false)).await;
    wait_for("the sessions to close", WAIT, || {
        nodes[0].replica.view().read(|s| s.slots_in_use()) == 0
    })
    .await;
    for n in nodes {
        n.stop().await;
    }
}
