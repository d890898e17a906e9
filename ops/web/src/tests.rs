//! The portal's session logic through its router, over the API's in-memory development backend
//! (a real `portunus_model::State`) and a scripted gate: a login gives an HttpOnly cookie and a
//! CSRF token; the cookie alone reads, a change also needs the token and the portal's origin;
//! a pending second factor serves nothing but the code and ends after three wrong ones; logout
//! and a lock end the session.

use crate::port::{
    PasswordChecked, RefusalKind, Secret, TerminalIo, TerminalRequest, WebGate, WebRefusal,
};
use crate::{web_router, WebConfig};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use portunus_model::{Command, NewUser, Response};
use portunus_ops::api::fake::FakeBackend;
use portunus_ops::{Backend, BoxFuture};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// alice's password is "pw"; bob's is "pw" too, and his code is "123456".
struct Scripted {
    alice: u64,
    bob: u64,
}

fn wrong() -> WebRefusal {
    WebRefusal {
        kind: RefusalKind::Credentials,
        message: "wrong user name or password".into(),
    }
}

impl WebGate for Scripted {
    fn check_password<'a>(
        &'a self,
        user: &'a str,
        password: Secret,
        _client: SocketAddr,
    ) -> BoxFuture<'a, Result<PasswordChecked, WebRefusal>> {
        let found = match (user, password.0.as_str()) {
            ("alice", "pw") => Ok((self.alice, false)),
            ("bob", "pw") => Ok((self.bob, true)),
            _ => Err(wrong()),
        };
        Box::pin(async move {
            let (user_id, second_factor) = found?;
            Ok(PasswordChecked {
                user_id,
                user_name: user.to_string(),
                second_factor,
            })
        })
    }

    fn check_code<'a>(
        &'a self,
        _user_id: u64,
        _user_name: &'a str,
        code: Secret,
    ) -> BoxFuture<'a, Result<(), WebRefusal>> {
        Box::pin(async move { (code.0 == "123456").then_some(()).ok_or_else(wrong) })
    }

    fn open_terminal(&self, _: TerminalRequest) -> BoxFuture<'_, Result<TerminalIo, WebRefusal>> {
        Box::pin(async { Err(wrong()) })
    }

    fn ssh_port(&self) -> Option<u16> {
        Some(60022)
    }
}

fn create(backend: &FakeBackend, name: &str) -> u64 {
    let user = NewUser {
        name: name.into(),
        ..Default::default()
    };
    match backend.apply_now(Command::CreateUser(user)) {
        Response::Created { id } => id,
        other => panic!("{other:?}"),
    }
}

fn portal() -> (Router, Arc<FakeBackend>, u64) {
    let backend = Arc::new(FakeBackend::new("bastion-test"));
    let gate = Scripted {
        alice: create(&backend, "alice"),
        bob: create(&backend, "bob"),
    };
    let alice = gate.alice;
    let router = web_router(backend.clone(), Arc::new(gate), WebConfig { tls: true });
    (router, backend, alice)
}

/// What a request gets: status, the session cookie set (if any), the JSON body.
struct Answer {
    status: StatusCode,
    cookie: Option<String>,
    body: Value,
}

async fn send(
    router: &Router,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    csrf: Option<&str>,
    body: Value,
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "bastion")
        .header(header::ORIGIN, "https://bastion")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, format!("portunus_web={c}"));
    }
    if let Some(t) = csrf {
        req = req.header("x-csrf-token", t);
    }
    let req = req.body(Body::from(body.to_string())).unwrap();
    let resp = router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .map(|v| v.to_str().unwrap().to_string());
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        cookie,
        body,
    }
}

