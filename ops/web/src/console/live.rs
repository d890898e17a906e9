//! The audit page's live view: `GET /web/api/console/sessions/{id}/live?from=N` answers the
//! output of a running session after line `N`, asked of whichever member serves it
//! (`WebGate::live`), so an administrator or auditor on any node follows a session held by
//! another. The page asks again about twice a second; when the session ends it says so.

use crate::error::WebError;
use crate::Web;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::Json;
use portunus_model::{Protocol, SessionId};
use serde::Deserialize;
use serde_json::{json, Value};

/// Where the viewer stands.
#[derive(Deserialize)]
pub(crate) struct LiveQuery {
    #[serde(default)]
    from: u64,
}

/// What the state says of the session: who serves it, whether it runs.
struct Known {
    node_id: u64,
    open: bool,
    ssh: bool,
    end_reason: Option<String>,
}

pub(crate) async fn live(
    State(web): State<Web>,
    headers: HeaderMap,
    Path(session_id): Path<SessionId>,
    Query(LiveQuery { from }): Query<LiveQuery>,
) -> Result<Json<Value>, WebError> {
    web.console_reader(&headers).await?;
    let mut known = None;
    web.backend.read(&mut |s| {
        known = s.session(session_id).map(|x| Known {
            node_id: x.node_id,
            open: x.is_open(),
            ssh: x.protocol == Protocol::Ssh,
            end_reason: x.end_reason.map(|r| format!("{r:?}")),
        });
    });
    let Some(k) = known else {
        return Err(WebError::NotFound(format!("no session {session_id}")));
    };
    let unwatchable = |why: String| {
        Ok(Json(json!({
            "open": k.open, "node": k.node_id, "watchable": false, "why": why,
            "end_reason": k.end_reason,
        })))
    };
    if !k.open {
        return unwatchable(format!("session {session_id} has ended"));
    }
    if !k.ssh {
        return unwatchable(
            "only shell and command sessions have a terminal to watch; a database session's \
             statements are in its events"
                .to_string(),
        );
    }
    let Some(out) = web.gate.live(session_id, k.node_id, from).await? else {
        return unwatchable(format!(
            "node {} keeps no output of session {session_id}: it ended just now, it is a \
             tunnel or file transfer, or session recording is off",
            k.node_id
        ));
    };
    Ok(Json(json!({
        "open": true,
        "node": k.node_id,
        "watchable": true,
        "header": out.header,
        "first": out.first,
        "lines": out.lines,
        "skipped": out.skipped,
        "size": out.size,
    })))
}
