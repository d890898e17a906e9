//! The Bastionhost-compatible management API (version 2019-12-09, RPC style): `POST /` or
//! `GET /` with `x-acs-action` (or `Action`), parameters in the query string or a form body,
//! signed with ACS3-HMAC-SHA256; plus `GET /openapi.json` describing the served actions.

mod actions;
mod auth;
mod call;
mod delegated;
mod error;
#[cfg(any(test, feature = "test-util"))]
pub mod fake;
mod fold;
#[cfg(any(test, feature = "test-util"))]
#[doc(hidden)]
pub mod fuzzing;
mod nonce;
mod openapi;
mod params;
mod sdk_actions;
pub(crate) mod sign;
mod table;
#[cfg(test)]
mod tests;
pub(crate) mod throttle_log;
mod trail;
mod views;

/// The API's view of a session (`ListSessions`), for other reports of it (the audit export).
pub use actions::sessions::view as session_view;

use crate::limits::CutOff;
use crate::{ApiSettings, Backend, Metrics};
use auth::SignedParts;
use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use call::Call;
use nonce::NonceCache;
use params::Params;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub use actions::tokens::{new_token_for, token_hash, TokenTarget};
pub use auth::{new_access_key, random_text, Caller, ACCESS_KEY_PURPOSE};
pub use error::ApiError;

/// The API version served.
pub const API_VERSION: &str = "2019-12-09";

#[derive(Clone)]
struct Ctx {
    backend: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
    nonces: Arc<NonceCache>,
    limits: Arc<ApiSettings>,
    /// One permit per request receiving a body (`max_bodies_in_flight`).
    bodies: Arc<tokio::sync::Semaphore>,
    /// Warnings about throttled calls.
    throttled: Arc<throttle_log::ThrottleLog>,
}

/// The API router with the default [`ApiSettings`]: see [`api_router_with`].
pub fn api_router(backend: Arc<dyn Backend>, metrics: Arc<Metrics>) -> Router {
    api_router_with(backend, metrics, &ApiSettings::default())
}

/// The API router: `/` (every action) and `/openapi.json`; merge it with
/// [`crate::health_router`]. Request bodies are read within `limits`.
pub fn api_router_with(
    backend: Arc<dyn Backend>,
    metrics: Arc<Metrics>,
    limits: &ApiSettings,
) -> Router {
    let ctx = Ctx {
        backend,
        metrics,
        nonces: Arc::new(NonceCache::new(nonce::DEFAULT_CAPACITY)),
        limits: Arc::new(limits.clone()),
        bodies: Arc::new(tokio::sync::Semaphore::new(limits.max_bodies_in_flight)),
        throttled: Arc::default(),
    };
    Router::new()
        .route("/", any(handle))
        .route("/openapi.json", get(|| async { Json(openapi::document()) }))
        .with_state(ctx)
}

fn now_ms() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A random RFC 4122 version-4 UUID.
pub(crate) fn request_id() -> String {
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        b = now_ms()
            .to_be_bytes()
            .repeat(2)
            .try_into()
            .unwrap_or([0; 16]);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b).to_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

async fn handle(State(ctx): State<Ctx>, req: Request) -> Response {
    let started = Instant::now();
    let rid = request_id();
    let mut route = "unknown";
    let mut caller = None;
    let result = serve(&ctx, req, &mut route, &mut caller).await;
    let (status, body) = match result {
        Ok(mut body) => {
            body.insert("RequestId".into(), rid.clone().into());
            (StatusCode::OK, serde_json::Value::Object(body))
        }
        Err(e) => {
            tracing::debug!(action = route, code = e.code(), "API call failed");
            if e.status() == StatusCode::TOO_MANY_REQUESTS {
                if let Some(unlogged) = ctx.throttled.admit(Instant::now()) {
                    tracing::warn!(
                        access_key_id = caller.as_deref().unwrap_or("-"),
                        action = route,
                        reason = %e,
                        others_since_last_warning = unlogged,
                        "API call throttled"
                    );
                }
            }
            (e.status(), e.body(&rid))
        }
    };
    let labels = [route, status.as_str()];
    ctx.metrics
        .http_requests_total
        .with_label_values(&labels)
        .inc();
    ctx.metrics
        .http_request_seconds
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=utf-8")],
        Json(body),
    )
        .into_response()
}

