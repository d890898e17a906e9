//! The web portal on a real three-node cluster, driven by a real headless Chromium
//! (`node/tests/web/portal.py`: selenium and chromedriver): wrong passwords and wrong or absent
//! codes are refused without telling whether the user exists; a two-factor login completes with
//! the code; the portal lists exactly the authorized assets; the token dialog's values open a
//! tunnel with the OpenSSH client and the act is in the admin audit trail; "Open in local client"
//! hands over a launcher link with a one-use token; an AccessKey made in the page lets the
//! official SDK issue the engineer's own token and nothing an administrator may do; a cookie from node 1
//! works on node 2 and a logout on node 2 ends it on node 1; a lock ends it everywhere.

use crate::fixture::*;
use portunus_model::Command;
use portunus_node::testing::{free_udp, node_config, three_nodes, wait_for};
use portunus_ops::totp;
use portunus_proxy::testing::openssh::{free_port, wait_listening, Askpass, Sshd};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn browser_logins_tokens_and_sessions_across_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let sshd = Sshd::start().await;
    let echo = echo_server().await;
    let setup = setup(&nodes[0], &sshd, echo).await;
    for n in &nodes {
        n.replica.read_linearizable(|_| ()).await.unwrap();
        wait_listening(n.ssh_addr.unwrap().port()).await;
    }
    let args = json!({
        "a": base(&nodes[0]), "b": base(&nodes[1]),
        "alice_password": ALICE_PASSWORD, "bob_password": BOB_PASSWORD,
        "bob_totp": totp::base32(BOB_SECRET), "database": "orders", "account": "app",
    });
    let mut browser = Browser::start("logins", &args);

    // Refusals: the same words for a wrong password and a user that does not exist, and no
    // session cookie.
    let refused = browser.expect("refused").await;
    let wrong = refused["wrong_password"].as_str().unwrap();
    assert!(wrong.contains("wrong user name, password"), "{refused}");
    assert_eq!(refused["unknown_user"], wrong, "{refused}");
    assert_eq!(refused["cookie"], Value::Null, "{refused}");
    let codes = browser.expect("codes_refused").await;
    assert!(
        codes["absent"]
            .as_str()
            .unwrap()
            .contains("wrong or already used verification code"),
        "{codes}"
    );
    assert!(
        codes["wrong"]
            .as_str()
            .unwrap()
            .contains("wrong or already used verification code"),
        "{codes}"
    );
    assert_eq!(codes["portal"], false, "{codes}");
    // With the right code bob is in, and sees only his database.
    let bob = browser.expect("bob").await;
    assert_eq!(
        (names(&bob["hosts"]), names(&bob["databases"])),
        (vec![], vec!["payroll".to_string()])
    );

    // alice sees exactly what she is authorized for; her cookie is HttpOnly and Strict.
    let alice = browser.expect("alice").await;
    assert_eq!(alice["user"], "alice");
    assert_eq!(names(&alice["hosts"]), vec!["web-01"]);
    assert_eq!(names(&alice["databases"]), vec!["orders"]);
    let searches = &alice["searches"];
    assert_eq!(
        (
            &searches["no-such-host"]["rows"],
            &searches["no-such-host"]["empty"]
        ),
        (&json!([]), &json!(["Nothing matches the search."])),
        "{searches}"
    );
    assert_eq!(searches["WEB-0"]["rows"], json!(["web-01"]), "{searches}");
    let cookie = &alice["cookie"];
    assert_eq!(
        (&cookie["httpOnly"], &cookie["sameSite"]),
        (&json!(true), &json!("Strict"))
    );
    let cookie = cookie["value"].as_str().unwrap().to_string();

    // The token dialog: node 1's SSH port, alice, a token with its expiry; its ssh command
    // opens a tunnel with the OpenSSH client.
    let token = browser.expect("token").await;
    let ssh_port = nodes[0].ssh_addr.unwrap().port();
    assert_eq!(token["address"], "127.0.0.1", "{token}");
    assert_eq!(token["port"], ssh_port.to_string(), "{token}");
    assert_eq!(token["user"], "alice", "{token}");
    assert_eq!(token["token"].as_str().unwrap().len(), 64, "{token}");
    assert!(!token["expire"].as_str().unwrap().is_empty(), "{token}");
    // Renewed from the dialog: a later expiry, one renewal fewer, the act in the trail.
    assert_eq!(token["renew-status"], "3 renewal(s) left", "{token}");
    assert_eq!(
        token["renewed"]["status"], "Renewed: 2 renewal(s) left",
        "{token}"
    );
    assert!(
        token["renewed"]["expire"].as_str().unwrap() > token["expire"].as_str().unwrap(),
        "{token}"
    );
    let renewals = nodes[2].replica.read_linearizable(|s| {
        s.admin_audit()
            .entries()
            .filter(|e| e.record.action == "RenewAssetOperationToken" && e.record.result == "OK")
            .count()
    });
    assert_eq!(renewals.await.unwrap(), 1);
    let trail = nodes[2].replica.read_linearizable(|s| {
        s.admin_audit()
            .entries()
            .map(|e| e.record.clone())
            .find(|r| r.action == "GenerateAssetOperationToken")
    });
    let trail = trail.await.unwrap();
    let trail = trail.expect("the token's issue is in the admin audit trail");
    assert_eq!(
        (
            trail.access_key_id.as_str(),
            trail.user_id,
            trail.result.as_str()
        ),
        ("web-portal", Some(setup.alice), "OK")
    );
    let command = token["ssh"].as_str().unwrap().to_string();
    assert!(command.starts_with("ssh -N -L "), "{command}");
    assert!(
        command.ends_with(&format!(":127.0.0.1:{echo} alice@127.0.0.1 -p {ssh_port}")),
        "{command}"
    );

    // My AccessKeys: the key made in the page is alice's Operator key, its secret shown once.
    let key = browser.expect("key").await;
    let id = key["id"].as_str().unwrap().to_string();
    assert_eq!(key["rows"], json!([id]), "{key}");
    assert_eq!(key["secret"].as_str().unwrap().len(), 30, "{key}");
    let stored = nodes[1]
        .replica
        .read_linearizable(move |s| s.access_key(&id).map(|k| (k.role, k.user_id)))
        .await
        .unwrap();
    assert_eq!(
        stored,
        Some((portunus_model::Role::Operator, Some(setup.alice)))
    );

    // The official SDK, unchanged, with that key: GenerateAssetOperationToken issues alice's
    // token (as a RAM user's call does), and an administrator's action is refused.
    let secret = key["secret"].as_str().unwrap().to_string();
    let (orders, app) = nodes[1]
        .replica
        .read_linearizable(|s| {
            let db = s.databases().find(|d| d.name == "orders").map(|d| d.id)?;
            let account = s.database_accounts_of(db).next().map(|a| a.id)?;
            Some((db, account))
        })
        .await
        .unwrap()
        .expect("the orders database and its account");
    let answer = sdk_as(
        nodes[2].api_addr.unwrap(),
        key["id"].as_str().unwrap(),
        &secret,
        &nodes[2].instance_id().expect("an instance id"),
        orders,
        app,
    )
    .await;
    assert_eq!(answer["refused"], "Forbidden", "{answer}");
    let hash = portunus_ops::api::token_hash(answer["token"].as_str().unwrap());
    let owner = nodes[2]
        .replica
        .read_linearizable(move |s| s.token_by_hash(&hash).map(|t| t.user_id))
        .await
        .unwrap();
    assert_eq!(
        owner,
        Some(setup.alice),
        "the SDK's token is alice's: {answer}"
    );

    // "Open in local client": a link for the launcher with a one-use token of alice's for
    // web-01 as root, through node 1's SSH port.
    let launch = browser.expect("launch").await;
    let url = launch["url"].as_str().unwrap();
    let ssh_port = nodes[0].ssh_addr.unwrap().port();
    let prefix = format!(
        "portunus://launch?protocol=ssh&client=ssh&host=127.0.0.1&port={ssh_port}&user=alice&token="
    );
    assert!(url.starts_with(&prefix), "{launch}");
    assert!(url.ends_with("&asset=web-01&account=root"), "{launch}");
    assert_eq!(launch["device"], "mysql", "the default client: {launch}");
    let launched = url[prefix.len()..].split('&').next().unwrap().to_string();
    let hash = portunus_ops::api::token_hash(&launched);
    let issued = nodes[0]
        .replica
        .read_linearizable(move |s| {
            s.tokens_of_user(setup.alice)
                .find(|t| t.hash == hash)
                .map(|t| (t.asset, t.has_count_limit, t.count_left))
        })
        .await
        .unwrap();
    assert_eq!(
        issued,
        Some((portunus_model::AssetRef::Host(setup.web01), true, 1)),
        "{launch}"
    );

    // The cookie works on node 2 (the browser shows alice's portal there), and the logout
    // there ends the session on node 1 as well.
    let on_b = browser.expect("on_b").await;
    assert_eq!(
        (&on_b["user"], names(&on_b["databases"])),
        (&json!("alice"), vec!["orders".to_string()])
    );
    let after = browser.expect("after_logout").await;
    assert_eq!(
        (&after["login"], &after["portal"]),
        (&json!(true), &json!(false))
    );
    browser.finished().await;
    for n in &nodes {
        let (status, body) = http(n.api_addr.unwrap(), "GET", "/web/api/me", &cookie, "").await;
        assert_eq!(status, 401, "node {}: {body}", n.config.node_id);
    }

    // The dialog's command, as an engineer runs it (the local port made free for the test).
    let local = free_port();
    let mut words = command
        .split_whitespace()
        .skip(1)
        .map(str::to_string)
        .collect::<Vec<_>>();
    let forward = words.iter().position(|w| w == "-L").unwrap() + 1;
    let (_, rest) = words[forward].split_once(':').unwrap();
    words[forward] = format!("{local}:{rest}");
    let askpass = Askpass::new();
    let mut ssh = tokio::process::Command::new("ssh");
    ssh.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
    ])
    .args(["-o", "PubkeyAuthentication=no", "-F", "/dev/null"])
    .args(&words)
    .kill_on_drop(true);
    askpass.env(&mut ssh, token["token"].as_str().unwrap());
    let mut tunnel = ssh.spawn().unwrap();
    wait_listening(local).await;
    let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", local))
        .await
        .unwrap();
    conn.write_all(b"through the portal's token").await.unwrap();
    let mut back = [0u8; 26];
    conn.read_exact(&mut back).await.unwrap();
    assert_eq!(&back, b"through the portal's token");
    let view = nodes[2].replica.view().clone();
    wait_for("the tunnel's session", WAIT, || {
        view.read(|s| {
            s.open_sessions()
                .any(|x| x.user_id == setup.alice && x.node_id == 1)
        })
    })
    .await;
    drop(conn);
    tunnel.kill().await.unwrap();

    // A lock ends a session on every node: a fresh login (as a script would), then the lock.
    let node2 = nodes[1].api_addr.unwrap();
    let (status, body, fresh) = login(node2, "alice", ALICE_PASSWORD).await;
    assert_eq!(status, 200, "{body}");
    let fresh = fresh.expect("a session cookie");
    let (status, me) = http(nodes[2].api_addr.unwrap(), "GET", "/web/api/me", &fresh, "").await;
    assert_eq!((status, &me["user"]), (200, &json!("alice")), "{me}");
    // Without the CSRF token a change is refused, even with the cookie.
    let (status, _) = http(node2, "POST", "/web/api/logout", &fresh, "").await;
    assert_eq!(status, 403);
    nodes[0]
        .replica
        .propose(Command::LockUsers {
            user_ids: vec![setup.alice],
        })
        .await
        .unwrap();
    for n in &nodes {
        let (status, _) = http(n.api_addr.unwrap(), "GET", "/web/api/me", &fresh, "").await;
        assert_eq!(status, 401, "node {}", n.config.node_id);
    }
    for n in nodes {
        n.stop().await;
    }
}

