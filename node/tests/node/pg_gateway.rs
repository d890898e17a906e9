//! The PostgreSQL gateway with real parts: a PostgreSQL 15 server, the OpenSSH client's `-L`
//! tunnel through an in-process cluster, and `psql` and psycopg 3's server-side prepared
//! statements as the engineer's tools. The hosted password is injected by SCRAM-SHA-256 (the
//! engineer types none), the client must log in as the session's account, an MD5 account that
//! is not hosted takes the engineer's own password, a SQL rule refuses `DROP` in the client's
//! own protocol while the session goes on, COPY flows both ways, and every statement is
//! audited under the engineer's session, readable from another node.

use crate::fixture::session_events;
use portunus_model::{Command as Cmd, DatabaseTargetTls, DbEngine};
use portunus_node::testing::{change_settings, database_token, no_drop_rule, three_nodes};
use portunus_node::testing::{metric_until, native_port, python, wait_for, DatabaseAccess};
use portunus_node::RunningNode;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass};
use portunus_proxy::testing::postgres::Postgres;
use portunus_proxy::testing::TestCerts;
use std::time::Duration;
use tokio::process::Command;

const WAIT: Duration = Duration::from_secs(30);
const HOSTED_PASSWORD: &str = "Ho5ted-pg-Passw0rd";
const OWN_PASSWORD: &str = "Dev-0wn-pg-Passw0rd";