/// Parses, authenticates, validates, authorizes, records the nonce cluster-wide and runs one
/// call.
async fn serve(
    ctx: &Ctx,
    req: Request,
    route: &mut &'static str,
    who: &mut Option<String>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let source = match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => peer.to_string(),
        None => "unknown".to_string(),
    };
    let (parts, body) = req.into_parts();
    let body = read_body(ctx, &parts.headers, body).await?;
    let raw_query = parts.uri.query().unwrap_or("");
    let params = parse_params(raw_query, &parts.headers, &body)?;
    let name = action_name(&parts.headers, &params)?;
    let action = table::find(&name);
    *route = match action {
        Some(a) => a.name,
        None => match sdk_actions::SDK_ACTIONS.iter().find(|n| **n == name) {
            Some(n) => n,
            None => return Err(ApiError::InvalidAction),
        },
    };
    check_version(&parts.headers, &params)?;
    let now = now_ms();
    let signed = SignedParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        raw_query,
        headers: &parts.headers,
        body: &body,
    };
    let (caller, nonce) = auth::authenticate(ctx.backend.as_ref(), &ctx.nonces, &signed, now)?;
    *who = Some(caller.access_key_id.clone());
    let Some(action) = action else {
        return Err(ApiError::NotSupported(route));
    };
    let admitted = admit(ctx.backend.as_ref(), action, &params, &caller, now).await;
    // Every correctly signed call of a served action writes its nonce, and it does so with the
    // call's first write (see `fold`): a replay to any node is refused there. A call refused
    // here (its parameters, its key's role or scope, the instance) writes it with its entry in
    // the admin audit trail naming the refusal, so that the same request is not tried again on
    // another node (where it might pass once the key may do more) and the trail shows what a key
    // was refused. A check that could not be made (the cluster unavailable) is no refusal: the
    // caller may send the identical request again.
    let done = match admitted {
        Err(e @ (ApiError::Unavailable(_) | ApiError::Internal)) => {
            auth::forget(&ctx.nonces, &nonce);
            return Err(e);
        }
        Ok(()) => {
            execute(
                ctx.backend.clone(),
                action,
                params,
                caller,
                &source,
                now,
                Some(nonce.record()),
            )
            .await
        }
        Err(refusal) => {
            let refused = Err(refusal);
            refuse(
                ctx.backend.clone(),
                action,
                &params,
                &caller,
                &source,
                Some(nonce.record()),
                &refused,
            )
            .await
            .map(|()| refused)
        }
    };
    done.map_err(|stopped| {
        fold::forget_unanswered(&ctx.nonces, &nonce, &stopped);
        ApiError::from(stopped)
    })?
}

/// The checks a call passes before it runs: its parameters against the action's table, the
/// caller's role and delegated scope, the project it names, the instance it names.
async fn admit(
    backend: &dyn Backend,
    action: &'static table::Action,
    params: &Params,
    caller: &Caller,
    now_ms: u64,
) -> Result<(), ApiError> {
    table::validate(action, params)?;
    delegated::authorize(backend, caller, action, params, now_ms).await?;
    delegated::check_project_param(backend, action, params)?;
    if let Some(id) = params.opt("InstanceId") {
        if id != backend.instance_id() {
            return Err(ApiError::InstanceNotFound);
        }
    }
    Ok(())
}

