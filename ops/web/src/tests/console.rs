//! The console through its router: only a user with an Admin or Auditor AccessKey of their own
//! gets in (an Operator gets 403, the page as well); a change runs the API's own action with its
//! role check (an Auditor reads but cannot write) and lands in the admin audit trail under the
//! user with the key `web-console`, secrets redacted; a change needs the CSRF token; the
//! recording and the export serve the session list's checks.

use super::*;
use portunus_model::Role;

fn trail(backend: &FakeBackend) -> Vec<portunus_model::AdminAuditRecord> {
    let mut out = Vec::new();
    backend.read(&mut |s| {
        out = s
            .admin_audit()
            .entries()
            .map(|e| e.record.clone())
            .collect()
    });
    out
}

async fn get_text(router: &Router, path: &str, cookie: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .uri(path)
        .header(header::HOST, "bastion")
        .header(header::COOKIE, format!("portunus_web={cookie}"))
        .body(Body::empty())
        .unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

fn create_host(name: &str) -> Value {
    json!({"Action": "CreateHost", "HostName": name, "Source": "Local", "OSType": "Linux",
           "ActiveAddressType": "Private", "HostPrivateAddress": "10.0.0.7"})
}

#[tokio::test]
async fn an_operator_gets_a_403_page_and_no_action() {
    let (router, backend, alice) = portal();
    backend.add_access_key("op-key", "s", Role::Operator, Some(alice));
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    let a = send(
        &router,
        "GET",
        "/web/api/assets",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(
        a.body["console"], false,
        "no link to the console: {}",
        a.body
    );
    let (status, page) = get_text(&router, "/web/console/", &cookie).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(page.contains("neither role"), "{page}");
    let a = send(
        &router,
        "GET",
        "/web/api/console/me",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        create_host("h1"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let mut hosts = 0;
    backend.read(&mut |s| hosts = s.hosts().count());
    assert_eq!(hosts, 0);
    // Without a session the page is the console's, with its log-on form.
    let (status, page) = get_text(&router, "/web/console/", "0").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"login-form\""));
}

#[tokio::test]
async fn an_admin_change_is_the_api_action_and_is_in_the_admin_trail() {
    let (router, backend, alice) = portal();
    backend.add_access_key("admin-key", "s", Role::Admin, Some(alice));
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    let a = send(
        &router,
        "GET",
        "/web/api/assets",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(
        a.body["console"], true,
        "the portal links to the console: {}",
        a.body
    );
    let me = send(
        &router,
        "GET",
        "/web/api/console/me",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(
        (me.status, me.body["role"].as_str()),
        (StatusCode::OK, Some("Admin"))
    );

    // No CSRF token: refused before anything runs.
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        None,
        create_host("h1"),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        create_host("h1"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let host_id = a.body["HostId"].as_str().unwrap().to_string();
    let secret = "Hunter2-console";
    let account = json!({"Action": "CreateHostAccount", "HostId": host_id, "HostAccountName": "root",
                         "ProtocolName": "SSH", "Password": secret});
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        account,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The API's own validation answers a bad call, with its code.
    let bad = json!({"Action": "CreateHost", "HostName": "h2"});
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        bad,
    )
    .await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("MissingParameter")),
        "{}",
        a.body
    );

    let t = trail(&backend);
    let made: Vec<_> = t
        .iter()
        .map(|e| {
            (
                e.action.as_str(),
                e.access_key_id.as_str(),
                e.user_id,
                e.result.as_str(),
            )
        })
        .collect();
    assert_eq!(
        made,
        vec![
            ("CreateHost", "web-console", Some(alice), "OK"),
            ("CreateHostAccount", "web-console", Some(alice), "OK"),
            ("CreateHost", "web-console", Some(alice), "MissingParameter"),
        ],
        "as for a signed API call, a call refused by validation runs nothing and its entry \
         names the refusal"
    );
    assert_eq!(
        t[1].params.get("Password").map(String::as_str),
        Some("<redacted>")
    );
    assert!(!format!("{t:?}").contains(secret));
    // A listing reads through the same action and is not in the trail.
    let list = json!({"Action": "ListHosts", "HostName": "h1"});
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        list,
    )
    .await;
    assert_eq!(a.body["TotalCount"], 1, "{}", a.body);
    assert_eq!(trail(&backend).len(), 3, "no entry for the listing");
}

#[tokio::test]
async fn an_auditor_reads_and_exports_but_cannot_change() {
    let (router, backend, alice) = portal();
    backend.add_access_key("audit-key", "s", Role::Auditor, Some(alice));
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        create_host("h1"),
    )
    .await;
    assert_eq!(
        (a.status, a.body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("Forbidden")),
        "{}",
        a.body
    );
    let mut hosts = 0;
    backend.read(&mut |s| hosts = s.hosts().count());
    let refused: Vec<_> = trail(&backend)
        .iter()
        .map(|e| (e.action.clone(), e.result.clone()))
        .collect();
    assert_eq!(
        (hosts, refused),
        (0, vec![("CreateHost".to_string(), "Forbidden".to_string())]),
        "refused before it ran, as the API does, and in the admin trail"
    );
    let a = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        json!({"Action": "ListSessions"}),
    )
    .await;
    assert_eq!(
        (a.status, &a.body["TotalCount"]),
        (StatusCode::OK, &json!(0)),
        "{}",
        a.body
    );
    let (status, csv) = get_text(
        &router,
        "/web/api/console/sessions/export?format=csv&UserName=alice",
        &cookie,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(csv.starts_with("SessionId,UserName,"), "{csv}");
    assert_eq!(csv.lines().count(), 1, "a header and no session: {csv}");
    let (status, _) = get_text(
        &router,
        "/web/api/console/sessions/export?format=xml",
        &cookie,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // No session 1 in the state: no recording served, whatever the gate holds.
    let (status, body) = get_text(&router, "/web/api/console/sessions/1/recording", &cookie).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let o = send(
        &router,
        "GET",
        "/web/api/console/overview",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(o.body["instance_id"], "bastion-test", "{}", o.body);
    assert_eq!(o.body["ssh_port"], 60022);
    assert_eq!(o.body["members"][0]["health"], "leader");
}

#[tokio::test]
async fn a_user_without_a_key_is_refused_the_recordings_and_the_export() {
    let (router, _backend, _alice) = portal();
    let (cookie, _, _, _) = login(&router, "alice").await;
    for path in [
        "/web/api/console/sessions/1/recording",
        "/web/api/console/sessions/export?format=jsonl",
        "/web/api/console/overview",
    ] {
        let (status, body) = get_text(&router, path, &cookie).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let (status, _) = get_text(
        &router,
        "/web/api/console/sessions/export?format=jsonl",
        "0",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// Alice (an Admin) reaches host `web1` as `root`; a session of hers is opened on each of
/// `nodes` (SSH), the last one then closed. Returns the sessions' ids.
async fn sessions_on(
    router: &Router,
    backend: &FakeBackend,
    alice: u64,
    (cookie, csrf): (&str, &str),
    nodes: &[u64],
) -> Vec<u64> {
    let call = |body: Value| {
        send(
            router,
            "POST",
            "/web/api/console/call",
            Some(cookie),
            Some(csrf),
            body,
        )
    };
    let host = call(create_host("web1")).await;
    let host = host.body["HostId"].as_str().expect("a host id").to_string();
    let account = call(json!({"Action": "CreateHostAccount", "HostId": host,
                              "HostAccountName": "root", "ProtocolName": "SSH"}))
    .await;
    let account = account.body["HostAccountId"]
        .as_str()
        .expect("an account id")
        .to_string();
    let grant = format!("[{{\"HostId\":\"{host}\",\"HostAccountIds\":[\"{account}\"]}}]");
    let a = call(
        json!({"Action": "AttachHostAccountsToUser", "UserId": alice.to_string(),
                        "Hosts": grant}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let mut ids = Vec::new();
    // Each node starts once (a node starting again ends the sessions it held).
    let mut epochs = std::collections::BTreeMap::new();
    for &node_id in nodes {
        let epoch = *epochs.entry(node_id).or_insert_with(|| {
            match backend.apply_now(Command::NodeStarted { node_id }) {
                Response::NodeEpoch { epoch, .. } => epoch,
                other => panic!("{other:?}"),
            }
        });
        let opened = backend.apply_now(Command::OpenSession {
            user_id: alice,
            asset: portunus_model::AssetRef::Host(host.parse().unwrap()),
            account_id: account.parse().unwrap(),
            protocol: portunus_model::Protocol::Ssh,
            node_id,
            node_epoch: epoch,
            client_addr: "192.0.2.1:1".into(),
        });
        let Response::SessionOpened(g) = opened else {
            panic!("{opened:?}")
        };
        ids.push((g.session_id, node_id, epoch));
    }
    let (last, node_id, node_epoch) = *ids.last().unwrap();
    let closed = backend.apply_now(Command::CloseSession {
        session_id: last,
        node_id,
        node_epoch,
        reason: portunus_model::EndReason::Normal,
        bytes_up: 0,
        bytes_down: 0,
        events: None,
    });
    assert!(
        matches!(closed, Response::Done | Response::SessionClosed { .. }),
        "{closed:?}"
    );
    ids.into_iter().map(|(id, _, _)| id).collect()
}

#[tokio::test]
async fn a_running_session_is_watched_through_its_node_and_terminated_by_an_admin_only() {
    let (router, backend, alice) = portal();
    backend.add_access_key("admin-key", "s", Role::Admin, Some(alice));
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    // Sessions on node 1 (keeps output), 2 (keeps none), 3 (does not answer); one more on
    // node 1, closed.
    let ids = sessions_on(&router, &backend, alice, (&cookie, &csrf), &[1, 2, 3, 1]).await;
    let live = |id: u64, from: u64| {
        let path = format!("/web/api/console/sessions/{id}/live?from={from}");
        let cookie = cookie.clone();
        let router = router.clone();
        async move { send(&router, "GET", &path, Some(&cookie), None, Value::Null).await }
    };
    let w = live(ids[0], 4).await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.body);
    assert_eq!(
        (&w.body["watchable"], &w.body["node"]),
        (&json!(true), &json!(1))
    );
    assert_eq!(w.body["first"], 4);
    assert_eq!(
        w.body["lines"],
        json!([format!("[0.5,\"o\",\"session {} from 4\"]", ids[0])]),
        "the serving node was asked for this session from the viewer's line"
    );
    let w = live(ids[1], 0).await;
    assert_eq!(
        (w.status, &w.body["watchable"]),
        (StatusCode::OK, &json!(false))
    );
    assert!(
        w.body["why"]
            .as_str()
            .unwrap()
            .contains("node 2 keeps no output"),
        "{}",
        w.body
    );
    let w = live(ids[2], 0).await;
    assert_eq!(w.status, StatusCode::SERVICE_UNAVAILABLE, "{}", w.body);
    assert!(
        w.body["error"].as_str().unwrap().contains("node 3"),
        "{}",
        w.body
    );
    let w = live(ids[3], 0).await;
    assert_eq!(
        (w.status, &w.body["open"], &w.body["watchable"]),
        (StatusCode::OK, &json!(false), &json!(false)),
        "{}",
        w.body
    );
    assert_eq!(live(999, 0).await.status, StatusCode::NOT_FOUND);

    // Terminate: the Admin's call marks the session, and is in the admin trail.
    let terminated = |backend: &FakeBackend, id: u64| {
        let mut t = None;
        backend.read(&mut |s| t = s.session(id).map(|x| x.terminate_requested));
        t
    };
    let t = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        json!({"Action": "TerminateSession", "SessionId": ids[1].to_string()}),
    )
    .await;
    assert_eq!(t.status, StatusCode::OK, "{}", t.body);
    assert_eq!(terminated(&backend, ids[1]), Some(true));
    assert_eq!(terminated(&backend, ids[0]), Some(false));
    let last = trail(&backend).pop().expect("an entry");
    assert_eq!(last.action, "TerminateSession");
    // A closed session cannot be terminated; the refusal says why.
    let t = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        json!({"Action": "TerminateSession", "SessionId": ids[3].to_string()}),
    )
    .await;
    assert_eq!(t.status, StatusCode::CONFLICT, "{}", t.body);
    assert!(
        t.body["error"].as_str().unwrap().contains("already closed"),
        "{}",
        t.body
    );

    // An Auditor (alice of another bastion, whose Admin key is gone) watches but cannot
    // terminate.
    let (router, backend, alice) = portal();
    backend.add_access_key("admin-key", "s", Role::Admin, Some(alice));
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    let ids = sessions_on(&router, &backend, alice, (&cookie, &csrf), &[1, 1]).await;
    backend.add_access_key("audit-key", "s", Role::Auditor, Some(alice));
    let gone = backend.apply_now(Command::DeleteAccessKey {
        access_key_id: "admin-key".into(),
    });
    assert_eq!(gone, Response::Done);
    let w = send(
        &router,
        "GET",
        &format!("/web/api/console/sessions/{}/live", ids[0]),
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(
        (w.status, &w.body["watchable"]),
        (StatusCode::OK, &json!(true)),
        "{}",
        w.body
    );
    let t = send(
        &router,
        "POST",
        "/web/api/console/call",
        Some(&cookie),
        Some(&csrf),
        json!({"Action": "TerminateSession", "SessionId": ids[0].to_string()}),
    )
    .await;
    assert_eq!(t.status, StatusCode::FORBIDDEN, "{}", t.body);
    assert_eq!(terminated(&backend, ids[0]), Some(false));
}
