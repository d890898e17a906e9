//! The MySQL gateway with real parts: a MariaDB server, the OpenSSH client's `-L` tunnel through
//! an in-process cluster, and the `mariadb` command-line client and mysql-connector-python's
//! server-side prepared statements as the engineer's tools. The hosted password is injected
//! (the engineer types none and never sees it), the client must log in as the session's
//! account, an account that is not hosted takes the engineer's own password, and every
//! statement is audited under the engineer's session, readable from another node. Hosted logins
//! speak the target's method, MariaDB's `client_ed25519` included.

use crate::fixture::session_events;
use portunus_model::{DatabaseTargetTls, DbEngine};
use portunus_node::testing::wait_for;
use portunus_node::testing::{change_settings, database_token, metric_until, three_nodes};
use portunus_node::testing::{native_port, python, DatabaseAccess};
use portunus_node::RunningNode;
use portunus_proxy::testing::mariadb::MariaDb;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass};
use portunus_proxy::testing::TestCerts;
use std::time::Duration;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(30);
const HOSTED_PASSWORD: &str = "Ho5ted-db-Passw0rd";
const OWN_PASSWORD: &str = "Dev-0wn-Passw0rd";

/// `mariadb` through the tunnel's local port; (success, stdout, stderr).
async fn mariadb(
    port: u16,
    user: &str,
    password: Option<&str>,
    sql: &str,
) -> (bool, String, String) {
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-P",
        &port.to_string(),
        "-u",
        user,
        "-N",
        "-B",
        "--skip-ssl",
    ]);
    if let Some(p) = password {
        cmd.arg(format!("-p{p}"));
    }
    let out = cmd.args(["-e", sql]).output().await.expect("run mariadb");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_run_with_the_hosted_password_and_are_audited_under_the_engineer() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         GRANT ALL ON shop.* TO 'app'@'%'; \
         CREATE USER 'dev'@'%' IDENTIFIED BY '{OWN_PASSWORD}'; GRANT SELECT ON shop.* TO 'dev'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-mysql-Gw7rT2kP9xQ4";
    database_token(
        &nodes[0],
        DatabaseAccess {
            user: "alice",
            database: "orders",
            engine: DbEngine::MySql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: Some(1),
            token,
        },
    )
    .await;
    let serving = &nodes[1];
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let ssh_port = serving.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "alice", token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;

    // No password typed: the bastion logs in with the hosted one.
    let (ok, out, err) = mariadb(
        local,
        "app",
        None,
        "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(40)); \
         INSERT INTO shop.items VALUES (1, 'bolt'), (2, 'nut'), (3, 'gear'); \
         SELECT name FROM shop.items WHERE id >= 2 ORDER BY id; SELECT CURRENT_USER();",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "nut\ngear\napp@%\n");
    // A typed password is ignored, not checked: the engineer's proof is the token.
    let (ok, out, err) = mariadb(
        local,
        "app",
        Some("whatever"),
        "SELECT COUNT(*) FROM shop.items",
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "3\n");
    // Errors come back as the database's own.
    let (ok, _, err) = mariadb(local, "app", None, "SELECT * FROM shop.nothing").await;
    assert!(!ok);
    assert!(
        err.contains("1146") && err.contains("doesn't exist"),
        "{err}"
    );
    // Another account name is refused, in the client's own words.
    let (ok, _, err) = mariadb(local, "root", None, "SELECT 1").await;
    assert!(!ok);
    assert!(
        err.contains("this session is for the database account 'app', not 'root'"),
        "{err}"
    );

    // Server-side prepared statements (binary protocol) from mysql-connector-python.
    let script = format!(
        "import mysql.connector\n\
         c = mysql.connector.connect(host='127.0.0.1', port={local}, user='app', password='', \
         database='shop', use_pure=True, ssl_disabled=True)\n\
         cur = c.cursor(prepared=True)\n\
         cur.execute('UPDATE items SET name = %s WHERE id = %s', ('washer', 3))\n\
         c.commit()\n\
         cur.execute('SELECT name FROM items WHERE id = %s', (3,))\n\
         print(cur.fetchall()[0][0])\n\
         c.close()\n"
    );
    assert_eq!(python(&script).await, "washer\n");

    let session_id = serving
        .replica
        .view()
        .read(|s| s.open_sessions().map(|x| x.id).next())
        .expect("the tunnel's session is open");
    tunnel.kill().await.unwrap();
    let view = nodes[2].replica.view().clone();
    wait_for("the session to close", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;

    // The statements, read through another node.
    let events = session_events(&nodes[2], session_id).await;
    let statements: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "statement").collect();
    let find = |text: &str| -> &serde_json::Value {
        statements
            .iter()
            .find(|e| e["text"].as_str().is_some_and(|t| t.contains(text)))
            .unwrap_or_else(|| panic!("no statement with {text:?} in {statements:#?}"))
    };
    let insert = find("INSERT INTO shop.items");
    assert_eq!(insert["account"], "app");
    assert_eq!(insert["result"], "ok");
    assert_eq!(insert["affected_rows"], 3, "{insert}");
    let select = find("SELECT name FROM shop.items WHERE id >= 2");
    assert_eq!(select["rows"], 2, "{select}");
    let missing = find("shop.nothing");
    assert_eq!(missing["result"], "error");
    assert_eq!(missing["error_code"], 1146);
    let update = statements
        .iter()
        .find(|e| e["kind"] == "execute" && e["text"] == "UPDATE items SET name = ? WHERE id = ?")
        .unwrap_or_else(|| panic!("no prepared UPDATE in {statements:#?}"));
    assert_eq!(
        update["params"],
        serde_json::json!(["'washer'", "3"]),
        "{update}"
    );
    assert_eq!(update["affected_rows"], 1);
    let fetch = statements
        .iter()
        .find(|e| e["kind"] == "execute" && e["text"] == "SELECT name FROM items WHERE id = ?")
        .unwrap_or_else(|| panic!("no prepared SELECT in {statements:#?}"));
    assert_eq!(fetch["rows"], 1, "{fetch}");
    assert!(statements
        .iter()
        .all(|e| e["duration_ms"].as_f64().is_some()));
    let all = serde_json::to_string(&events).unwrap();
    assert!(
        !all.contains(HOSTED_PASSWORD),
        "the hosted password is in the audit"
    );
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_without_a_hosted_password_takes_the_engineers_own() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'dev'@'%' IDENTIFIED BY '{OWN_PASSWORD}'; \
         GRANT SELECT ON shop.* TO 'dev'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-mysql-Own8pW3vR6zL";
    database_token(
        &nodes[0],
        DatabaseAccess {
            user: "bob",
            database: "orders",
            engine: DbEngine::MySql,
            port: db.port,
            account: "dev",
            password: None,
            uses: Some(1),
            token,
        },
    )
    .await;
    let node = &nodes[0];
    let ssh_port = node.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "bob", token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    let (ok, out, err) = mariadb(local, "dev", Some(OWN_PASSWORD), "SELECT CURRENT_USER()").await;
    assert!(ok, "{err}");
    assert_eq!(out, "dev@%\n");
    let (ok, _, err) = mariadb(local, "dev", Some("not-it"), "SELECT 1").await;
    assert!(!ok);
    assert!(
        err.contains("1045") && err.contains("Access denied for user 'dev'"),
        "{err}"
    );
    tunnel.kill().await.unwrap();
    for n in nodes {
        n.stop().await;
    }
}