/// Guesses through the portal and through the SSH port count together against the gateway's
/// per-address limit: once it is reached, even the right password is refused, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn web_and_ssh_logins_share_the_attempt_limits() {
    let dir = tempfile::tempdir().unwrap();
    let peers: BTreeMap<u64, String> = [(1, free_udp().to_string())].into();
    let mut config = node_config(1, dir.path(), &peers);
    config.ssh.auth_failures_per_ip = 3;
    let mut node = portunus_node::start(config).await.unwrap();
    node.registered().await;
    node.replica
        .propose(user("alice", ALICE_PASSWORD, false))
        .await
        .unwrap();
    let ssh_port = node.ssh_addr.unwrap().port();
    wait_listening(ssh_port).await;
    let api = node.api_addr.unwrap();
    for _ in 0..2 {
        let (status, body, cookie) = login(api, "alice", "not-her-password").await;
        assert_eq!((status, cookie), (401, None), "{body}");
        assert!(
            body["error"].as_str().unwrap().contains("wrong user name"),
            "{body}"
        );
    }
    let askpass = Askpass::new();
    let out = askpass
        .ssh(ssh_port, "alice", "still-not-hers")
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let (status, body, cookie) = login(api, "alice", ALICE_PASSWORD).await;
    assert_eq!((status, cookie), (401, None), "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("too many failed logins from your address"),
        "{body}"
    );
    node.stop().await;
}

