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
        ],
        "as for a signed API call, a call refused by validation runs nothing and leaves no entry"
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
    assert_eq!(trail(&backend).len(), 2);
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
    assert_eq!(
        (hosts, trail(&backend).len()),
        (0, 0),
        "refused before it ran, as the API does"
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