/// `mariadb` straight to a node's native MySQL port, logging in as `user` with `password`.
async fn native(port: u16, user: &str, password: &str, sql: &str) -> (bool, String, String) {
    let out = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            user,
            "-N",
            "-B",
            "--skip-ssl",
        ])
        .arg(format!("-p{password}"))
        .args(["-e", sql])
        .output()
        .await
        .expect("run mariadb");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_native_port_takes_a_user_and_token_and_spends_the_token_once() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         GRANT ALL ON shop.* TO 'app'@'%'; CREATE TABLE shop.t (a INT); \
         INSERT INTO shop.t VALUES (7);"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-native-Qm4zX8rT2wP6";
    let hosted = DatabaseAccess {
        user: "carol",
        database: "orders",
        engine: DbEngine::MySql,
        port: db.port,
        account: "app",
        password: Some(HOSTED_PASSWORD),
        uses: Some(1),
        token,
    };
    database_token(&nodes[0], hosted).await;
    let own = "tok-native-own-Hs5kD9vB";
    database_token(
        &nodes[0],
        DatabaseAccess {
            account: "dev",
            password: None,
            token: own,
            ..hosted
        },
    )
    .await;
    let serving = &nodes[2];
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let port = serving
        .mysql_addr
        .expect("the MySQL port is on by default")
        .port();
    wait_listening(port).await;

    // A wrong token and a wrong user get the same refusal; nothing is spent.
    let (ok, _, err) = native(port, "carol", "not-the-token", "SELECT 1").await;
    assert!(
        !ok && err.contains("1045") && err.contains("Access denied"),
        "{err}"
    );
    let (ok, _, err) = native(port, "mallory", token, "SELECT 1").await;
    assert!(!ok && err.contains("Access denied"), "{err}");
    // The token logs in to the database with the hosted password.
    let (ok, out, err) = native(port, "carol", token, "SELECT a, CURRENT_USER() FROM shop.t").await;
    assert!(ok, "{err}");
    assert_eq!(out, "7\tapp@%\n");
    // It had one use.
    let (ok, _, err) = native(port, "carol", token, "SELECT 1").await;
    assert!(!ok && err.contains("Access denied"), "{err}");
    // An account without a hosted password cannot be reached here: the client typed no
    // database password.
    let (ok, _, err) = native(port, "carol", own, "SELECT 1").await;
    assert!(!ok && err.contains("no hosted password"), "{err}");

    let view = nodes[0].replica.view().clone();
    wait_for("the sessions to close", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;
    let session_id = view
        .read(|s| {
            s.sessions()
                .find(|x| x.node_id == 3 && x.bytes_down > 0)
                .map(|x| x.id)
        })
        .expect("the native session is recorded with its bytes");
    let events = session_events(&nodes[1], session_id).await;
    assert!(
        events.iter().any(|e| e["type"] == "statement"
            && e["text"] == "SELECT a, CURRENT_USER() FROM shop.t"
            && e["rows"] == 1),
        "{events:#?}"
    );
    // The serving node also appends every event to its own audit file (by a writer thread).
    let local = dir.path().join("n3/audit/events.jsonl");
    wait_for("the serving node's audit file", WAIT, || {
        std::fs::read_to_string(&local)
            .is_ok_and(|t| t.contains("SELECT a, CURRENT_USER() FROM shop.t"))
    })
    .await;
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_native_port_offers_tls_and_can_require_it() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         GRANT ALL ON shop.* TO 'app'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-native-tls-Vb3nM8qL";
    database_token(
        &nodes[0],
        DatabaseAccess {
            user: "dave",
            database: "orders",
            engine: DbEngine::MySql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    let serving = &nodes[1];
    let port = native_port(serving, DbEngine::MySql).await;
    let with_tls = |tls: bool| {
        let mut cmd = Command::new("mariadb");
        cmd.args(["-h", "127.0.0.1", "-P", &port.to_string(), "-u", "dave"])
            .arg(format!("-p{token}"))
            .arg(if tls { "--ssl" } else { "--skip-ssl" })
            .args(["-e", "status"]);
        cmd
    };
    // TLS is offered with the node's certificate: the client reports its cipher.
    let out = with_tls(true).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Cipher in use is"), "{text}");
    let out = with_tls(false).output().await.unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("SSL:\t\t\tNot in use"), "{text}");

    // Required: a client without TLS is told why, before its token is checked.
    let mut settings = nodes[0]
        .replica
        .read_linearizable(|s| s.settings().clone())
        .await
        .expect("a linearizable read");
    settings.database_require_tls = true;
    nodes[0]
        .replica
        .propose(portunus_model::Command::UpdateSettings(settings))
        .await
        .expect("require TLS");
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let out = with_tls(false).output().await.unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("requires TLS on its MySQL port"), "{err}");
    let out = with_tls(true).output().await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // PyMySQL (its own protocol code) over TLS: a query with a bound value.
    let script = format!(
        "import pymysql, ssl\n\
         tls = ssl.create_default_context()\n\
         tls.check_hostname = False\n\
         tls.verify_mode = ssl.CERT_NONE\n\
         c = pymysql.connect(host='127.0.0.1', port={port}, user='dave', password='{token}', \
         ssl=tls)\n\
         cur = c.cursor()\n\
         cur.execute('SELECT CURRENT_USER(), %s + 1', (41,))\n\
         print(*cur.fetchone())\n\
         c.close()\n"
    );
    assert_eq!(python(&script).await, "app@% 42\n");
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_are_spliced_on_a_plain_port_and_copied_over_tls() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; GRANT SELECT ON *.* TO 'app'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-native-splice-Lr7wQ2xD";
    database_token(
        &nodes[0],
        DatabaseAccess {
            user: "erin",
            database: "orders",
            engine: DbEngine::MySql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    let serving = &nodes[1];
    let port = native_port(serving, DbEngine::MySql).await;
    let metrics = serving.metrics_addr.expect("a metrics listener");
    let spliced = "portunus_forwarded_spliced_bytes_total";
    let down = r#"portunus_forwarded_bytes_total{direction="down"}"#;
    // About 24 MiB in rows of every length up to 4000 bytes (packets split across reads), and
    // a second result set after it: the client reads exactly what the database sent.
    let sql = "SELECT seq, REPEAT(CHAR(65 + seq % 26), seq % 4001) FROM mysql.seq_1_to_12000; \
               SELECT COUNT(*) FROM mysql.seq_1_to_12000";
    let direct = Command::new("mariadb")
        .args(["-h", "127.0.0.1", "-P", &db.port.to_string(), "-u", "app"])
        .args(["--skip-ssl", "-N", "-B"])
        .arg(format!("-p{HOSTED_PASSWORD}"))
        .args(["-e", sql])
        .output()
        .await
        .unwrap();
    assert!(
        direct.status.success(),
        "{}",
        String::from_utf8_lossy(&direct.stderr)
    );
    assert!(direct.stdout.len() > 20 << 20, "{}", direct.stdout.len());
    let (ok, through, err) = native(port, "erin", token, sql).await;
    assert!(ok, "{err}");
    assert!(through.as_bytes() == direct.stdout, "the answers differ");
    // The session's answers moved by splice: counted when it closed.
    let moved = metric_until(metrics, spliced, |v| v > f64::from(20u32 << 20)).await;
    // Over TLS the node decrypts and encrypts: it copies, and says so. The large answer is read
    // in batches there (the socket's low-water mark under TLS), its tail and the next answer
    // after at most a short wait: the client still reads exactly what the database sent.
    let before = metric_until(metrics, down, |_| true).await;
    let out = Command::new("mariadb")
        .args([
            "-h",
            "127.0.0.1",
            "-P",
            &port.to_string(),
            "-u",
            "erin",
            "--ssl",
            "-N",
            "-B",
        ])
        .arg(format!("-p{token}"))
        .args(["-e", sql])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout == direct.stdout, "the answers differ over TLS");
    metric_until(metrics, down, |v| v >= before + f64::from(20u32 << 20)).await;
    let after = metric_until(metrics, spliced, |_| true).await;
    assert_eq!(after, moved, "a TLS session spliced nothing");
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jdbc_prepared_statements_through_the_native_port_and_the_tunnel() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         GRANT ALL ON shop.* TO 'app'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-jdbc-my-Rt6yU1iO9p";
    let (_, database_id) = database_token(
        &nodes[0],
        DatabaseAccess {
            user: "frank",
            database: "orders",
            engine: DbEngine::MySql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    portunus_node::testing::no_drop_rule(&nodes[0], database_id).await;
    let serving = &nodes[1];
    let port = native_port(serving, DbEngine::MySql).await;
    // Server-side prepared statements (the binary protocol), as DBeaver's MariaDB driver uses.
    let url = format!("jdbc:mariadb://127.0.0.1:{port}/shop?useServerPrepStmts=true");
    let (ok, out, err) = portunus_node::testing::jdbc_probe(&url, "frank", token).await;
    assert!(ok, "{err}");
    assert_eq!(out, "item-2\nitem-3\nitem-3\nrefused 42000\n3\n");

    // Through the SSH tunnel (DBeaver's "SSH tunnel" setting): the database account, any
    // password.
    let ssh_port = serving.ssh_addr.unwrap().port();
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "frank", token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    db.root("DROP TABLE shop.jdbc_items").await;
    let url = format!("jdbc:mariadb://127.0.0.1:{local}/shop?useServerPrepStmts=true");
    let (ok, out, err) = portunus_node::testing::jdbc_probe(&url, "app", "ignored").await;
    assert!(ok, "{err}");
    assert_eq!(out, "item-2\nitem-3\nitem-3\nrefused 42000\n3\n");
    tunnel.kill().await.unwrap();
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_speaks_tls_to_a_database_that_offers_it() {
    let certs = TestCerts::new();
    let files = tempfile::tempdir().unwrap();
    let (cert, key) = (files.path().join("cert.pem"), files.path().join("key.pem"));
    std::fs::write(&cert, &certs.cert).unwrap();
    std::fs::write(&key, &certs.key).unwrap();
    // The server refuses logins that are not over TLS.
    let db = MariaDb::start_with(&[
        &format!("--ssl-cert={}", cert.display()),
        &format!("--ssl-key={}", key.display()),
        "--require-secure-transport=ON",
    ])
    .await;
    db.root(&format!(
        "CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         CREATE USER 'dev'@'%' IDENTIFIED BY '{OWN_PASSWORD}';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let (hosted, own) = ("tok-target-tls-Hq7mR2", "tok-target-tls-own-Zp4w");
    let port = app_and_dev_tokens(&nodes, "erin", db.port, (hosted, own)).await;
    let serving = &nodes[1];
    let cipher = "SHOW SESSION STATUS LIKE 'Ssl_version'";

    // By default (prefer) the gateway switches to TLS since the server offers it: the hosted
    // login on the native port, and the engineer's own login relayed through a tunnel.
    let (ok, out, err) = native(port, "erin", hosted, cipher).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("Ssl_version\tTLSv1."), "{out}");
    let ssh_port = serving.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "erin", own);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    let (ok, out, err) = mariadb(local, "dev", Some(OWN_PASSWORD), cipher).await;
    assert!(ok, "{err}");
    assert!(out.starts_with("Ssl_version\tTLSv1."), "{out}");
    let (ok, _, err) = mariadb(local, "dev", Some("not-it"), "SELECT 1").await;
    assert!(!ok && err.contains("Access denied for user 'dev'"), "{err}");

    // Off: the server refuses the same login in the clear (MariaDB words it as a wrong
    // password), and its refusal reaches the engineer.
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Off
    })
    .await;
    let (ok, _, err) = native(port, "erin", hosted, "SELECT 1").await;
    assert!(
        !ok && err.contains("could not log in to the database as 'app'"),
        "{err}"
    );
    // Verify: the certificate is checked against the system's CA bundle, which does not know
    // the test's CA: refused, saying why.
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Verify
    })
    .await;
    let (ok, _, err) = native(port, "erin", hosted, "SELECT 1").await;
    assert!(
        !ok && err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );
    // Require against this server: TLS as with prefer.
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Require
    })
    .await;
    let (ok, out, err) = native(port, "erin", hosted, cipher).await;
    assert!(ok && out.starts_with("Ssl_version\tTLSv1."), "{out} {err}");
    tunnel.kill().await.unwrap();

    // Require against a server without TLS: refused before the login, saying why.
    let plain = MariaDb::start().await;
    plain
        .root(&format!(
            "CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}';"
        ))
        .await;
    let token = "tok-target-plain-Rk2s";
    database_token(
        &nodes[0],
        DatabaseAccess {
            user: "frank",
            database: "plain",
            engine: DbEngine::MySql,
            port: plain.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let (ok, _, err) = native(port, "frank", token, "SELECT 1").await;
    assert!(!ok && err.contains("does not offer TLS"), "{err}");
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Prefer
    })
    .await;
    let (ok, out, err) = native(port, "frank", token, cipher).await;
    assert!(ok, "{err}");
    assert_eq!(out, "Ssl_version\t\n");
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hosted_password_logs_in_to_a_mariadb_ed25519_account() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "INSTALL SONAME 'auth_ed25519'; CREATE DATABASE shop; \
         CREATE USER 'app'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{HOSTED_PASSWORD}'); \
         GRANT ALL ON shop.* TO 'app'@'%'; \
         CREATE USER 'dev'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{OWN_PASSWORD}');"
    ))
    .await;
    let plugins = "SELECT user, plugin FROM mysql.user WHERE user IN ('app', 'dev') ORDER BY user";
    assert_eq!(db.root(plugins).await, "app\ted25519\ndev\ted25519\n");
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let (hosted, own) = ("tok-ed25519-Wq3nB7xZ", "tok-ed25519-own-Mv6k");
    let port = app_and_dev_tokens(&nodes, "grace", db.port, (hosted, own)).await;
    let serving = &nodes[1];

    // The native port: the bastion signs the database's nonce with the hosted password.
    let (ok, out, err) = native(port, "grace", hosted, "SELECT CURRENT_USER()").await;
    assert!(ok, "{err}");
    assert_eq!(out, "app@%\n");
    // The SSH tunnel: the hosted login likewise, and the engineer's own ed25519 login to an
    // account that is not hosted is relayed as the client speaks it.
    let ssh_port = serving.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "grace", hosted);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    let (ok, out, err) = mariadb(local, "app", None, "SELECT CURRENT_USER()").await;
    assert!(ok, "{err}");
    assert_eq!(out, "app@%\n");
    tunnel.kill().await.unwrap();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, "grace", own);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{}", db.port)]);
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    let (ok, out, err) = mariadb(local, "dev", Some(OWN_PASSWORD), "SELECT CURRENT_USER()").await;
    assert!(ok, "{err}");
    assert_eq!(out, "dev@%\n");
    tunnel.kill().await.unwrap();

    // The signature is checked: with the password changed at the database, the hosted one no
    // longer logs in, and the engineer reads why.
    db.root("ALTER USER 'app'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('Chang3d-elsewhere')")
        .await;
    let (ok, _, err) = native(port, "grace", hosted, "SELECT 1").await;
    assert!(!ok, "logged in with a stale password");
    assert!(
        err.contains("could not log in to the database as 'app'")
            && err.contains("Access denied for user 'app'"),
        "{err}"
    );
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_query_on_the_native_port_reaches_only_the_engineers_own_session() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         GRANT PROCESS, SUPER ON *.* TO 'app'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let (mine, theirs) = ("tok-kill-mine-Pz8qW3", "tok-kill-theirs-Lm5vR9");
    let access = DatabaseAccess {
        user: "judy",
        database: "orders",
        engine: DbEngine::MySql,
        port: db.port,
        account: "app",
        password: Some(HOSTED_PASSWORD),
        uses: None,
        token: mine,
    };
    database_token(&nodes[0], access).await;
    let other = DatabaseAccess {
        user: "karl",
        token: theirs,
        ..access
    };
    database_token(&nodes[0], other).await;
    let serving = &nodes[1];
    let port = native_port(serving, DbEngine::MySql).await;
    let far = native_port(&nodes[2], DbEngine::MySql).await;
    // Judy's long statement; the id her client was greeted with names node 2. Another engineer
    // (same hosted account, even with SUPER at the database) cannot kill it, by statement or
    // by the protocol's COM_PROCESS_KILL, through node 2 or through node 3, nor can an id that
    // names no session, nor a KILL the gateway cannot translate (a comment inside, an
    // expression); Judy's own second connection can, as the mysql client's Ctrl-C does, and
    // through node 3 (where a load balancer may send it: node 3 asks node 2): the statement
    // ends "interrupted" (1317) long before its minute, and her connection goes on.
    let script = format!(
        "import pymysql, threading, time\n\
         def connect(token, port={port}):\n\
         \x20   return pymysql.connect(host='127.0.0.1', port=port, user=token[0], \
         password=token[1], ssl_disabled=True)\n\
         mine, theirs = ('judy', '{mine}'), ('karl', '{theirs}')\n\
         a = connect(mine)\n\
         print(a.thread_id() >> 20)\n\
         out = {{}}\n\
         def sleep():\n\
         \x20   cur = a.cursor()\n\
         \x20   t = time.monotonic()\n\
         \x20   try:\n\
         \x20       cur.execute('SELECT SLEEP(60)')\n\
         \x20       out['slept'] = cur.fetchone()[0]\n\
         \x20   except pymysql.MySQLError as e:\n\
         \x20       out['error'] = e.args[0]\n\
         \x20   out['short'] = time.monotonic() - t < 50\n\
         t = threading.Thread(target=sleep)\n\
         t.start()\n\
         time.sleep(1)\n\
         def kill(token, id, how='KILL QUERY %d', port={port}):\n\
         \x20   c = connect(token, port)\n\
         \x20   try:\n\
         \x20       if how == 'COM_PROCESS_KILL':\n\
         \x20           c.kill(id)\n\
         \x20       else:\n\
         \x20           c.cursor().execute(how % id)\n\
         \x20       return 'ok'\n\
         \x20   except pymysql.MySQLError as e:\n\
         \x20       return str(e.args[0])\n\
         \x20   finally:\n\
         \x20       c.close()\n\
         print(kill(theirs, a.thread_id()))\n\
         print(kill(theirs, a.thread_id(), 'COM_PROCESS_KILL'))\n\
         print(kill(theirs, a.thread_id(), port={far}))\n\
         print(kill(mine, a.thread_id() + 1000))\n\
         print(kill(mine, a.thread_id(), 'KILL /* any form */ QUERY %d'))\n\
         print(kill(mine, a.thread_id(), 'KILL QUERY 0+%d'))\n\
         print('running' if t.is_alive() else 'ended')\n\
         print(kill(mine, a.thread_id(), port={far}))\n\
         t.join(30)\n\
         print(out)\n\
         print(a.cursor().execute('SELECT 1'))\n"
    );
    assert_eq!(
        python(&script).await,
        "2\n1095\n1095\n1095\n1094\n1227\n1227\nrunning\nok\n{'error': 1317, 'short': True}\n1\n"
    );
    for n in nodes {
        n.stop().await;
    }
}

/// Tokens for `user` to the database at `db_port` through node 1: `hosted` for the hosted
/// account `app`, `own` for the account `dev` whose password the engineer types. Returns node
/// 2's MySQL port once node 2 has them.
async fn app_and_dev_tokens(
    nodes: &[RunningNode],
    user: &str,
    db_port: u16,
    (hosted, own): (&str, &str),
) -> u16 {
    let access = DatabaseAccess {
        user,
        database: "orders",
        engine: DbEngine::MySql,
        port: db_port,
        account: "app",
        password: Some(HOSTED_PASSWORD),
        uses: None,
        token: hosted,
    };
    database_token(&nodes[0], access).await;
    let own_access = DatabaseAccess {
        account: "dev",
        password: None,
        token: own,
        ..access
    };
    database_token(&nodes[0], own_access).await;
    let serving = &nodes[1];
    let port = native_port(serving, DbEngine::MySql).await;
    port
}
