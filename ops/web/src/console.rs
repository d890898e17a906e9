//! The administrator console's server side. The console is a page of the portal for users who
//! hold an Admin or an Auditor AccessKey of their own (the role lives with the keys, as for API
//! callers: the first administrator's key acts as `admin`); anyone else gets a 403 page.
//!
//! The page changes and reads the state only through the API's own actions: `POST
//! /web/api/console/call` runs the named action with [`portunus_ops::api::run_action`] as the
//! user, with the role of their keys — the same parameter checks, the same role check (an
//! Auditor cannot write), the same handler, the same entry in the admin audit trail (key
//! `web-console`, the user, the browser's address) as a signed call. The session cookie and
//! the CSRF token with the page's origin stand where an API call has its signature. Beside it:
//! a session's recording for the replay ([`recording`]), the filtered session list as a file
//! ([`export`]), and the cluster overview ([`overview`]).

mod export;
mod live;
mod overview;

use crate::error::WebError;
use crate::login::client_of;
use crate::session::Authed;
use crate::Web;
use axum::extract::{Path, State};
use axum::http::{header, Extensions, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use portunus_model::{Role, State as Model};
use portunus_ops::api::{run_action, Caller};
use serde_json::{Map, Value};

pub(crate) use export::export;
pub(crate) use live::live;
pub(crate) use overview::overview;

/// What the admin audit trail names as the key of an act done through the console.
pub(crate) const CONSOLE_KEY: &str = "web-console";

/// The strongest role among the user's enabled AccessKeys.
pub(crate) fn console_role(s: &Model, user_id: u64) -> Option<Role> {
    let rank = |r: &Role| match r {
        Role::Admin => 0,
        Role::Auditor => 1,
        Role::Operator => 2,
    };
    s.access_keys()
        .filter(|k| k.enabled && k.user_id == Some(user_id))
        .map(|k| k.role)
        .min_by_key(rank)
}

/// A console request's user, with the role they act with.
pub(crate) struct Admin {
    pub authed: Authed,
    pub role: Role,
}

impl Admin {
    fn caller(&self) -> Caller {
        Caller {
            access_key_id: CONSOLE_KEY.into(),
            role: self.role,
            user_id: Some(self.authed.user_id),
        }
    }
}

impl Web {
    fn role_of(&self, authed: &Authed) -> Result<Role, WebError> {
        let mut role = None;
        self.backend
            .read(&mut |s| role = console_role(s, authed.user_id));
        match role {
            Some(r @ (Role::Admin | Role::Auditor)) => Ok(r),
            _ => Err(WebError::NotConsole),
        }
    }

    /// The session of a console request that reads.
    pub(crate) async fn console_reader(&self, headers: &HeaderMap) -> Result<Admin, WebError> {
        let authed = self.logged_in(headers).await?;
        let role = self.role_of(&authed)?;
        Ok(Admin { authed, role })
    }

    /// The session of a console request that may change something (origin and CSRF checked).
    pub(crate) async fn console_actor(&self, headers: &HeaderMap) -> Result<Admin, WebError> {
        let authed = self.acting(headers, false).await?;
        let role = self.role_of(&authed)?;
        Ok(Admin { authed, role })
    }

    /// Runs one API action for the console's user.
    pub(crate) async fn run(
        &self,
        admin: &Admin,
        source: &str,
        pairs: Vec<(String, String)>,
    ) -> Result<Map<String, Value>, WebError> {
        run_action(self.backend.clone(), admin.caller(), source, pairs)
            .await
            .map_err(WebError::Api)
    }
}

/// The parameters of a call as the API receives them (all text): strings as they are, numbers
/// and booleans written out, lists and objects as JSON text (as the SDK sends `HostIds`).
fn pairs_of(body: Map<String, Value>) -> Vec<(String, String)> {
    body.into_iter()
        .filter_map(|(k, v)| {
            let text = match v {
                Value::Null => return None,
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                other => other.to_string(),
            };
            Some((k, text))
        })
        .collect()
}

/// `GET /web/api/console/me`: who is logged in, with which role, and the CSRF token.
pub(crate) async fn me(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Json<Value>, WebError> {
    let admin = web.console_reader(&headers).await?;
    let mut language = None;
    web.backend.read(&mut |s| {
        language = s.user(admin.authed.user_id).and_then(|u| u.language);
    });
    Ok(Json(serde_json::json!({
        "user": admin.authed.user_name,
        "user_id": admin.authed.user_id,
        "role": portunus_model::admin_audit::role_name(admin.role),
        "csrf": admin.authed.csrf,
        "instance_id": web.backend.instance_id(),
        // The pages' language, when the user has one (else the browser's).
        "language": language.map(|l| l.api_name()),
    })))
}

/// `POST /web/api/console/call` with `{"Action": name, parameters...}`: the action's answer as
/// the API gives it (without its `RequestId`), or `{"error", "code"}`.
pub(crate) async fn call(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Json(body): Json<Map<String, Value>>,
) -> Result<Json<Value>, WebError> {
    let admin = web.console_actor(&headers).await?;
    let source = client_of(&ext).to_string();
    let answer = web.run(&admin, &source, pairs_of(body)).await?;
    Ok(Json(Value::Object(answer)))
}

/// `GET /web/api/console/sessions/{id}/recording`: the session's asciicast, whole or as far as
/// it was stored (`X-Recording-Complete` says which).
pub(crate) async fn recording(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(session_id): Path<u64>,
) -> Result<Response, WebError> {
    web.console_reader(&headers).await?;
    let mut known = false;
    web.backend
        .read(&mut |s| known = s.session(session_id).is_some());
    if !known {
        return Err(WebError::NotFound(format!("no session {session_id}")));
    }
    let Some(found) = web.gate.recording(session_id).await else {
        return Err(WebError::NotFound(format!(
            "no member of the cluster holds a recording of session {session_id} (database \
             sessions, tunnels and file transfers are not recorded)"
        )));
    };
    let mut resp = (StatusCode::OK, found.cast).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-asciicast"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let complete = if found.complete { "true" } else { "false" };
    h.insert("x-recording-complete", HeaderValue::from_static(complete));
    Ok(resp)
}

/// `GET /web/console/`: the console's page, or a 403 page for a logged-in user without an
/// Admin or Auditor role. Without a session the page shows its log-on form.
pub(crate) async fn page(State(web): State<Web>, headers: HeaderMap) -> Response {
    if let Ok(authed) = web.logged_in(&headers).await {
        if let Err(e) = web.role_of(&authed) {
            let words = crate::assets::escape(&e.to_string());
            let body = crate::assets::forbidden_page().replace("{words}", &words);
            let mut resp = crate::assets::page(body, crate::assets::CSP);
            *resp.status_mut() = StatusCode::FORBIDDEN;
            return resp;
        }
    }
    crate::assets::page(
        crate::assets::console_page().to_string(),
        crate::assets::CONSOLE_CSP,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_reach_the_api_as_text() {
        let body: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "Action": "LockUsers", "UserIds": ["3", "4"], "PageSize": 20, "Flag": true,
            "Skipped": null,
        }))
        .unwrap();
        let mut got = pairs_of(body);
        got.sort();
        let want: Vec<(String, String)> = [
            ("Action", "LockUsers"),
            ("Flag", "true"),
            ("PageSize", "20"),
            ("UserIds", "[\"3\",\"4\"]"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(got, want);
    }
}
