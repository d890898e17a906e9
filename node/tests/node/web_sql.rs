//! The web database console on a real three-node cluster, driven by a real headless Chromium
//! (`node/tests/web/portal.py`, scenario `sql`): statements typed in the page run through the
//! database gateway of the node serving the browser against a real MariaDB and a real
//! PostgreSQL, with the hosted credential (or the password typed when none is hosted); a result
//! of 250 rows is paged; a `DROP` the SQL rules forbid is refused with the rule's name; a
//! database error is shown as the database gave it; every statement is audited under the
//! engineer's session, readable from another node; an administrator's termination ends the
//! console with words in the page.

use crate::fixture::*;
use portunus_model::{AssetRef, Command, DbEngine, EndReason, Protocol};
use portunus_node::testing::{database_token, no_drop_rule, three_nodes, wait_for, DatabaseAccess};
use portunus_node::RunningNode;
use portunus_proxy::testing::mariadb::MariaDb;
use portunus_proxy::testing::postgres::Postgres;
use serde_json::{json, Value};
use std::time::Duration;

const HOSTED_PASSWORD: &str = "Ho5ted-db-Passw0rd";
const OWN_PASSWORD: &str = "Dev-0wn-Passw0rd";

/// alice (with her portal password) authorized for `account` on `database`; the database's id.
async fn alice_reaches(node: &RunningNode, access: DatabaseAccess<'_>) -> u64 {
    let exists = node
        .replica
        .view()
        .read(|s| s.user_by_name("alice").is_some());
    if !exists {
        node.replica
            .propose(user("alice", ALICE_PASSWORD, false))
            .await
            .expect("create alice");
        // The setup below reads this node's view.
        node.replica.read_linearizable(|_| ()).await.unwrap();
    }
    database_token(node, access).await.1
}

