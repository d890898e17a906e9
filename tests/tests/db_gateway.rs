//! The database gateway as an administrator and an auditor use it, with real processes: a
//! MariaDB server, three `portunus` nodes driven by `portunus admin`, the OpenSSH client's `-L`
//! tunnel and the `mariadb` client. SQL rules made through the API refuse `DROP TABLE` and a
//! `DELETE` without `WHERE` with the database's own error (whatever else shares the request),
//! the session continues, and the statements — run and refused — are listed under the
//! engineer's session through another node after the node that served it is SIGKILLed with
//! the session still open (they are stored while it runs).

use portunus_proxy::testing::mariadb::MariaDb;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass};
use portunus_tests::{created, wait_until, ProcCluster};
use std::time::Duration;

const START: Duration = Duration::from_secs(30);
const HOSTED: &str = "Gw-h0sted-S3cret";

fn mariadb(port: u16, sql: &str) -> (bool, String, String) {
    let out = std::process::Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            "app",
            "-N",
            "-B",
        ])
        .args(["--skip-ssl", "-e", sql])
        .output()
        .expect("run mariadb");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_rules_refuse_statements_and_the_audit_outlives_the_serving_node() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE TABLE shop.items (id INT PRIMARY KEY); \
         INSERT INTO shop.items VALUES (1), (2); \
         CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED}'; GRANT ALL ON shop.* TO 'app'@'%';"
    ))
    .await;
    let mut c = ProcCluster::with_admin(3, START).unwrap();
    let n1 = &c.nodes[0];
    n1.admin_ok(&["user", "create", "alice", "--password", "Al1ce-pass!x"]);
    let port = db.port.to_string();
    let args = [
        "database",
        "create",
        "orders",
        "--type",
        "MySQL",
        "--address",
        "127.0.0.1",
    ];
    n1.admin_ok(&[&args[..], &["--port", &port]].concat());
    n1.admin_ok(&[
        "database",
        "add-account",
        "orders",
        "app",
        "--password",
        HOSTED,
    ]);
    n1.admin_ok(&["grant", "database", "alice", "orders", "--account", "app"]);
    let no_drop = created(&n1.admin_ok(&[
        "sql-rule",
        "create",
        "no-drop",
        "--kind",
        "Verb",
        "--value",
        "DROP",
        "--value",
        "TRUNCATE",
        "--database",
        "orders",
    ]));
    created(&n1.admin_ok(&[
        "sql-rule",
        "create",
        "no-unbounded-delete",
        "--kind",
        "WithoutWhere",
    ]));
    // A bad rule is refused with the reason.
    let bad = n1.admin(&[
        "sql-rule", "create", "broken", "--kind", "Regex", "--value", "(",
    ]);
    assert!(
        !bad.ok && bad.stderr.contains("not a regular expression"),
        "{bad:?}"
    );
    let listed = n1.admin_ok(&["sql-rule", "list"]);
    assert!(
        listed.contains("no-drop") && listed.contains("DROP, TRUNCATE"),
        "{listed}"
    );

    let issued = n1.admin_ok(&[
        "token",
        "generate",
        "--database",
        "orders",
        "--account",
        "app",
        "--user",
        "alice",
    ]);
    let token = issued
        .lines()
        .find_map(|l| l.strip_prefix("token:"))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| panic!("no token in {issued}"));

    // Alice works through node 2.
    let serving = &c.nodes[1];
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(serving.ssh.port(), "alice", &token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;

    let (ok, _, err) = mariadb(local, "DROP TABLE shop.items");
    assert!(!ok);
    assert!(
        err.contains("1227")
            && err.contains(
                "Statement blocked by the bastion's SQL rule 'no-drop': DROP is not allowed"
            ),
        "{err}"
    );
    let (ok, _, err) = mariadb(local, "SELECT 1; drop table shop.items");
    assert!(!ok && err.contains("rule 'no-drop'"), "{err}");
    let (ok, _, err) = mariadb(local, "DELETE FROM shop.items");
    assert!(
        !ok && err.contains("DELETE without WHERE is not allowed"),
        "{err}"
    );
    // The same connection goes on after a refusal; what the rules allow runs.
    let (ok, out, err) = mariadb(local, "TRUNCATE TABLE shop.items; SELECT 'never'");
    assert!(!ok && out.is_empty(), "{out} {err}");
    let (ok, out, err) = mariadb(
        local,
        "DELETE FROM shop.items WHERE id = 1; SELECT COUNT(*) FROM shop.items",
    );
    assert!(ok, "{err}");
    assert_eq!(out, "1\n");
    assert_eq!(
        db.root("SELECT COUNT(*) FROM shop.items").await,
        "1\n",
        "the table is still there"
    );

    // The session is still open: its statements are stored while it runs, so they outlive its
    // node. Node 2 is killed with the session open.
    let n3 = &c.nodes[2];
    let mut session = String::new();
    wait_until("the session's statements to be stored", START, || {
        let out = n3.admin(&["--json", "session", "list", "--user", "alice"]);
        let Ok(rows) = serde_json::from_str::<serde_json::Value>(&out.stdout) else {
            return false;
        };
        let Some(r) = rows.as_array().and_then(|r| r.first()) else {
            return false;
        };
        assert_eq!(r["AssetName"], "orders", "{r}");
        assert_eq!(r["AccountName"], "app", "{r}");
        assert_eq!(r["Protocol"], "MySQL", "{r}");
        assert_eq!(r["NodeId"], "2", "{r}");
        session = r["SessionId"].as_str().unwrap().to_string();
        let events = n3.admin(&["--json", "session", "events", &session]);
        events.ok
            && events
                .stdout
                .contains("DELETE FROM shop.items WHERE id = 1")
    })
    .unwrap();
    c.nodes[1].kill();
    tunnel.kill().await.unwrap();
    let n3 = &c.nodes[2];

    let out = n3.admin_ok(&[
        "--json",
        "session",
        "events",
        &session,
        "--type",
        "statement",
    ]);
    let events: serde_json::Value = serde_json::from_str(&out).unwrap();
    let events = events.as_array().unwrap();
    let with = |text: &str| -> &serde_json::Value {
        events
            .iter()
            .find(|e| e["text"].as_str().is_some_and(|t| t.contains(text)))
            .unwrap_or_else(|| panic!("no statement with {text:?} in {events:#?}"))
    };
    let drop = with("DROP TABLE shop.items");
    assert_eq!(drop["result"], "refused", "{drop}");
    assert_eq!(
        drop["error"], "rule 'no-drop': DROP is not allowed",
        "{drop}"
    );
    assert_eq!(drop["account"], "app");
    let delete = with("DELETE FROM shop.items WHERE id = 1");
    assert_eq!(delete["result"], "ok", "{delete}");
    assert_eq!(delete["affected_rows"], 1, "{delete}");
    assert!(!out.contains(HOSTED), "the hosted password is in the audit");
    // Readable as text too.
    let text = n3.admin_ok(&["session", "events", &session, "--type", "statement"]);
    assert!(
        text.contains("statement query as app: DROP TABLE shop.items -> refused"),
        "{text}"
    );
    // The rule can go; the next session is not bound by it.
    n3.admin_ok(&["sql-rule", "delete", &no_drop]);
}
