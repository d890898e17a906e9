//! The database gateway as an administrator and an auditor use it, with real processes: a
//! MariaDB server, three `portunus` nodes driven by `portunus admin`, the OpenSSH client's `-L`
//! tunnel and the `mariadb` client. SQL rules made through the API refuse `DROP TABLE` and a
//! `DELETE` without `WHERE` with the database's own error (whatever else shares the request),
//! the session continues, and the statements — run and refused — are listed under the
//! engineer's session through another node after the node that served it is SIGKILLed with
//! the session still open (they are stored while it runs). A `KILL QUERY` sent through one
//! node's native MySQL port ends the statement of a session another node serves, for its own
//! engineer only.

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

/// The database `orders` (the MariaDB at `db_port`) with its account `app` hosted, and the
/// bastion users `users` granted it.
fn orders_for(node: &portunus_tests::NodeProc, db_port: u16, users: &[&str]) {
    let port = db_port.to_string();
    let args = [
        "database",
        "create",
        "orders",
        "--type",
        "MySQL",
        "--address",
        "127.0.0.1",
    ];
    node.admin_ok(&[&args[..], &["--port", &port]].concat());
    node.admin_ok(&[
        "database",
        "add-account",
        "orders",
        "app",
        "--password",
        HOSTED,
    ]);
    for user in users {
        node.admin_ok(&["user", "create", user, "--password", "Us3r-pass!x"]);
        node.admin_ok(&["grant", "database", user, "orders", "--account", "app"]);
    }
}

/// A new O&M token of `user` for the account `app` of `orders`.
fn token(node: &portunus_tests::NodeProc, user: &str) -> String {
    let issued = node.admin_ok(&[
        "token",
        "generate",
        "--database",
        "orders",
        "--account",
        "app",
        "--user",
        user,
    ]);
    issued
        .lines()
        .find_map(|l| l.strip_prefix("token:"))
        .map(|t| t.trim().to_string())
        .unwrap_or_else(|| panic!("no token in {issued}"))
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
    orders_for(n1, db.port, &["alice"]);
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

    let token = token(n1, "alice");

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
    // Once the cluster closes the session of the dead node, the listing says what it holds:
    // the events stored before the node died, its last seconds' lost.
    let mut said = String::new();
    wait_until("the dead node's session closed", START, || {
        said = n3.admin_ok(&["session", "events", &session, "--type", "statement"]);
        said.contains("note: the session was closed without its node")
    })
    .unwrap_or_else(|e| panic!("{e}: {said}"));
    assert!(said.contains("DROP TABLE shop.items -> refused"), "{said}");
    // The rule can go; the next session is not bound by it.
    n3.admin_ok(&["sql-rule", "delete", &no_drop]);
}

/// `python3` running `script`; its output. Panics unless it succeeds.
async fn python(script: &str) -> String {
    let out = tokio::process::Command::new("python3")
        .args(["-c", script])
        .output()
        .await
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_through_another_node_ends_the_engineers_own_statement() {
    let db = MariaDb::start().await;
    // No privilege beyond the schema: a session may kill its own account's threads.
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED}'; \
         GRANT ALL ON shop.* TO 'app'@'%';"
    ))
    .await;
    let mut c = ProcCluster::with_admin(3, START).unwrap();
    orders_for(&c.nodes[0], db.port, &["alice", "bob"]);
    let (alice, bob) = (token(&c.nodes[0], "alice"), token(&c.nodes[0], "bob"));
    let (serving, other) = (c.nodes[0].mysql.port(), c.nodes[1].mysql.port());
    wait_listening(serving).await;
    wait_listening(other).await;
    // Alice's long statement through node 1 (the id her client was greeted with names it); the
    // KILLs go through node 2, as a load balancer may send the mysql client's Ctrl-C. Bob (the
    // same hosted account at the same database) cannot kill it, by statement or by the
    // protocol's COM_PROCESS_KILL; Alice can: the statement ends "interrupted" (1317) long
    // before its 30 seconds, and her connection goes on.
    let script = format!(
        "import pymysql, threading, time\n\
         def connect(port, who):\n\
         \x20   return pymysql.connect(host='127.0.0.1', port=port, user=who[0], \
         password=who[1], ssl_disabled=True)\n\
         alice, bob = ('alice', '{alice}'), ('bob', '{bob}')\n\
         a = connect({serving}, alice)\n\
         print(a.thread_id() >> 20)\n\
         out = {{}}\n\
         def sleep():\n\
         \x20   cur = a.cursor()\n\
         \x20   t = time.monotonic()\n\
         \x20   try:\n\
         \x20       cur.execute('SELECT SLEEP(30)')\n\
         \x20       out['slept'] = cur.fetchone()[0]\n\
         \x20   except pymysql.MySQLError as e:\n\
         \x20       out['error'] = e.args[0]\n\
         \x20   out['short'] = time.monotonic() - t < 20\n\
         t = threading.Thread(target=sleep)\n\
         t.start()\n\
         time.sleep(1)\n\
         def kill(who, id, how='KILL QUERY %d'):\n\
         \x20   c = connect({other}, who)\n\
         \x20   try:\n\
         \x20       if how == 'COM_PROCESS_KILL':\n\
         \x20           c.kill(id)\n\
         \x20       else:\n\
         \x20           c.cursor().execute(how % id)\n\
         \x20       return 'ok'\n\
         \x20   except pymysql.MySQLError as e:\n\
         \x20       return '%d %s' % (e.args[0], e.args[1])\n\
         \x20   finally:\n\
         \x20       c.close()\n\
         print(kill(bob, a.thread_id()))\n\
         print(kill(bob, a.thread_id(), 'COM_PROCESS_KILL'))\n\
         print(kill(alice, a.thread_id() + 1000))\n\
         print('running' if t.is_alive() else 'ended')\n\
         print(kill(alice, a.thread_id()))\n\
         t.join(30)\n\
         print(out)\n\
         cur = a.cursor()\n\
         cur.execute('SELECT 1')\n\
         print(cur.fetchone()[0])\n\
         print(a.thread_id())\n"
    );
    let out = python(&script).await;
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 9, "{out}");
    let id: u64 = lines[8].parse().unwrap();
    let expected = [
        "1".to_string(),
        format!("1095 You are not owner of thread {id}"),
        format!("1095 You are not owner of thread {id}"),
        format!("1094 Unknown thread id: {}", id + 1000),
        "running".into(),
        "ok".into(),
        "{'error': 1317, 'short': True}".into(),
        "1".into(),
    ];
    assert_eq!(lines[..8], expected, "{out}");

    // With node 1 gone, node 2 cannot ask it: the refusal says so.
    c.nodes[0].kill();
    let script = format!(
        "import pymysql\n\
         c = pymysql.connect(host='127.0.0.1', port={other}, user='alice', \
         password='{alice}', ssl_disabled=True)\n\
         try:\n\
         \x20   c.cursor().execute('KILL QUERY {id}')\n\
         \x20   print('ok')\n\
         except pymysql.MySQLError as e:\n\
         \x20   print(e.args[0], e.args[1])\n"
    );
    let out = python(&script).await;
    assert!(
        out.starts_with(&format!(
            "1429 Thread {id} is a session of bastion node 1, which could not be asked"
        )),
        "{out}"
    );
}