/// The statement events of `events`: (kind, text, result).
fn statements(events: &[Value]) -> Vec<(String, String, String)> {
    events
        .iter()
        .filter(|e| e["type"] == "statement")
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("text"), s("result"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statements_typed_in_the_page_run_through_the_gateway_paged_refused_audited_and_ended() {
    let db = MariaDb::start().await;
    db.root(&format!(
        "CREATE DATABASE shop; CREATE USER 'app'@'%' IDENTIFIED BY '{HOSTED_PASSWORD}'; \
         GRANT ALL ON shop.* TO 'app'@'%';"
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let database_id = alice_reaches(
        &nodes[0],
        DatabaseAccess {
            user: "alice",
            database: "orders",
            engine: DbEngine::MySql,
            port: db.port,
            account: "app",
            password: Some(HOSTED_PASSWORD),
            uses: Some(1),
            token: "tok-websql-Qm4vX8rL2n",
        },
    )
    .await;
    no_drop_rule(&nodes[0], database_id).await;
    let server = &nodes[1];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    let statements_typed = [
        "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), note TEXT)",
        "INSERT INTO items SELECT seq, CONCAT('item-', seq), IF(seq % 2 = 0, NULL, 'odd') \
         FROM seq_1_to_250",
        "SELECT CURRENT_USER() AS who, DATABASE() AS db",
        "DROP TABLE items",
        "SELEC 1",
        "SELECT id, name, note FROM items ORDER BY id",
    ];
    let args = json!({
        "a": base(server), "alice_password": ALICE_PASSWORD, "database": "orders",
        "account": "app", "schema": "shop", "statements": statements_typed, "shot": "mysql",
    });
    let mut browser = Browser::start("sql", &args);
    let ran = browser.expect("ran").await;
    assert_eq!(ran["asks_password"], false, "the password is hosted: {ran}");
    let runs = ran["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), statements_typed.len(), "{ran}");
    assert_eq!(runs[0]["error"], "", "{}", runs[0]);
    assert_eq!(runs[0]["results"], json!([{"tag": "0 row(s) affected"}]));
    let inserted = runs[1]["results"][0]["tag"].as_str().expect("a tag");
    assert_eq!(
        inserted,
        "Records: 250 Duplicates: 0 Warnings: 0 (250 row(s) affected)"
    );
    assert_eq!(
        runs[2]["results"],
        json!([{"count": "1 row(s)", "columns": ["who", "db"], "rows": [["app@%", "shop"]],
                "page": null}]),
        "the hosted account, in the schema asked for"
    );
    let refused = runs[3]["error"].as_str().expect("an error");
    assert!(
        refused.contains("no-drop") && refused.contains("Statement blocked by the bastion"),
        "{refused}"
    );
    assert_eq!(runs[3]["results"], json!([]));
    let syntax = runs[4]["error"].as_str().expect("an error");
    assert!(syntax.starts_with("[42000] 1064: "), "{syntax}");
    let grid = &runs[5]["results"][0];
    assert_eq!(grid["count"], "250 row(s)");
    assert_eq!(grid["columns"], json!(["id", "name", "note"]));
    assert_eq!(grid["page"], "page 1 of 3");
    let rows = grid["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 100);
    assert_eq!(rows[0], json!(["1", "item-1", "odd"]));
    assert_eq!(rows[1], json!(["2", "item-2", "NULL"]));
    assert_eq!(ran["paged"]["page"], "page 2 of 3");
    assert_eq!(ran["paged"]["rows"][0], json!(["101", "item-101", "odd"]));
    // The table survived the refused DROP.
    assert_eq!(
        db.root("SELECT COUNT(*) FROM shop.items").await.trim(),
        "250"
    );

    let session_id = ran["session"].as_u64().expect("a session");
    let view = nodes[0].replica.view().clone();
    let open = view.read(|s| {
        s.session(session_id)
            .map(|x| (x.user_id, x.node_id, x.asset, x.protocol, x.ended_at_ms))
    });
    let alice = view.read(|s| s.user_by_name("alice").map(|u| u.id));
    assert_eq!(
        open,
        Some((
            alice.expect("alice"),
            2,
            AssetRef::Database(database_id),
            Protocol::MySql,
            None
        )),
        "alice's session, held by node 2, open"
    );
    assert_eq!(view.read(|s| s.slots_in_use()), 1, "one concurrency slot");

    nodes[0]
        .replica
        .propose(Command::RequestTermination { session_id })
        .await
        .unwrap();
    browser.tell("terminated").await;
    let ended = browser.expect("ended").await;
    assert_eq!(
        ended["status"], "ended: session terminated by an administrator",
        "{ended}"
    );
    browser.finished().await;
    wait_for("the slot to come back", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;
    let reason = view.read(|s| s.session(session_id).and_then(|x| x.end_reason));
    assert_eq!(reason, Some(EndReason::Terminated));

    // Every statement, under alice's session, read through node 3.
    let events = session_events(&nodes[2], session_id).await;
    let seen = statements(&events);
    let query =
        |text: &str, result: &str| ("query".to_string(), text.to_string(), result.to_string());
    for expected in [
        query(statements_typed[2], "ok"),
        query(statements_typed[3], "refused"),
        query(statements_typed[4], "error"),
        query(statements_typed[5], "ok"),
    ] {
        assert!(seen.contains(&expected), "{expected:?} not in {seen:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_without_a_hosted_password_takes_the_typed_one_on_postgres() {
    let pg = Postgres::start(&[]).await;
    let role = format!("CREATE ROLE dev LOGIN PASSWORD '{OWN_PASSWORD}'");
    pg.superuser("postgres", &role).await;
    pg.superuser("postgres", "CREATE DATABASE shop OWNER dev")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    alice_reaches(
        &nodes[0],
        DatabaseAccess {
            user: "alice",
            database: "ledger",
            engine: DbEngine::PostgreSql,
            port: pg.port,
            account: "dev",
            password: None,
            uses: Some(1),
            token: "tok-websql-Pz7wK3tN5c",
        },
    )
    .await;
    let server = &nodes[2];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    let base_args = json!({
        "a": base(server), "alice_password": ALICE_PASSWORD, "database": "ledger",
        "account": "dev", "schema": "shop",
    });

    // A wrong password: the database's refusal, and no session left open.
    let mut args = base_args.clone();
    args["password"] = json!("not-the-Passw0rd");
    args["statements"] = json!([]);
    let mut browser = Browser::start("sql", &args);
    let refused = browser.expect("refused").await;
    assert_eq!(refused["asks_password"], true, "{refused}");
    let words = refused["error"].as_str().expect("words");
    assert!(
        words.contains("password authentication failed for user \"dev\""),
        "{words}"
    );
    browser.finished().await;
    let view = nodes[0].replica.view().clone();
    wait_for("no slot held", WAIT, || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;

    let mut args = base_args;
    args["password"] = json!(OWN_PASSWORD);
    args["shot"] = json!("postgres");
    args["then_run"] = json!("SELECT pg_sleep(60)");
    args["statements"] = json!([
        "CREATE TABLE t (id int, v text); INSERT INTO t VALUES (1, 'a'), (2, NULL); \
         SELECT current_user, v FROM t ORDER BY id",
        "SELECT 1/0",
        "DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$",
    ]);
    let mut browser = Browser::start("sql", &args);
    let ran = browser.expect("ran").await;
    let runs = ran["runs"].as_array().expect("runs");
    assert_eq!(
        runs[0]["results"],
        json!([
            {"tag": "CREATE TABLE"},
            {"tag": "INSERT 0 2 (2 row(s) affected)"},
            {"count": "2 row(s)", "columns": ["current_user", "v"],
             "rows": [["dev", "a"], ["dev", "NULL"]], "page": null},
        ]),
        "{ran}"
    );
    assert_eq!(runs[1]["error"], "22012: division by zero", "{ran}");
    assert_eq!(runs[2]["notices"], json!(["NOTICE: hello from plpgsql"]));
    let session_id = ran["session"].as_u64().expect("a session");
    // The page going away while a statement runs (a minute's sleep) ends the session at once.
    browser.tell("run-and-leave").await;
    browser.expect("running").await;
    browser.finished().await;
    wait_for("the slot to come back", Duration::from_secs(20), || {
        view.read(|s| s.slots_in_use()) == 0
    })
    .await;
    let events = session_events(&nodes[1], session_id).await;
    let seen = statements(&events);
    assert!(
        seen.iter()
            .any(|(_, text, result)| text == "SELECT 1/0" && result == "error"),
        "{seen:?}"
    );
    // The typed password is in no event.
    let all = serde_json::to_string(&events).unwrap();
    assert!(!all.contains(OWN_PASSWORD));
}
