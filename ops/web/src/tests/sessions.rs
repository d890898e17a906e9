//! Logins, the cookie and its CSRF token, the second factor's step, logout and locks.

use super::*;

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
    assert_eq!(assets.body["hosts"]["rows"], json!([]));
    assert_eq!(assets.body["hosts"]["total"], json!(0));

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