/// Records a call refused before it ran: its nonce (for a signed call) and, for an action that
/// may change the state, its admin audit entry with the refusal, in one log entry. The error
/// says the nonce was refused or had no answer.
async fn refuse(
    backend: Arc<dyn Backend>,
    action: &'static table::Action,
    params: &Params,
    caller: &Caller,
    source: &str,
    nonce: Option<portunus_model::NonceRecord>,
    refused: &Result<serde_json::Map<String, serde_json::Value>, ApiError>,
) -> Result<(), fold::Stopped> {
    let audit = (action.changes_state() && REFUSED_ENTRIES.take(caller, Instant::now()))
        .then(|| trail::entry(action, caller, source, params));
    fold::Folding::new(backend, nonce, audit)
        .finish(refused)
        .await
}

/// Refused changes one caller may leave in the admin audit trail through one node: a burst of
/// this many, then one more per second. Beyond it a refused change gets the same answer (and a
/// signed one still records its nonce) but leaves no entry, and a warning says how many went
/// unrecorded: a key that may change nothing cannot push the trail's older entries out faster.
pub const REFUSED_ENTRIES_BURST: u32 = 60;

static REFUSED_ENTRIES: RefusalBudget = RefusalBudget::new();

/// Token buckets of refused entries by caller (AccessKey, or the console's user).
struct RefusalBudget {
    buckets: std::sync::Mutex<Option<std::collections::HashMap<String, (f64, Instant)>>>,
    unrecorded: throttle_log::ThrottleLog,
}

impl RefusalBudget {
    const fn new() -> Self {
        RefusalBudget {
            buckets: std::sync::Mutex::new(None),
            unrecorded: throttle_log::ThrottleLog::new(),
        }
    }

    /// Takes one refused entry from `caller`'s budget; false (and counted for the warning)
    /// when it is spent.
    fn take(&self, caller: &Caller, now: Instant) -> bool {
        let burst = f64::from(REFUSED_ENTRIES_BURST);
        let who = match caller.user_id {
            Some(user) => format!("{} (user {user})", caller.access_key_id),
            None => caller.access_key_id.clone(),
        };
        let taken = {
            let mut guard = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
            let buckets = guard.get_or_insert_with(Default::default);
            let refill = |(left, at): (f64, Instant)| {
                (left + now.saturating_duration_since(at).as_secs_f64()).min(burst)
            };
            if buckets.len() >= 10_000 {
                // Callers whose budget is whole again need no bucket.
                buckets.retain(|_, b| refill(*b) < burst);
            }
            let bucket = buckets.entry(who.clone()).or_insert((burst, now));
            let left = refill(*bucket);
            *bucket = if left >= 1.0 {
                (left - 1.0, now)
            } else {
                (left, now)
            };
            left >= 1.0
        };
        if !taken {
            if let Some(more) = self.unrecorded.admit(now) {
                tracing::warn!(
                    caller = %who,
                    unrecorded_before = more,
                    "refused changes over the budget of {REFUSED_ENTRIES_BURST} and one a \
                     second are answered but not recorded in the admin audit trail"
                );
            }
        }
        taken
    }
}

/// Runs an authorized call: its writes, its nonce (for a signed call) and its entry in the
/// admin audit trail go to the log folded together (see `fold`). The outer error says the
/// call's nonce was refused or had no answer, which replaces the handler's answer.
async fn execute(
    backend: Arc<dyn Backend>,
    action: &'static table::Action,
    params: Params,
    caller: Caller,
    source: &str,
    now_ms: u64,
    nonce: Option<portunus_model::NonceRecord>,
) -> Result<Result<serde_json::Map<String, serde_json::Value>, ApiError>, fold::Stopped> {
    // Every call that may change the state leaves an entry in the admin audit trail, whatever
    // its outcome (see ARCHITECTURE.md, "Admin audit trail").
    let audit = action
        .changes_state()
        .then(|| trail::entry(action, &caller, source, &params));
    let folding = fold::Folding::new(backend, nonce, audit);
    let call = Call {
        backend: folding.clone(),
        p: params,
        caller,
        now_ms,
    };
    let result = (action.handler)(&call).await;
    folding.finish(&result).await?;
    Ok(result)
}

