//! The web terminal's WebSocket: `GET /web/api/terminal?host=H&account=A&cols=C&rows=R&csrf=T`
//! from the portal's own page. The node opens the shell through the SSH gateway's path (see
//! [`crate::WebGate::open_terminal`]); this module only moves bytes. Binary frames carry the
//! terminal's bytes both ways; the browser sends `{"resize":[cols,rows]}` as text, and the
//! server says `{"opened":session}` once the shell runs and `{"ended":"words"}` before closing.
//! A logout (through any node) ends the terminals the browser session opened.

use crate::error::WebError;
use crate::login::client_of;
use crate::port::{TermIn, TermOut, TerminalIo, TerminalRequest};
use crate::{now_ms, Web};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{Extensions, HeaderMap};
use axum::response::Response;
use portunus_model::{Command, WebSessionHash};
use serde::Deserialize;
use serde_json::json;

#[derive(Deserialize)]
pub(crate) struct Ask {
    host: u64,
    account: u64,
    cols: Option<u32>,
    rows: Option<u32>,
    csrf: Option<String>,
}

/// Terminal sizes are kept within what a screen may show.
fn size(v: Option<u32>, default: u32) -> u32 {
    v.unwrap_or(default).clamp(10, 1000)
}

/// `GET /web/api/terminal`: checks the session, its CSRF token and the origin (browsers send
/// one with every WebSocket, and no CORS rule guards WebSockets), then upgrades.
pub(crate) async fn upgrade(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Query(ask): Query<Ask>,
    ws: WebSocketUpgrade,
) -> Result<Response, WebError> {
    let authed = web.websocket_user(&headers, ask.csrf.as_deref()).await?;
    let request = TerminalRequest {
        user_id: authed.user_id,
        user_name: authed.user_name,
        host_id: ask.host,
        account_id: ask.account,
        cols: size(ask.cols, 80),
        rows: size(ask.rows, 24),
        client: client_of(&ext),
    };
    let session = authed.hash;
    Ok(ws.on_upgrade(move |socket| serve(web, socket, request, session)))
}

/// Words shown when the browser session ends (a logout, perhaps in another tab or through
/// another node, or its maximum age) while the terminal runs.
pub(crate) const LOGGED_OUT: &str = "session ended: your portal session ended (you logged out)";

/// Resolves when the browser session `hash` no longer serves, checked every second on this
/// node's state (which every logout reaches through the log). While the terminal runs it keeps
/// the browser session in use, as requests do, so typing in a terminal does not let the portal
/// session idle out (the shell's own idle timeout is the gateway's).
pub(crate) async fn logged_out(web: &Web, hash: &WebSessionHash) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tick.tick().await;
        let (mut live, mut touch) = (false, false);
        let now = now_ms();
        web.backend.read(&mut |s| {
            if let Some(w) = s
                .web_session(hash, now)
                .filter(|w| !w.second_factor_pending)
            {
                (live, touch) = (true, w.wants_touch(now));
            }
        });
        if !live {
            return;
        }
        if touch {
            let _ = web
                .propose(Command::TouchWebSession {
                    session_hash: *hash,
                })
                .await;
        }
    }
}

async fn serve(web: Web, mut socket: WebSocket, request: TerminalRequest, session: WebSessionHash) {
    let user = request.user_name.clone();
    let io = match web.gate.open_terminal(request).await {
        Ok(io) => io,
        Err(refusal) => {
            tracing::info!(%user, reason = %refusal, "web: terminal refused");
            let _ = end(&mut socket, &refusal.message).await;
            return;
        }
    };
    tracing::info!(%user, session_id = io.session_id, "web: terminal opened");
    let opened = json!({ "opened": io.session_id }).to_string();
    if socket.send(Message::Text(opened.into())).await.is_ok() {
        relay(socket, io, logged_out(&web, &session)).await;
    }
}

/// Tells the page why the terminal ended, and closes.
pub(crate) async fn end(socket: &mut WebSocket, words: &str) -> Result<(), axum::Error> {
    let ended = json!({ "ended": words }).to_string();
    socket.send(Message::Text(ended.into())).await?;
    socket.send(Message::Close(None)).await
}

/// The page's resize message.
fn resize(text: &str) -> Option<TermIn> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let r = v.get("resize")?.as_array()?;
    let dim = |i: usize| r.get(i)?.as_u64().and_then(|n| u32::try_from(n).ok());
    Some(TermIn::Resize {
        cols: size(dim(0), 80),
        rows: size(dim(1), 24),
    })
}

/// Moves bytes until either side ends, or `logout` resolves. Dropping `io.input` (the page
/// went away, the user logged out) ends the shell.
async fn relay(
    mut socket: WebSocket,
    mut io: TerminalIo,
    logout: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(logout);
    loop {
        tokio::select! {
            () = &mut logout => {
                let _ = end(&mut socket, LOGGED_OUT).await;
                return;
            }
            from_page = socket.recv() => {
                let input = match from_page {
                    Some(Ok(Message::Binary(b))) => TermIn::Data(b.to_vec()),
                    Some(Ok(Message::Text(t))) => match resize(t.as_str()) {
                        Some(r) => r,
                        None => continue,
                    },
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                };
                if io.input.send(input).await.is_err() {
                    // The shell ended: its words are waiting in `output`.
                    continue;
                }
            }
            from_target = io.output.recv() => match from_target {
                Some(TermOut::Data(bytes)) => {
                    if socket.send(Message::Binary(bytes.into())).await.is_err() {
                        return;
                    }
                }
                Some(TermOut::Ended(words)) => {
                    let _ = end(&mut socket, &words).await;
                    return;
                }
                None => {
                    let _ = end(&mut socket, "session ended").await;
                    return;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_messages_are_read_and_bounded() {
        assert_eq!(
            resize(r#"{"resize":[120,40]}"#),
            Some(TermIn::Resize {
                cols: 120,
                rows: 40
            })
        );
        assert_eq!(
            resize(r#"{"resize":[0,99999]}"#),
            Some(TermIn::Resize {
                cols: 10,
                rows: 1000
            })
        );
        assert_eq!(resize("not json"), None);
        assert_eq!(resize(r#"{"other":1}"#), None);
    }
}
