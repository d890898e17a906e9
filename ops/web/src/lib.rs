//! The web portal, served by every engine on its API port beside the Bastionhost API: browser
//! login (password, then the TOTP code when due, with the same checks as SSH logins), the
//! engineers' O&M portal (authorized hosts and databases, O&M tokens with the client SSH tunnel
//! configuration) and the web terminal (xterm.js over a WebSocket to the SSH gateway's path);
//! and the administrator console (`/web/console/`, see `console.rs`): assets, users,
//! authorization, overview and session audit with replay, every action the API's own.
//!
//! Browser sessions are replicated state (`portunus_model::web_session`), so that any node
//! behind the load balancer accepts the cookie and a logout or a lock takes effect on all of
//! them. The pages, our script and the vendored libraries (`vendor/`, written by
//! `scripts/vendor-web.sh`) are embedded in the binary. The crate reaches the node through two
//! ports: `portunus_ops::Backend` (the replicated state) and [`WebGate`] (logins, terminals).

mod assets;
mod console;
mod cookie;
mod error;
mod keys;
mod launch;
mod login;
mod oidc;
mod port;
mod portal;
mod session;
mod sql;
mod terminal;
#[cfg(test)]
mod tests;

pub use error::WebError;
pub use port::{
    LiveOutput, PasswordChecked, Recording, RefusalKind, Secret, SqlAnswer, SqlConsole, SqlError,
    SqlGrid, SqlRequest, SqlRunner, TermIn, TermOut, TerminalIo, TerminalRequest, WebGate,
    WebRefusal,
};

use axum::routing::{get, post};
use axum::Router;
use portunus_ops::Backend;
use std::sync::Arc;

/// How the portal is served.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// The API port speaks TLS: cookies are marked `Secure`.
    pub tls: bool,
    /// The trust for OpenID providers' certificates (single sign-on); None when the node has
    /// none (a login through the provider then says so).
    pub oidc_tls: Option<Arc<rustls::ClientConfig>>,
}

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct Web {
    pub backend: Arc<dyn Backend>,
    pub gate: Arc<dyn WebGate>,
    pub config: WebConfig,
    /// The OpenID provider's endpoints and keys, as last read.
    pub oidc: Arc<oidc::Cache>,
}

impl Web {
    /// Proposes a command; a refusal by the state machine is an error, however the backend
    /// reports it.
    pub(crate) async fn propose(
        &self,
        command: portunus_model::Command,
    ) -> Result<portunus_model::Response, portunus_ops::BackendError> {
        let answer = self.backend.propose(command).await?;
        answer.into_result().map_err(Into::into)
    }
}

/// The portal's routes, all under `/web`.
pub fn web_router(backend: Arc<dyn Backend>, gate: Arc<dyn WebGate>, config: WebConfig) -> Router {
    let web = Web {
        backend,
        gate,
        config,
        oidc: Arc::default(),
    };
    Router::new()
        .route("/web/api/login", post(login::password))
        .route("/web/api/login/code", post(login::code))
        .route("/web/api/logout", post(login::logout))
        .route("/web/api/me", get(login::me))
        .route("/web/api/oidc/config", get(oidc::config))
        .route("/web/api/oidc/login", get(oidc::login))
        .route(oidc::CALLBACK, get(oidc::callback))
        .route("/web/api/assets", get(portal::assets))
        .route("/web/api/tokens", post(portal::token))
        .route("/web/api/tokens/{id}/renew", post(portal::renew))
        .route("/web/api/launch", post(launch::launch))
        .route("/web/api/keys", get(keys::list).post(keys::create))
        .route("/web/api/keys/{id}/delete", post(keys::delete))
        .route("/web/api/terminal", get(terminal::upgrade))
        .route("/web/api/sql", get(sql::upgrade))
        .route("/web/console/", get(console::page))
        .route(
            "/web/console",
            get(|| async { axum::response::Redirect::to("/web/console/") }),
        )
        .route("/web/api/console/me", get(console::me))
        .route("/web/api/console/call", post(console::call))
        .route("/web/api/console/overview", get(console::overview))
        .route("/web/api/console/sessions/export", get(console::export))
        .route(
            "/web/api/console/sessions/{id}/recording",
            get(console::recording),
        )
        .route("/web/api/console/sessions/{id}/live", get(console::live))
        .with_state(web)
        .merge(assets::router())
        .layer(axum::middleware::map_request(host_from_authority))
}

/// HTTP/2 requests name their host in the `:authority` pseudo-header, not in `Host`: it is
/// copied there, so that the origin checks and the O&M address see it either way.
async fn host_from_authority(mut req: axum::extract::Request) -> axum::extract::Request {
    if !req.headers().contains_key(axum::http::header::HOST) {
        let authority = req.uri().authority().map(|a| a.as_str().to_owned());
        if let Some(value) = authority.and_then(|a| axum::http::HeaderValue::from_str(&a).ok()) {
            req.headers_mut().insert(axum::http::header::HOST, value);
        }
    }
    req
}

/// Milliseconds since the epoch on this node's clock.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