/// The portal speaks the user's language once logged on (set by an administrator), the
/// browser's before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_portal_speaks_the_users_language() {
    let dir = tempfile::tempdir().unwrap();
    let (nodes, _) = three_nodes(dir.path()).await;
    let r = &nodes[0].replica;
    let alice =
        portunus_node::testing::created(r.propose(user("alice", ALICE_PASSWORD, false)).await);
    let patch = portunus_model::UserPatch {
        language: Some(Some(portunus_model::UiLanguage::ZhCn)),
        ..Default::default()
    };
    r.propose(Command::UpdateUser {
        user_id: alice,
        patch,
    })
    .await
    .unwrap();
    let server = &nodes[1];
    server.replica.read_linearizable(|_| ()).await.unwrap();
    let args = json!({"a": base(server), "alice_password": ALICE_PASSWORD});
    let mut browser = Browser::start("language", &args);
    let seen = browser.expect("language").await;
    browser.finished().await;
    assert_eq!(
        seen["before"],
        json!({"title": "Portunus O&M portal", "lang": "en", "logon": "Log on",
               "hosts_tab": "", "logout": "", "hosts_header": ["", "", ""]}),
        "the headless browser's language (English) before logging on: {seen}"
    );
    assert_eq!(
        seen["after"],
        json!({"title": "Portunus 运维门户", "lang": "zh-CN", "logon": "",
               "hosts_tab": "主机", "logout": "退出登录",
               "hosts_header": ["主机", "地址", "远程连接"]}),
        "alice's language after: {seen}"
    );
    assert_eq!(seen["untranslated"], json!([]), "{seen}");
    assert_eq!(seen["empty_hosts"], json!(["尚无已授权的资产。"]), "{seen}");
}