/// Runs the served action named by `pairs`' `Action` for a caller authenticated otherwise than
/// by a signed request (the web console's browser session, whose page proves its origin with
/// a CSRF token): the same parameter validation, the same role check, the same handler and the
/// same admin audit entry as a signed API call. `source` is the client's address.
pub async fn run_action(
    backend: Arc<dyn Backend>,
    caller: Caller,
    source: &str,
    pairs: Vec<(String, String)>,
) -> Result<serde_json::Map<String, serde_json::Value>, ApiError> {
    let mut params = Params::default();
    params.extend(pairs.into_iter())?;
    let name = params
        .opt("Action")
        .ok_or(ApiError::MissingParameter("Action"))?;
    let action = table::find(name).ok_or(ApiError::InvalidAction)?;
    match admit(backend.as_ref(), action, &params, &caller, now_ms()).await {
        Ok(()) => {}
        Err(e @ (ApiError::Unavailable(_) | ApiError::Internal)) => return Err(e),
        Err(refusal) => {
            // As for a signed call: a refused change is in the admin audit trail.
            let refused = Err(refusal);
            return match refuse(backend, action, &params, &caller, source, None, &refused).await {
                Ok(()) => refused,
                Err(stopped) => Err(stopped.into()),
            };
        }
    }
    execute(backend, action, params, caller, source, now_ms(), None)
        .await
        .unwrap_or_else(|stopped| Err(stopped.into()))
}

/// Reads the request body within the limits: a `Content-Length` over `max_body_bytes` is
/// refused before any byte is read; the body must arrive within `body_timeout_secs`; at most
/// `max_bodies_in_flight` requests receive a body at once.
async fn read_body(ctx: &Ctx, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let limit = ctx.limits.max_body_bytes;
    let cut = |why: CutOff| crate::limits::record_cut(&ctx.metrics, why, None);
    let declared = match headers.get(header::CONTENT_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or_else(|| ApiError::invalid("Content-Length", "not a number of bytes"))?,
        ),
    };
    if let Some(length) = declared.filter(|n| *n > limit as u64) {
        cut(CutOff::BodyTooLarge);
        return Err(ApiError::BodyTooLarge {
            length: Some(length),
            limit,
        });
    }
    if axum::body::HttpBody::size_hint(&body).exact() == Some(0) {
        return Ok(Vec::new());
    }
    let Ok(_permit) = ctx.bodies.try_acquire() else {
        cut(CutOff::BodiesInFlight);
        return Err(ApiError::Unavailable(
            "too many requests are sending a body to this node".into(),
        ));
    };
    match tokio::time::timeout(ctx.limits.body_timeout(), to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(bytes.to_vec()),
        Ok(Err(_)) => {
            cut(CutOff::BodyTooLarge);
            Err(ApiError::BodyTooLarge {
                length: None,
                limit,
            })
        }
        Err(_) => {
            cut(CutOff::BodyTimeout);
            Err(ApiError::BodyTimeout(ctx.limits.body_timeout_secs))
        }
    }
}

fn parse_params(raw_query: &str, headers: &HeaderMap, body: &[u8]) -> Result<Params, ApiError> {
    let mut params = Params::default();
    params
        .extend(form_urlencoded::parse(raw_query.as_bytes()).map(|(k, v)| (k.into(), v.into())))?;
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if is_form {
        params.extend(form_urlencoded::parse(body).map(|(k, v)| (k.into(), v.into())))?;
    }
    Ok(params)
}

fn action_name(headers: &HeaderMap, params: &Params) -> Result<String, ApiError> {
    let from_header = headers.get("x-acs-action").and_then(|v| v.to_str().ok());
    from_header
        .or(params.opt("Action"))
        .map(str::to_string)
        .ok_or(ApiError::MissingParameter("Action"))
}

fn check_version(headers: &HeaderMap, params: &Params) -> Result<(), ApiError> {
    let from_header = headers.get("x-acs-version").and_then(|v| v.to_str().ok());
    match from_header.or(params.opt("Version")) {
        Some(API_VERSION) | None => Ok(()),
        Some(_) => Err(ApiError::InvalidVersion),
    }
}
