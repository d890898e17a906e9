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

impl Scripted {
    /// alice, or bob (who owes a second factor).
    fn known(&self, user: &str) -> Result<PasswordChecked, WebRefusal> {
        let (user_id, second_factor) = match user {
            "alice" => (self.alice, false),
            "bob" => (self.bob, true),
            _ => return Err(wrong()),
        };
        Ok(PasswordChecked {
            user_id,
            user_name: user.to_string(),
            second_factor,
        })
    }
}

impl WebGate for Scripted {
    fn check_password<'a>(
        &'a self,
        user: &'a str,
        password: Secret,
        _client: SocketAddr,
    ) -> BoxFuture<'a, Result<PasswordChecked, WebRefusal>> {
        let found = if password.0 == "pw" {
            self.known(user)
        } else {
            Err(wrong())
        };
        Box::pin(async move { found })
    }

    fn check_code<'a>(
        &'a self,
        _user_id: u64,
        _user_name: &'a str,
        code: Secret,
    ) -> BoxFuture<'a, Result<(), WebRefusal>> {
        Box::pin(async move { (code.0 == "123456").then_some(()).ok_or_else(wrong) })
    }

    fn sso_login<'a>(
        &'a self,
        user: &'a str,
        _client: SocketAddr,
    ) -> BoxFuture<'a, Result<PasswordChecked, WebRefusal>> {
        let found = self.known(user);
        Box::pin(async move { found })
    }

    fn sso_refused(&self, _why: &str, _client: SocketAddr) {}

    fn open_terminal(&self, _: TerminalRequest) -> BoxFuture<'_, Result<TerminalIo, WebRefusal>> {
        Box::pin(async { Err(wrong()) })
    }

    fn open_sql(
        &self,
        _: crate::port::SqlRequest,
    ) -> BoxFuture<'_, Result<crate::port::SqlConsole, WebRefusal>> {
        Box::pin(async { Err(wrong()) })
    }

    fn ssh_port(&self) -> Option<u16> {
        Some(60022)
    }

    /// A native MySQL port, no PostgreSQL one.
    fn database_port(&self, engine: portunus_model::DbEngine) -> Option<u16> {
        (engine == portunus_model::DbEngine::MySql).then_some(33306)
    }

    /// Session 1 has a recording; no other has.
    fn recording(&self, session_id: u64) -> BoxFuture<'_, Option<crate::Recording>> {
        Box::pin(async move {
            (session_id == 1).then(|| crate::Recording {
                cast: b"{\"version\":2}\n[0.1,\"o\",\"hi\"]\n".to_vec(),
                complete: true,
            })
        })
    }

    /// Node 1 keeps output of every session (a line naming what was asked); node 2 keeps
    /// none; node 3 does not answer.
    fn live(
        &self,
        session_id: u64,
        node_id: u64,
        from: u64,
    ) -> BoxFuture<'_, Result<Option<crate::LiveOutput>, WebRefusal>> {
        Box::pin(async move {
            match node_id {
                1 => Ok(Some(crate::LiveOutput {
                    header: "{\"version\":2,\"width\":80,\"height\":24}".into(),
                    first: from,
                    lines: vec![format!("[0.5,\"o\",\"session {session_id} from {from}\"]")],
                    skipped: false,
                    size: None,
                })),
                2 => Ok(None),
                _ => Err(WebRefusal {
                    kind: crate::RefusalKind::Unavailable,
                    message: format!("node {node_id} did not answer"),
                }),
            }
        })
    }

    fn cluster_status(&self) -> Value {
        json!({"node_id": 1, "leader": 1, "last_log_index": 5,
               "nodes": [{"id": 1, "kind": "engine", "voter": true, "matched_index": 5,
                          "info": {"api_addr": "10.0.0.1:8443", "ssh_addr": "10.0.0.1:60022"}}]})
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
    let router = web_router(
        backend.clone(),
        Arc::new(gate),
        WebConfig {
            tls: true,
            oidc_tls: None,
        },
    );
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

/// Logs bob in with his password and his code; (cookie value, CSRF token).
async fn login_bob(router: &Router) -> (String, String) {
    let (cookie, csrf, _, _) = login(router, "bob").await;
    let code = send(
        router,
        "POST",
        "/web/api/login/code",
        Some(&cookie),
        Some(&csrf),
        json!({"code": "123456"}),
    )
    .await;
    assert_eq!(code.status, StatusCode::OK, "{}", code.body);
    (cookie, csrf)
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

mod assets;
mod console;
mod keys;
mod sessions;
mod sso;
mod tokens;
