//! Single sign-on's refusals that need no provider: not set up, and answers that belong to no
//! login of this browser (no cookie, a foreign or stale one, a different state), the provider's
//! own refusal, an answer without a code, settings changed meanwhile. Each shows the reason and
//! clears the pending login's cookie; none opens a session. (The flow through a real provider:
//! node/tests/node/web_sso.rs.)

use super::*;
use crate::oidc::{Pending, PURPOSE};
use base64::Engine;
use portunus_model::OidcSettings;

const ISSUER: &str = "https://id.example.org";
/// A login's state (its first 16 characters name the pending login's cookie).
const STATE: &str = "the-state-of-this-login";
/// The pending cookie's name for [`STATE`].
const COOKIE: &str = "portunus_sso_the-state-of-thi";

/// A GET with `cookie` as the whole Cookie header: (status, Set-Cookie lines, body).
async fn get(
    router: &Router,
    path: &str,
    cookie: Option<&str>,
) -> (StatusCode, Vec<String>, String) {
    let mut req = Request::builder().uri(path).header(header::HOST, "bastion");
    if let Some(c) = cookie {
        req = req.header(header::COOKIE, c);
    }
    let resp = router
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let set = resp
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, set, String::from_utf8_lossy(&bytes).into_owned())
}

fn enable(backend: &FakeBackend, issuer: &str) {
    let settings = OidcSettings {
        enabled: true,
        issuer: issuer.into(),
        client_id: "portunus".into(),
        ..Default::default()
    };
    assert_eq!(
        backend.apply_now(Command::SetOidcSettings(Some(settings))),
        Response::Done
    );
}

/// The pending login's cookie a login begun at `created_ms` with `state` would have set.
fn pending(backend: &FakeBackend, state: &str, created_ms: u64) -> String {
    let p = Pending {
        issuer: ISSUER.into(),
        client_id: "portunus".into(),
        state: state.into(),
        nonce: "n".into(),
        verifier: "v".into(),
        redirect_uri: "https://bastion/web/api/oidc/callback".into(),
        to: "portal".into(),
        created_ms,
    };
    let sealed = backend
        .seal(PURPOSE, &serde_json::to_vec(&p).unwrap())
        .unwrap();
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&sealed.0);
    format!("portunus_sso_{}={value}", &state[..16])
}

fn sessions(backend: &FakeBackend) -> usize {
    let mut n = 0;
    backend.read(&mut |s| n = s.web_session_count());
    n
}

#[tokio::test]
async fn without_settings_there_is_no_button_and_no_login() {
    let (router, _, _) = portal();
    let (status, _, body) = get(&router, "/web/api/oidc/config", None).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "{\"enabled\":false}")
    );
    let (status, _, body) = get(&router, "/web/api/oidc/login", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("single sign-on is not set up"), "{body}");
    // Set up but off is the same.
    let (router, backend, _) = portal();
    let off = OidcSettings {
        enabled: false,
        issuer: ISSUER.into(),
        ..Default::default()
    };
    backend.apply_now(Command::SetOidcSettings(Some(off)));
    let (status, _, body) = get(&router, "/web/api/oidc/login", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // A callback of a login begun before it was turned off is refused too.
    let cookie = pending(&backend, STATE, crate::now_ms());
    let path = format!("/web/api/oidc/callback?state={STATE}&code=c");
    let (status, _, body) = get(&router, &path, Some(&cookie)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("single sign-on is not set up"), "{body}");
    assert_eq!(sessions(&backend), 0);
}

#[tokio::test]
async fn answers_that_belong_to_no_login_here_are_refused_with_the_reason() {
    let (router, backend, _) = portal();
    enable(&backend, ISSUER);
    let now = crate::now_ms();
    let fresh = pending(&backend, STATE, now);
    let with = |query: &str| format!("/web/api/oidc/callback?{query}");
    let sealed_elsewhere = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(backend.seal("another purpose", b"{}").unwrap().0);
    // (path, Cookie header, words, whether the answer names a pending login to clear)
    let cases: Vec<(String, Option<String>, &str, bool)> = vec![
        (
            with(&format!("state={STATE}&code=c")),
            None,
            "not started in this browser",
            true,
        ),
        (
            with(&format!("state={STATE}&code=c")),
            Some(format!("{COOKIE}=!!not-base64")),
            "not started in this browser",
            true,
        ),
        (
            with(&format!("state={STATE}&code=c")),
            // Sealed for another purpose (another cookie's value).
            Some(format!("{COOKIE}={sealed_elsewhere}")),
            "not started in this browser",
            true,
        ),
        (
            with(&format!("state={STATE}&code=c")),
            Some(pending(&backend, STATE, now - 11 * 60 * 1000)),
            "longer than 10 minutes",
            true,
        ),
        (
            // Another login's state (another tab's): its cookie is not this one.
            with("state=another-login-state&code=c"),
            Some(fresh.clone()),
            "not started in this browser",
            true,
        ),
        (
            // The same cookie name, another state.
            with("state=the-state-of-this-forgery&code=c"),
            Some(fresh.clone()),
            "its state differs",
            true,
        ),
        (
            with("code=c"),
            Some(fresh.clone()),
            "not started in this browser",
            false,
        ),
        (
            with("state=%3Cx%3E&code=c"),
            Some(fresh.clone()),
            "not started in this browser",
            false,
        ),
        (
            with(&format!(
                "state={STATE}&error=access_denied&error_description=End-User+aborted"
            )),
            Some(fresh.clone()),
            "the provider refused the login (access_denied: End-User aborted)",
            true,
        ),
        (
            with(&format!("state={STATE}")),
            Some(fresh.clone()),
            "carries no code",
            true,
        ),
    ];
    for (path, cookie, words, clears) in cases {
        let (status, set, body) = get(&router, &path, cookie.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(body.contains(words), "{path}: {words:?} not in {body}");
        let cleared = set
            .iter()
            .any(|c| c.starts_with("portunus_sso_") && c.contains("=;") && c.contains("Max-Age=0"));
        assert_eq!(
            cleared, clears,
            "{path}: the pending login cleared: {set:?}"
        );
        assert!(
            !set.iter().any(|c| c.starts_with("portunus_web=")),
            "{path}: no session: {set:?}"
        );
    }
    assert_eq!(sessions(&backend), 0);
    // Words from the provider are shown as text, never as markup.
    let (_, _, body) = get(
        &router,
        &format!("/web/api/oidc/callback?state={STATE}&error=%3Cscript%3E"),
        Some(&fresh),
    )
    .await;
    assert!(
        body.contains("&lt;script&gt;") && !body.contains("<script>"),
        "{body}"
    );
}

#[tokio::test]
async fn settings_changed_during_a_login_end_it() {
    let (router, backend, _) = portal();
    enable(&backend, "https://another-provider.example.org");
    let cookie = pending(&backend, STATE, crate::now_ms());
    let (status, _, body) = get(
        &router,
        &format!("/web/api/oidc/callback?state={STATE}&code=c"),
        Some(&cookie),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("reconfigured during this login"), "{body}");
    assert_eq!(sessions(&backend), 0);
}

#[tokio::test]
async fn without_a_trust_for_providers_a_login_says_so() {
    let (router, backend, _) = portal();
    enable(&backend, ISSUER);
    let (status, set, body) = get(&router, "/web/api/oidc/login", None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body.contains("--oidc-ca"), "{body}");
    assert!(
        set.is_empty(),
        "no pending login for a login that cannot start: {set:?}"
    );
}