/// `psql` through the tunnel's local port; (success, stdout, stderr).
async fn psql(
    port: u16,
    user: &str,
    password: Option<&str>,
    args: &[&str],
) -> (bool, String, String) {
    let mut cmd = Command::new("psql");
    cmd.args([
        "-h",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-U",
        user,
        "-d",
        "shop",
    ])
    .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-w"])
    .env("PGSSLMODE", "prefer")
    .env_remove("PGPASSWORD");
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.args(args).output().await.expect("run psql");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// A tunnel to the database through `node` with `token`; the ssh child and the local port.
async fn tunnel(
    node: &RunningNode,
    user: &str,
    token: &str,
    db_port: u16,
) -> (tokio::process::Child, u16, Askpass) {
    let ssh_port = node.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let askpass = Askpass::new();
    let local = free_port();
    let mut ssh = askpass.ssh(ssh_port, user, token);
    ssh.args(["-N", "-L", &format!("{local}:127.0.0.1:{db_port}")]);
    let child = ssh.spawn().unwrap();
    wait_listening(local).await;
    (child, local, askpass)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosted_scram_login_rules_copy_and_prepared_statements_are_audited() {
    let db = Postgres::start(&[]).await;
    db.superuser("postgres", "CREATE DATABASE shop").await;
    db.superuser(
        "shop",
        &format!("CREATE USER app PASSWORD '{HOSTED_PASSWORD}'; GRANT ALL ON SCHEMA public TO app"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-pg-Gw7rT2kP9xQ4";
    let (_, database_id) = database_token(
        &nodes[0],
        DatabaseAccess {
            user: "alice",
            database: "orders",
            engine: DbEngine::PostgreSql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: Some(1),
            token,
        },
    )
    .await;
    no_drop_rule(&nodes[0], database_id).await;
    let serving = &nodes[1];
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let (mut ssh, local, _askpass) = tunnel(serving, "alice", token, db.port).await;

    // No password typed (psql -w would fail if one were asked): the hosted one is used.
    let (ok, out, err) = psql(
        local,
        "app",
        None,
        &[
            "-c",
            "CREATE TABLE items (id int PRIMARY KEY, name text); \
             INSERT INTO items VALUES (1, 'bolt'), (2, 'nut'), (3, 'gear');",
            "-c",
            "SELECT name FROM items WHERE id >= 2 ORDER BY id",
            "-c",
            "SELECT current_user",
        ],
    )
    .await;
    assert!(ok, "{err}");
    // psql -At still prints each command's tag (no -q): the statements' own answers.
    assert_eq!(out, "CREATE TABLE\nINSERT 0 3\nnut\ngear\napp\n");
    // Errors come back as the database's own.
    let (ok, _, err) = psql(local, "app", None, &["-c", "SELECT * FROM nothing"]).await;
    assert!(!ok);
    assert!(err.contains("relation \"nothing\" does not exist"), "{err}");
    // Another account name is refused.
    let (ok, _, err) = psql(local, "postgres", None, &["-c", "SELECT 1"]).await;
    assert!(!ok);
    assert!(
        err.contains("this session is for the database account 'app', not 'postgres'"),
        "{err}"
    );
    // A DROP is refused by the rule; the session goes on.
    let (ok, out, err) = psql(
        local,
        "app",
        None,
        &[
            "-v",
            "ON_ERROR_STOP=0",
            "-c",
            "DROP TABLE items",
            "-c",
            "SELECT count(*) FROM items",
        ],
    )
    .await;
    assert!(
        err.contains("Statement blocked by the bastion's SQL rule 'no-drop': DROP is not allowed"),
        "{err}"
    );
    assert!(ok, "{err}");
    assert_eq!(out, "3\n");
    // COPY in and out through psql's \copy.
    let csv = dir.path().join("in.csv");
    std::fs::write(&csv, "4,washer\n5,spring\n").unwrap();
    let out_csv = dir.path().join("out.csv");
    let (ok, _, err) = psql(
        local,
        "app",
        None,
        &[
            "-c",
            &format!("\\copy items FROM '{}' WITH (FORMAT csv)", csv.display()),
            "-c",
            &format!(
                "\\copy (SELECT * FROM items ORDER BY id) TO '{}' WITH (FORMAT csv)",
                out_csv.display()
            ),
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(&out_csv).unwrap(),
        "1,bolt\n2,nut\n3,gear\n4,washer\n5,spring\n"
    );

    // Server-side prepared statements (extended protocol) from psycopg 3; a refused DROP
    // through the extended protocol leaves the connection usable.
    let script = format!(
        "import psycopg\n\
         c = psycopg.connect(host='127.0.0.1', port={local}, user='app', dbname='shop', \
         sslmode='disable', autocommit=True)\n\
         for _ in range(2):\n\
         \x20   c.execute('UPDATE items SET name = %s WHERE id = %s', ('gasket', 3), prepare=True)\n\
         print(c.execute('SELECT name FROM items WHERE id = %s', (3,), prepare=True).fetchone()[0])\n\
         try:\n\
         \x20   c.execute('DROP TABLE items', prepare=True)\n\
         except psycopg.Error as e:\n\
         \x20   print(e.sqlstate)\n\
         print(c.execute('SELECT count(*) FROM items').fetchone()[0])\n\
         c.close()\n"
    );
    assert_eq!(python(&script).await, "gasket\n42501\n5\n");

    let session_id = serving
        .replica
        .view()
        .read(|s| s.open_sessions().map(|x| x.id).next())
        .expect("the tunnel's session is open");
    ssh.kill().await.unwrap();
    let view = nodes[2].replica.view().clone();
    wait_for("the session to close", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;

    let events = session_events(&nodes[2], session_id).await;
    let statements: Vec<&serde_json::Value> =
        events.iter().filter(|e| e["type"] == "statement").collect();
    let find = |kind: &str, text: &str| -> &serde_json::Value {
        statements
            .iter()
            .find(|e| e["kind"] == kind && e["text"].as_str().is_some_and(|t| t.contains(text)))
            .unwrap_or_else(|| panic!("no {kind} with {text:?} in {statements:#?}"))
    };
    let insert = find("query", "INSERT INTO items");
    assert_eq!(insert["account"], "app");
    assert_eq!(insert["result"], "ok");
    assert_eq!(insert["affected_rows"], 3, "{insert}");
    let select = find("query", "SELECT name FROM items WHERE id >= 2");
    assert_eq!(select["rows"], 2, "{select}");
    let missing = find("query", "FROM nothing");
    assert_eq!(missing["result"], "error");
    assert_eq!(missing["sqlstate"], "42P01");
    let drop = find("query", "DROP TABLE items");
    assert_eq!(drop["result"], "refused", "{drop}");
    let drop = find("prepare", "DROP TABLE items");
    assert_eq!(drop["result"], "refused", "{drop}");
    let copy_in = find("query", "FROM STDIN");
    assert_eq!(copy_in["affected_rows"], 2, "{copy_in}");
    let copy_out = find("query", "TO STDOUT");
    assert_eq!(copy_out["rows"], 5, "{copy_out}");
    let update = statements
        .iter()
        .filter(|e| {
            e["kind"] == "execute" && e["text"] == "UPDATE items SET name = $1 WHERE id = $2"
        })
        .collect::<Vec<_>>();
    assert_eq!(update.len(), 2, "{statements:#?}");
    assert_eq!(update[1]["affected_rows"], 1);
    let params = update[1]["params"].as_array().expect("params");
    assert_eq!(params[0], "'gasket'", "{params:?}");
    assert!(params[1] == "3" || params[1] == "'3'", "{params:?}");
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
async fn an_md5_account_without_a_hosted_password_takes_the_engineers_own() {
    let db = Postgres::start(&["dev"]).await;
    db.superuser("postgres", "CREATE DATABASE shop").await;
    db.superuser(
        "shop",
        &format!("SET password_encryption = 'md5'; CREATE USER dev PASSWORD '{OWN_PASSWORD}'"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-pg-Own8pW3vR6zL";
    database_token(
        &nodes[0],
        DatabaseAccess {
            user: "bob",
            database: "orders",
            engine: DbEngine::PostgreSql,
            port: db.port,
            account: "dev",
            password: None,
            uses: Some(1),
            token,
        },
    )
    .await;
    let (mut ssh, local, _askpass) = tunnel(&nodes[0], "bob", token, db.port).await;
    let (ok, out, err) = psql(
        local,
        "dev",
        Some(OWN_PASSWORD),
        &["-c", "SELECT current_user"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "dev\n");
    let (ok, _, err) = psql(local, "dev", Some("not-it"), &["-c", "SELECT 1"]).await;
    assert!(!ok);
    assert!(
        err.contains("password authentication failed for user \"dev\""),
        "{err}"
    );
    let (ok, _, err) = psql(local, "dev", None, &["-c", "SELECT 1"]).await;
    assert!(!ok, "no password, no login: {err}");
    ssh.kill().await.unwrap();
    for n in nodes {
        n.stop().await;
    }
}

/// `psql` straight to a node's native PostgreSQL port as bastion user `user` with `token`;
/// (success, stdout, stderr).
async fn native(
    port: u16,
    user: &str,
    token: &str,
    sslmode: &str,
    args: &[&str],
) -> (bool, String, String) {
    let conninfo = format!("host=127.0.0.1 port={port} user={user} dbname=shop sslmode={sslmode}");
    let out = Command::new("psql")
        .arg(conninfo)
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-w"])
        .env("PGPASSWORD", token)
        .args(args)
        .output()
        .await
        .expect("run psql");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_native_port_logs_in_by_scram_with_tls_rules_cancel_and_audit() {
    let db = Postgres::start(&[]).await;
    db.superuser("postgres", "CREATE DATABASE shop").await;
    db.superuser(
        "shop",
        &format!("CREATE USER app PASSWORD '{HOSTED_PASSWORD}'; GRANT ALL ON SCHEMA public TO app"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-pg-native-Zx5cV8bN3m";
    let (_, database_id) = database_token(
        &nodes[0],
        DatabaseAccess {
            user: "erin",
            database: "orders",
            engine: DbEngine::PostgreSql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    no_drop_rule(&nodes[0], database_id).await;
    let serving = &nodes[1];
    let port = native_port(serving, DbEngine::PostgreSql).await;

    // A wrong token and an unknown user get the same refusal.
    for (user, secret) in [("erin", "not-the-token"), ("mallory", token)] {
        let (ok, _, err) = native(port, user, secret, "require", &["-c", "SELECT 1"]).await;
        assert!(!ok);
        assert!(
            err.contains(&format!(
                "password authentication failed for user \"{user}\""
            )),
            "{err}"
        );
    }
    // Over TLS (sslmode=require fails unless the bastion switches to TLS), as the account.
    let (ok, out, err) = native(
        port,
        "erin",
        token,
        "require",
        &[
            "-c",
            "CREATE TABLE items (id int PRIMARY KEY, name text)",
            "-c",
            "INSERT INTO items VALUES (1, 'bolt'), (2, 'nut')",
            "-c",
            "SELECT current_user, current_database()",
        ],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(out, "CREATE TABLE\nINSERT 0 2\napp|shop\n");
    // Rules apply here as through the tunnel.
    let (ok, _, err) = native(port, "erin", token, "disable", &["-c", "DROP TABLE items"]).await;
    assert!(!ok);
    assert!(
        err.contains("Statement blocked by the bastion's SQL rule 'no-drop'"),
        "{err}"
    );
    // asyncpg (its own protocol code: SCRAM, named prepared statements, binary results) over
    // TLS: bound values, a refused DROP with SQLSTATE 42501, the connection usable after.
    let script = format!(
        "import asyncio, asyncpg, ssl\n\
         async def main():\n\
         \x20   tls = ssl.create_default_context()\n\
         \x20   tls.check_hostname = False\n\
         \x20   tls.verify_mode = ssl.CERT_NONE\n\
         \x20   c = await asyncpg.connect(host='127.0.0.1', port={port}, user='erin', \
         password='{token}', database='shop', ssl=tls)\n\
         \x20   s = await c.prepare('SELECT name FROM items WHERE id = $1')\n\
         \x20   print(await s.fetchval(2))\n\
         \x20   try:\n\
         \x20       await c.execute('DROP TABLE items')\n\
         \x20   except asyncpg.PostgresError as e:\n\
         \x20       print(e.sqlstate)\n\
         \x20   print(await c.fetchval('SELECT count(*) FROM items WHERE id > $1', 0))\n\
         \x20   await c.close()\n\
         asyncio.run(main())\n"
    );
    assert_eq!(python(&script).await, "nut\n42501\n2\n");

    // A cancel (a new connection carrying only the backend's key) reaches the database.
    let sleeper = Command::new("psql")
        .arg(format!(
            "host=127.0.0.1 port={port} user=erin dbname=shop sslmode=prefer"
        ))
        .args(["-X", "-At", "-w", "-c", "SELECT pg_sleep(60)"])
        .env("PGPASSWORD", token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut waited = 0;
    loop {
        let running = db
            .superuser(
                "postgres",
                "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)'",
            )
            .await;
        if running.trim() == "1" {
            break;
        }
        waited += 1;
        assert!(waited < 300, "the sleep never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pid = sleeper.id().unwrap().to_string();
    let sent = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(sent.success(), "kill -INT psql");
    let out = tokio::time::timeout(WAIT, sleeper.wait_with_output())
        .await
        .expect("the cancelled query ends")
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("canceling statement due to user request"),
        "{err}"
    );

    // TLS required: a client without it is told why; with it, it logs in.
    let mut settings = nodes[0]
        .replica
        .read_linearizable(|s| s.settings().clone())
        .await
        .expect("a linearizable read");
    settings.database_require_tls = true;
    nodes[0]
        .replica
        .propose(Cmd::UpdateSettings(settings))
        .await
        .expect("require TLS");
    serving.replica.read_linearizable(|_| ()).await.unwrap();
    let (ok, _, err) = native(port, "erin", token, "disable", &["-c", "SELECT 1"]).await;
    assert!(!ok);
    assert!(err.contains("requires TLS on its PostgreSQL port"), "{err}");
    let (ok, out, err) = native(port, "erin", token, "require", &["-c", "SELECT 2"]).await;
    assert!(ok, "{err}");
    assert_eq!(out, "2\n");

    // The statements are audited under the engineer's sessions, readable from another node.
    let view = nodes[2].replica.view().clone();
    wait_for("the sessions to close", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;
    let session_id = view
        .read(|s| {
            s.sessions()
                .filter(|x| x.node_id == 2 && x.bytes_down > 0)
                .map(|x| x.id)
                .min()
        })
        .expect("the native sessions are recorded");
    let events = session_events(&nodes[2], session_id).await;
    let insert = events
        .iter()
        .find(|e| {
            e["type"] == "statement"
                && e["text"] == "INSERT INTO items VALUES (1, 'bolt'), (2, 'nut')"
        })
        .unwrap_or_else(|| panic!("no insert in {events:#?}"));
    assert_eq!(insert["affected_rows"], 2, "{insert}");
    assert_eq!(insert["account"], "app");
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(HOSTED_PASSWORD) && !all.contains(token));
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_are_spliced_on_a_plain_port_with_refusals_in_their_place() {
    let db = Postgres::start(&[]).await;
    db.superuser("postgres", "CREATE DATABASE shop").await;
    db.superuser(
        "shop",
        &format!("CREATE USER app PASSWORD '{HOSTED_PASSWORD}'; GRANT ALL ON SCHEMA public TO app"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-pg-splice-Wq4eR7tY2u";
    let (_, database_id) = database_token(
        &nodes[0],
        DatabaseAccess {
            user: "erin",
            database: "orders",
            engine: DbEngine::PostgreSql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    no_drop_rule(&nodes[0], database_id).await;
    let serving = &nodes[2];
    let port = native_port(serving, DbEngine::PostgreSql).await;
    // About 24 MiB of rows of every length up to 4000 bytes, a notice, a statement the rules
    // refuse (its error goes between the answers around it), and a last answer: the client
    // reads exactly what it reads from the database directly, the refusal aside.
    let big = "SELECT g, repeat(chr(65 + g % 26), g % 4001) FROM generate_series(1, 12000) g";
    let statements = [
        "-c",
        "CREATE TABLE t (a int)",
        "-c",
        big,
        "-c",
        "DO $$ BEGIN RAISE NOTICE 'between the answers'; END $$",
        "-c",
        "SELECT count(*) FROM t",
    ];
    let (ok, direct, err) = native(db.port, "app", HOSTED_PASSWORD, "disable", &statements).await;
    assert!(ok, "{err}");
    assert!(direct.len() > 20 << 20, "{}", direct.len());
    assert!(err.contains("between the answers"), "{err}");
    db.superuser("shop", "DROP TABLE t").await;
    let mut through = statements.to_vec();
    through.splice(4..4, ["-c", "DROP TABLE t"]);
    // psql stops at the refusal (ON_ERROR_STOP): run the rest after it on its own.
    let (ok, out, err) = native(port, "erin", token, "disable", &through[..6]).await;
    assert!(!ok);
    assert!(
        err.contains("Statement blocked by the bastion's SQL rule 'no-drop'"),
        "{err}"
    );
    let (ok, rest, err2) = native(port, "erin", token, "disable", &through[6..]).await;
    assert!(ok, "{err2}");
    assert!(err2.contains("between the answers"), "{err2}");
    assert!(format!("{out}{rest}") == direct, "the answers differ");
    let metrics = serving.metrics_addr.expect("a metrics listener");
    let spliced = "portunus_forwarded_spliced_bytes_total";
    let moved = metric_until(metrics, spliced, |v| v > f64::from(20u32 << 20)).await;
    // Over TLS the node copies, reading the large answer in batches (the socket's low-water
    // mark under TLS): the answer, and the one after it, still arrive whole.
    let two = ["-c", big, "-c", "SELECT 'after'"];
    let (ok, direct, err) = native(db.port, "app", HOSTED_PASSWORD, "disable", &two).await;
    assert!(ok, "{err}");
    let (ok, through, err) = native(port, "erin", token, "require", &two).await;
    assert!(ok, "{err}");
    assert!(through == direct, "the answers differ over TLS");
    assert!(
        through.ends_with("after\n"),
        "{}",
        &through[through.len() - 40..]
    );
    let after = metric_until(metrics, spliced, |_| true).await;
    assert_eq!(after, moved, "a TLS session spliced nothing");
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn jdbc_prepared_statements_through_the_native_port_and_the_tunnel() {
    let db = Postgres::start(&[]).await;
    db.superuser("postgres", "CREATE DATABASE shop").await;
    db.superuser(
        "shop",
        &format!("CREATE USER app PASSWORD '{HOSTED_PASSWORD}'; GRANT ALL ON SCHEMA public TO app"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-jdbc-pg-Qw2eR5tY8u";
    let (_, database_id) = database_token(
        &nodes[0],
        DatabaseAccess {
            user: "grace",
            database: "orders",
            engine: DbEngine::PostgreSql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    no_drop_rule(&nodes[0], database_id).await;
    let serving = &nodes[2];
    let port = native_port(serving, DbEngine::PostgreSql).await;
    // prepareThreshold=1: named server-side statements from the first execution; over TLS.
    let url = format!("jdbc:postgresql://127.0.0.1:{port}/shop?prepareThreshold=1&sslmode=require");
    let (ok, out, err) = portunus_node::testing::jdbc_probe(&url, "grace", token).await;
    assert!(ok, "{out}{err}");
    assert_eq!(out, "item-2\nitem-3\nitem-3\nrefused 42501\n3\n");

    // Through the SSH tunnel, as the database account with no password of its own.
    let (mut ssh, local, _askpass) = tunnel(serving, "grace", token, db.port).await;
    db.superuser("shop", "DROP TABLE jdbc_items").await;
    let url =
        format!("jdbc:postgresql://127.0.0.1:{local}/shop?prepareThreshold=1&sslmode=disable");
    let (ok, out, err) = portunus_node::testing::jdbc_probe(&url, "app", "ignored").await;
    assert!(ok, "{err}");
    assert_eq!(out, "item-2\nitem-3\nitem-3\nrefused 42501\n3\n");
    ssh.kill().await.unwrap();
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_speaks_tls_to_a_database_that_offers_it() {
    let certs = TestCerts::new();
    // The server takes TCP logins over TLS only (hostssl).
    let db = Postgres::start_tls(&["dev"], &certs.cert, &certs.key).await;
    db.superuser("postgres", "CREATE DATABASE shop").await;
    db.superuser(
        "shop",
        &format!(
            "CREATE USER app PASSWORD '{HOSTED_PASSWORD}'; \
             SET password_encryption = 'md5'; CREATE USER dev PASSWORD '{OWN_PASSWORD}'"
        ),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let (hosted, own) = ("tok-pg-target-tls-Lw8q", "tok-pg-target-tls-own-Cx3v");
    let access = DatabaseAccess {
        user: "gina",
        database: "orders",
        engine: DbEngine::PostgreSql,
        port: db.port,
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
    let serving = &nodes[2];
    let port = native_port(serving, DbEngine::PostgreSql).await;
    let ssl = [
        "-c",
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    ];

    // By default (prefer) the gateway switches to TLS since the server offers it: the hosted
    // login on the native port, and the engineer's own (md5) login relayed through a tunnel.
    let (ok, out, err) = native(port, "gina", hosted, "disable", &ssl).await;
    assert!(ok, "{err}");
    assert_eq!(out, "t\n");
    let (mut ssh, local, _askpass) = tunnel(serving, "gina", own, db.port).await;
    let (ok, out, err) = psql(local, "dev", Some(OWN_PASSWORD), &ssl).await;
    assert!(ok, "{err}");
    assert_eq!(out, "t\n");
    let (ok, _, err) = psql(local, "dev", Some("not-it"), &["-c", "SELECT 1"]).await;
    assert!(
        !ok && err.contains("password authentication failed"),
        "{err}"
    );
    ssh.kill().await.unwrap();

    // Off: the server's refusal of a plain login reaches the engineer.
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Off
    })
    .await;
    let (ok, _, err) = native(port, "gina", hosted, "disable", &["-c", "SELECT 1"]).await;
    assert!(!ok && err.contains("no encryption"), "{err}");
    // Verify: the certificate is checked against the system's CA bundle, which does not know
    // the test's CA: refused, saying why.
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Verify
    })
    .await;
    let (ok, _, err) = native(port, "gina", hosted, "disable", &["-c", "SELECT 1"]).await;
    assert!(
        !ok && err.contains("invalid peer certificate: UnknownIssuer"),
        "{err}"
    );

    // Require against a server without TLS: refused before the login, saying why.
    let plain = Postgres::start(&[]).await;
    plain.superuser("postgres", "CREATE DATABASE shop").await;
    plain
        .superuser(
            "shop",
            &format!("CREATE USER app PASSWORD '{HOSTED_PASSWORD}'"),
        )
        .await;
    let token = "tok-pg-target-plain-Mn6t";
    let plain_access = DatabaseAccess {
        user: "hank",
        database: "plain",
        port: plain.port,
        token,
        ..access
    };
    database_token(&nodes[0], plain_access).await;
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Require
    })
    .await;
    let (ok, _, err) = native(port, "hank", token, "disable", &["-c", "SELECT 1"]).await;
    assert!(!ok && err.contains("does not offer TLS"), "{err}");
    let (ok, out, err) = native(port, "gina", hosted, "disable", &ssl).await;
    assert!(ok && out == "t\n", "{out} {err}");
    change_settings(&nodes[0], serving, |s| {
        s.database_target_tls = DatabaseTargetTls::Prefer
    })
    .await;
    let (ok, out, err) = native(port, "hank", token, "disable", &ssl).await;
    assert!(ok, "{err}");
    assert_eq!(out, "f\n");
    for n in nodes {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_reaching_another_node_reaches_the_serving_nodes_database() {
    let db = Postgres::start(&[]).await;
    db.superuser("postgres", "CREATE DATABASE shop").await;
    db.superuser(
        "shop",
        &format!("CREATE USER app PASSWORD '{HOSTED_PASSWORD}'"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let token = "tok-pg-cancel-Wq4nB7";
    database_token(
        &nodes[0],
        DatabaseAccess {
            user: "ivan",
            database: "orders",
            engine: DbEngine::PostgreSql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: None,
            token,
        },
    )
    .await;
    // The session runs on node 2; the client's cancel connection lands on node 3 (as a load
    // balancer may send it), through asyncpg's own cancel code.
    let (serving, other) = (&nodes[1], &nodes[2]);
    for n in [serving, other] {
        n.replica.read_linearizable(|_| ()).await.unwrap();
    }
    let port = serving.postgres_addr.expect("the PostgreSQL port").port();
    let elsewhere = other.postgres_addr.expect("the PostgreSQL port").port();
    wait_listening(port).await;
    wait_listening(elsewhere).await;
    let script = format!(
        "import asyncio, asyncpg\n\
         from asyncpg import connect_utils\n\
         async def main():\n\
         \x20   c = await asyncpg.connect(host='127.0.0.1', port={port}, user='ivan', \
         password='{token}', database='shop', ssl=False)\n\
         \x20   print(c.get_server_pid() >> 20)\n\
         \x20   q = asyncio.ensure_future(c.fetchval('SELECT pg_sleep(60)'))\n\
         \x20   await asyncio.sleep(1)\n\
         \x20   async def cancel(secret):\n\
         \x20       await connect_utils._cancel(loop=asyncio.get_running_loop(), \
         addr=('127.0.0.1', {elsewhere}), params=c._params, \
         backend_pid=c._protocol.backend_pid, backend_secret=secret)\n\
         \x20   await cancel(c._protocol.backend_secret ^ 1)\n\
         \x20   await asyncio.sleep(1)\n\
         \x20   print('running' if not q.done() else 'ended by a wrong key')\n\
         \x20   await cancel(c._protocol.backend_secret)\n\
         \x20   try:\n\
         \x20       await asyncio.wait_for(q, 30)\n\
         \x20       print('not cancelled')\n\
         \x20   except asyncpg.QueryCanceledError as e:\n\
         \x20       print(e.sqlstate)\n\
         \x20   print(await c.fetchval('SELECT 1'))\n\
         \x20   await c.close()\n\
         asyncio.run(main())\n"
    );
    // The key names node 2; a wrong secret cancels nothing; the right one cancels the query
    // (SQLSTATE 57014) and the session goes on.
    assert_eq!(python(&script).await, "2\nrunning\n57014\n1\n");
    let running = db
        .superuser(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'",
        )
        .await;
    assert_eq!(running.trim(), "0");
    for n in nodes {
        n.stop().await;
    }
}