/// Logs in; (cookie value, CSRF token, the Set-Cookie line, the next step).
async fn login(router: &Router, user: &str) -> (String, String, String, String) {
    let a = send(
        router,
        "POST",
        "/web/api/login",
        None,
        None,
        json!({"user": user, "password": "pw"}),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let set = a.cookie.expect("a session cookie");
    let value = set
        .strip_prefix("portunus_web=")
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_string();
    let csrf = a.body["csrf"].as_str().unwrap().to_string();
    let next = a.body["next"].as_str().unwrap().to_string();
    (value, csrf, set, next)
}

#[tokio::test]
async fn a_login_gives_a_cookie_that_reads_and_a_token_that_changes() {
    let (router, backend, _) = portal();
    let refused = send(
        &router,
        "POST",
        "/web/api/login",
        None,
        None,
        json!({"user": "alice", "password": "no"}),
    )
    .await;
    assert_eq!(
        (refused.status, refused.cookie),
        (StatusCode::UNAUTHORIZED, None)
    );

    let (cookie, csrf, set, next) = login(&router, "alice").await;
    assert_eq!(next, "portal");
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/web"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let mut stored = Vec::new();
    backend.read(&mut |s| stored.push(s.web_session_count()));
    assert_eq!(stored, vec![1]);
    let me = send(
        &router,
        "GET",
        "/web/api/me",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(
        (me.status, &me.body["user"]),
        (StatusCode::OK, &json!("alice"))
    );
    assert_eq!(me.body["csrf"], csrf);
    let assets = send(
        &router,
        "GET",
        "/web/api/assets",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(assets.status, StatusCode::OK);
    assert_eq!(assets.body["hosts"], json!([]));

    // A change without the token, with another session's token, or from another origin: refused.
    let (_, other_csrf, _, _) = login(&router, "alice").await;
    for token in [None, Some(other_csrf.as_str())] {
        let a = send(
            &router,
            "POST",
            "/web/api/logout",
            Some(&cookie),
            token,
            Value::Null,
        )
        .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
    }
    let forged = Request::builder()
        .method("POST")
        .uri("/web/api/logout")
        .header(header::HOST, "bastion")
        .header(header::ORIGIN, "https://elsewhere.example")
        .header(header::COOKIE, format!("portunus_web={cookie}"))
        .header("x-csrf-token", &csrf)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        router.clone().oneshot(forged).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    let me = send(
        &router,
        "GET",
        "/web/api/me",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(me.status, StatusCode::OK, "still logged in");

    // Logout with the token ends it; the cookie no longer reads.
    let out = send(
        &router,
        "POST",
        "/web/api/logout",
        Some(&cookie),
        Some(&csrf),
        Value::Null,
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(out.cookie.unwrap().contains("Max-Age=0"));
    let me = send(
        &router,
        "GET",
        "/web/api/me",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_pending_second_factor_serves_only_the_code() {
    let (router, _, _) = portal();
    let (cookie, csrf, _, next) = login(&router, "bob").await;
    assert_eq!(next, "code");
    let assets = send(
        &router,
        "GET",
        "/web/api/assets",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(
        assets.status,
        StatusCode::UNAUTHORIZED,
        "nothing before the code"
    );
    let code = |c: &str| json!({ "code": c });
    let a = send(
        &router,
        "POST",
        "/web/api/login/code",
        Some(&cookie),
        None,
        code("123456"),
    )
    .await;
    assert_eq!(
        a.status,
        StatusCode::FORBIDDEN,
        "the code step needs the CSRF token too"
    );
    let a = send(
        &router,
        "POST",
        "/web/api/login/code",
        Some(&cookie),
        Some(&csrf),
        code("000000"),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = send(
        &router,
        "POST",
        "/web/api/login/code",
        Some(&cookie),
        Some(&csrf),
        code("123456"),
    )
    .await;
    assert_eq!(
        (a.status, &a.body["next"]),
        (StatusCode::OK, &json!("portal"))
    );
    let assets = send(
        &router,
        "GET",
        "/web/api/assets",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(assets.status, StatusCode::OK);

    // Three wrong codes end a pending session: the right one comes too late.
    let (cookie, csrf, _, _) = login(&router, "bob").await;
    for _ in 0..3 {
        let a = send(
            &router,
            "POST",
            "/web/api/login/code",
            Some(&cookie),
            Some(&csrf),
            code("999999"),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    }
    let a = send(
        &router,
        "POST",
        "/web/api/login/code",
        Some(&cookie),
        Some(&csrf),
        code("123456"),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(
        a.body["error"].as_str().unwrap().starts_with("log in"),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn a_lock_ends_the_session() {
    let (router, backend, alice) = portal();
    let (cookie, _, _, _) = login(&router, "alice").await;
    backend.apply_now(Command::LockUsers {
        user_ids: vec![alice],
    });
    let me = send(
        &router,
        "GET",
        "/web/api/me",
        Some(&cookie),
        None,
        Value::Null,
    )
    .await;
    assert_eq!(me.status, StatusCode::UNAUTHORIZED);
    let a = send(
        &router,
        "POST",
        "/web/api/login",
        None,
        None,
        json!({"user": "alice", "password": "pw"}),
    )
    .await;
    // (The node's gate refuses a locked user's password first; the model refuses it anyway.)
    assert_eq!(
        (a.status, a.cookie),
        (StatusCode::FORBIDDEN, None),
        "{}",
        a.body
    );
}

#[tokio::test]
async fn an_http2_request_names_its_host_in_the_authority() {
    let (router, _, _) = portal();
    let login = |origin: &'static str| {
        Request::builder()
            .method("POST")
            .uri("https://bastion:8443/web/api/login")
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                json!({"user": "alice", "password": "pw"}).to_string(),
            ))
            .unwrap()
    };
    let own = router
        .clone()
        .oneshot(login("https://bastion:8443"))
        .await
        .unwrap();
    assert_eq!(own.status(), StatusCode::OK);
    let other = router
        .clone()
        .oneshot(login("https://elsewhere:8443"))
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_token_for_an_account_not_granted_is_refused_and_audited() {
    let (router, backend, alice) = portal();
    let db = portunus_model::NewDatabase {
        name: "payroll".into(),
        engine: portunus_model::DbEngine::MySql,
        address: "10.0.0.9".into(),
        port: 3306,
        source: Default::default(),
        source_instance_id: String::new(),
        comment: String::new(),
        network_domain_id: None,
    };
    let Response::Created { id: database_id } = backend.apply_now(Command::CreateDatabase(db))
    else {
        panic!("database");
    };
    let account = portunus_model::NewDatabaseAccount {
        database_id,
        name: "app".into(),
        password: None,
        comment: String::new(),
    };
    let Response::Created { id: account_id } =
        backend.apply_now(Command::CreateDatabaseAccount(account))
    else {
        panic!("account");
    };
    let (cookie, csrf, _, _) = login(&router, "alice").await;
    let ask = json!({ "database_id": database_id, "account_id": account_id });
    let a = send(
        &router,
        "POST",
        "/web/api/tokens",
        Some(&cookie),
        Some(&csrf),
        ask.clone(),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.get("token").is_none());
    let mut trail = Vec::new();
    backend.read(&mut |s| {
        trail = s
            .admin_audit()
            .entries()
            .map(|e| e.record.clone())
            .collect()
    });
    let entry = trail.last().expect("an entry");
    assert_eq!(
        (entry.action.as_str(), entry.user_id, entry.result.as_str()),
        (
            "GenerateAssetOperationToken",
            Some(alice),
            "Forbidden.NotAuthorized"
        )
    );

    // Granted, the same request gives the tunnel configuration.
    backend.apply_now(Command::AttachDatabaseAccounts {
        principal: portunus_model::Principal::User(alice),
        database_id,
        account_ids: [account_id].into(),
    });
    let a = send(
        &router,
        "POST",
        "/web/api/tokens",
        Some(&cookie),
        Some(&csrf),
        ask,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["port"], 60022);
    assert_eq!(a.body["token"].as_str().unwrap().len(), 64);
    assert_eq!(
        a.body["ssh_command"],
        "ssh -N -L 13306:10.0.0.9:3306 alice@bastion -p 60022"
    );
    assert_eq!(
        a.body["client_command"],
        "mysql -h 127.0.0.1 -P 13306 -u app"
    );
}
