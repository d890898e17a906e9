//! Logging in and out: the password (checked by the node as an SSH login's), then the TOTP code
//! when one is due, each step answered on any node since the session lives in the replicated
//! state; logout ends the session everywhere.

use crate::cookie;
use crate::error::WebError;
use crate::port::{RefusalKind, Secret};
use crate::Web;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, Extensions, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use portunus_model::Command;
use serde::Deserialize;
use serde_json::json;
use std::net::SocketAddr;

/// The browser's address, as the API listener saw it (the balancer's PROXY header included).
pub(crate) fn client_of(ext: &Extensions) -> SocketAddr {
    ext.get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0)
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
}

#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    user: String,
    password: String,
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    code: String,
}

/// What the page is told after a step: what comes next, and the session's CSRF token.
fn step(next: &str, csrf: &str) -> Json<serde_json::Value> {
    Json(json!({ "next": next, "csrf": csrf }))
}

/// `POST /web/api/login`: user name and password.
pub(crate) async fn password(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Json(form): Json<PasswordForm>,
) -> Result<Response, WebError> {
    if !cookie::same_origin(&headers) {
        return Err(WebError::Forged);
    }
    let client = client_of(&ext);
    let user = form.user.trim();
    let checked = web
        .gate
        .check_password(user, Secret(form.password), client)
        .await?;
    let value = cookie::fresh().ok_or(WebError::Internal)?;
    let open = Command::OpenWebSession {
        session_hash: cookie::hash(&value),
        user_id: checked.user_id,
        client_addr: client.to_string(),
        second_factor_pending: checked.second_factor,
    };
    web.propose(open).await?;
    tracing::info!(user = %checked.user_name, %client, second_factor = checked.second_factor, "web: password accepted");
    let next = if checked.second_factor {
        "code"
    } else {
        "portal"
    };
    let set = cookie::set(&value, web.config.tls);
    Ok((
        [(header::SET_COOKIE, set)],
        step(next, &cookie::csrf_of(&value)),
    )
        .into_response())
}

/// `POST /web/api/login/code`: the second factor of a session whose password matched.
pub(crate) async fn code(
    State(web): State<Web>,
    headers: HeaderMap,
    Json(form): Json<CodeForm>,
) -> Result<Response, WebError> {
    let authed = web.acting(&headers, true).await?;
    if !authed.pending {
        return Ok(step("portal", &authed.csrf).into_response());
    }
    let hash = authed.hash;
    let checked = web
        .gate
        .check_code(authed.user_id, &authed.user_name, Secret(form.code))
        .await;
    match checked {
        Ok(()) => {
            web.propose(Command::WebSecondFactorPassed { session_hash: hash })
                .await?;
            tracing::info!(user = %authed.user_name, "web: second factor accepted");
            Ok(step("portal", &authed.csrf).into_response())
        }
        Err(refusal) => {
            // Only a wrong code counts (not a refusal for want of quorum).
            if refusal.kind == RefusalKind::Credentials {
                let _ = web
                    .propose(Command::WebSecondFactorRefused { session_hash: hash })
                    .await;
            }
            Err(refusal.into())
        }
    }
}

/// `POST /web/api/logout`: ends the session on every node.
pub(crate) async fn logout(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let authed = web.acting(&headers, true).await?;
    web.propose(Command::CloseWebSession {
        session_hash: authed.hash,
    })
    .await?;
    tracing::info!(user = %authed.user_name, "web: logged out");
    let clear = cookie::clear(web.config.tls);
    Ok((
        [(header::SET_COOKIE, clear)],
        Json(json!({ "next": "login" })),
    )
        .into_response())
}

/// `GET /web/api/me`: who is logged in, and the session's CSRF token for the page.
pub(crate) async fn me(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Json<serde_json::Value>, WebError> {
    let authed = web.session(&headers).await?;
    let next = if authed.pending { "code" } else { "portal" };
    Ok(Json(json!({
        "user": authed.user_name,
        "next": next,
        "csrf": authed.csrf,
    })))
}
