//! The web database console's WebSocket: `GET /web/api/sql?database=D&account=A&csrf=T` from
//! the portal's own page. The node opens the session through the database gateway's path (see
//! [`crate::WebGate::open_sql`]); this module only carries statements and answers. Text frames,
//! JSON:
//! - the page first sends `{"open":{"password":P,"database":S}}` (both optional: the password
//!   only when the bastion hosts none for the account, the schema to start in);
//! - the server answers `{"opened":{"session":N,"asset":..,"account":..,"engine":..}}`, or
//!   `{"ended":"words"}` and closes;
//! - then each `{"sql":"..."}` gets `{"answer":{"results":[..],"error":..,"notices":[..]}}`;
//! - `{"ended":"words"}` before the server closes (the database closed, an administrator ended
//!   the session, the user logged out).

use crate::error::WebError;
use crate::login::client_of;
use crate::port::{Secret, SqlConsole, SqlRequest};
use crate::terminal::{end, logged_out, LOGGED_OUT};
use crate::Web;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use portunus_model::WebSessionHash;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;

#[derive(Deserialize)]
pub(crate) struct Ask {
    database: u64,
    account: u64,
    csrf: Option<String>,
}

/// The largest statement text the console takes (bigger frames close the socket).
const MAX_STATEMENT: usize = 1 << 20;
/// How long the page may take to send its opening message.
const OPEN_WITHIN: Duration = Duration::from_secs(30);

/// `GET /web/api/sql`: checks the session, its CSRF token and the origin, then upgrades.
pub(crate) async fn upgrade(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Query(ask): Query<Ask>,
    ws: WebSocketUpgrade,
) -> Result<Response, WebError> {
    let authed = web.websocket_user(&headers, ask.csrf.as_deref()).await?;
    let request = SqlRequest {
        user_id: authed.user_id,
        user_name: authed.user_name,
        database_id: ask.database,
        account_id: ask.account,
        password: None,
        database: None,
        client: client_of(&ext),
    };
    let session = authed.hash;
    Ok(ws
        .max_message_size(MAX_STATEMENT + 1024)
        .on_upgrade(move |socket| serve(web, socket, request, session)))
}

/// The page's messages.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Open {
    open: OpenFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenFields {
    password: Option<String>,
    database: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Statement {
    sql: String,
}

/// The page's next text frame; None when it left.
async fn next_text(socket: &mut WebSocket) -> Option<String> {
    loop {
        match socket.recv().await? {
            Ok(Message::Text(t)) => return Some(t.as_str().to_owned()),
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Binary(_)) => continue,
            Ok(Message::Close(_)) | Err(_) => return None,
        }
    }
}

async fn serve(web: Web, mut socket: WebSocket, mut request: SqlRequest, session: WebSessionHash) {
    let opening = match tokio::time::timeout(OPEN_WITHIN, next_text(&mut socket)).await {
        Ok(Some(text)) => text,
        Ok(None) => return,
        Err(_) => {
            let _ = end(&mut socket, "the page did not open the console in time").await;
            return;
        }
    };
    let open: Open = match serde_json::from_str(&opening) {
        Ok(o) => o,
        Err(e) => {
            let _ = end(
                &mut socket,
                &format!("the opening message is not understood: {e}"),
            )
            .await;
            return;
        }
    };
    request.password = open.open.password.map(Secret);
    request.database = open.open.database.filter(|d| !d.trim().is_empty());
    let user = request.user_name.clone();
    let console = match web.gate.open_sql(request).await {
        Ok(c) => c,
        Err(refusal) => {
            tracing::info!(%user, reason = %refusal, "web: database console refused");
            let _ = end(&mut socket, &refusal.message).await;
            return;
        }
    };
    tracing::info!(%user, session_id = console.session_id, "web: database console opened");
    let opened = json!({ "opened": {
        "session": console.session_id,
        "asset": console.asset_name,
        "account": console.account,
        "engine": console.engine,
    }})
    .to_string();
    if socket.send(Message::Text(opened.into())).await.is_ok() {
        let mut idle_secs = 0;
        web.backend
            .read(&mut |s| idle_secs = s.settings().session_idle_timeout_secs);
        let idle = (idle_secs > 0).then(|| Duration::from_secs(idle_secs));
        relay(socket, console, logged_out(&web, &session), idle).await;
    }
}

/// Runs the page's statements one at a time until either side ends, `logout` resolves, or no
/// statement came for `idle` (the cluster's idle timeout). Dropping the console ends the
/// database session, a statement still running included.
async fn relay(
    mut socket: WebSocket,
    console: SqlConsole,
    logout: impl std::future::Future<Output = ()>,
    idle: Option<Duration>,
) {
    tokio::pin!(logout);
    loop {
        let waited = async {
            match idle {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let text = tokio::select! {
            () = waited => {
                let secs = idle.map_or(0, |d| d.as_secs());
                let words = format!("session ended: no statement for {secs} seconds (the idle timeout)");
                let _ = end(&mut socket, &words).await;
                return;
            }
            () = &mut logout => {
                let _ = end(&mut socket, LOGGED_OUT).await;
                return;
            }
            words = console.runner.ended() => {
                let _ = end(&mut socket, &words).await;
                return;
            }
            text = next_text(&mut socket) => match text {
                Some(t) => t,
                None => return,
            },
        };
        let sql = match serde_json::from_str::<Statement>(&text) {
            Ok(s) => s.sql,
            Err(e) => {
                let words = format!("the message is not a statement ({{\"sql\":\"...\"}}): {e}");
                let _ = end(&mut socket, &words).await;
                return;
            }
        };
        let answered = tokio::select! {
            () = &mut logout => {
                let _ = end(&mut socket, LOGGED_OUT).await;
                return;
            }
            // The page leaving (or sending out of turn) ends the session, the running
            // statement with it.
            _ = next_text(&mut socket) => {
                let _ = end(&mut socket, "one statement at a time: the session ended").await;
                return;
            }
            a = console.runner.run(sql) => a,
        };
        let reply = match answered {
            Ok(answer) => json!({ "answer": answer }).to_string(),
            Err(_) => {
                // The session is over: say how it ended.
                let words = console.runner.ended().await;
                let _ = end(&mut socket, &words).await;
                return;
            }
        };
        if socket.send(Message::Text(reply.into())).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_read_strictly() {
        let o: Open = serde_json::from_str(r#"{"open":{"password":"p"}}"#).expect("an open");
        assert_eq!(o.open.password.as_deref(), Some("p"));
        assert!(o.open.database.is_none());
        assert!(serde_json::from_str::<Open>(r#"{"open":{"pasword":"p"}}"#).is_err());
        let s: Statement = serde_json::from_str(r#"{"sql":"SELECT 1"}"#).expect("a statement");
        assert_eq!(s.sql, "SELECT 1");
        assert!(serde_json::from_str::<Statement>(r#"{"sql":1}"#).is_err());
    }
}