/// The official Python SDK with an engineer's AccessKey: a token for `database`/`account`, and
/// what a CreateUser call (an administrator's action) was refused with.
async fn sdk_as(
    api: std::net::SocketAddr,
    id: &str,
    secret: &str,
    instance: &str,
    database: u64,
    account: u64,
) -> Value {
    const SCRIPT: &str = r#"
import json, os
from alibabacloud_tea_openapi import models as om
from alibabacloud_tea_openapi.exceptions import ClientException
from alibabacloud_yundun_bastionhost20191209 import models as m
from alibabacloud_yundun_bastionhost20191209.client import Client
e = os.environ
c = Client(om.Config(access_key_id=e["AK"], access_key_secret=e["SK"], endpoint=e["EP"],
                     protocol="http", region_id="portunus"))
t = c.generate_asset_operation_token(m.GenerateAssetOperationTokenRequest(
    instance_id=e["IID"], asset_type="Database", asset_id=e["DB"],
    asset_account_id=e["ACC"])).body.asset_operation_token
try:
    c.create_user(m.CreateUserRequest(instance_id=e["IID"], user_name="mallory", source="Local"))
    refused = None
except ClientException as x:
    refused = x.code
print(json.dumps({"token": t.token, "refused": refused}))
"#;
    let out = tokio::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .env("EP", api.to_string())
        .env("AK", id)
        .env("SK", secret)
        .env("IID", instance)
        .env("DB", database.to_string())
        .env("ACC", account.to_string())
        .output()
        .await
        .expect("run python3 with the SDK (scripts/test.sh installs it)");
    assert!(
        out.status.success(),
        "the SDK script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script's JSON line")
}
