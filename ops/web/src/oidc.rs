//! OpenID Connect single sign-on of the console and portal: the authorization code flow with
//! PKCE (S256), `state` and `nonce` (OpenID Connect Core 3.1). `GET /web/api/oidc/login` sends
//! the browser to the provider with a sealed, short-lived cookie holding the login's state,
//! nonce and code verifier (sealed with the cluster's key, so the callback may reach any
//! node); `GET /web/api/oidc/callback` checks the state, exchanges the code, verifies the ID
//! token (`jwt`) and opens a browser session for the user its claim names, with the checks a
//! key login gets (the user's lock and validity, the second factor when due). The SSH gateway
//! keeps its own credentials and tokens.

mod fetch;
mod jwt;

use crate::cookie;
use crate::error::WebError;
use crate::login::client_of;
use crate::port::RefusalKind;
use crate::{now_ms, Web};
use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use base64::Engine;
use portunus_model::{Command, NewUser, OidcSettings, Sealed, UserSource};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The pending login's cookie: this prefix and the first characters of the login's state, so
/// that logins begun in two tabs do not overwrite each other's.
const COOKIE: &str = "portunus_sso_";
/// Characters of the state in the cookie's name.
const TAG: usize = 16;
/// How long a login at the provider may take.
const LOGIN_SECS: u64 = 600;
/// How long the provider's discovery document is kept.
const DISCOVERY_TTL: Duration = Duration::from_secs(600);
/// The key set is fetched again for an unknown key at most this often.
const JWKS_REFETCH: Duration = Duration::from_secs(30);
/// The sealing purpose of the pending login's cookie.
pub(crate) const PURPOSE: &str = "web single sign-on login";
/// Where the provider sends the browser back.
pub(crate) const CALLBACK: &str = "/web/api/oidc/callback";

/// What the node keeps of the provider.
#[derive(Default)]
pub(crate) struct Cache {
    provider: tokio::sync::Mutex<Option<Provider>>,
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    fetched: Instant,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    /// `id_token_signing_alg_values_supported`.
    algs: Option<Vec<String>>,
    /// `token_endpoint_auth_methods_supported` (default client_secret_basic).
    auth_methods: Vec<String>,
    jwks: Value,
    jwks_fetched: Instant,
}

/// A login begun here: what the callback checks.
#[derive(Serialize, Deserialize)]
pub(crate) struct Pending {
    pub issuer: String,
    pub client_id: String,
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub redirect_uri: String,
    /// `console` or `portal`.
    pub to: String,
    pub created_ms: u64,
}

/// Why a single sign-on failed: the status and the words shown.
struct Failed(StatusCode, String);

fn failed(status: StatusCode, why: impl Into<String>) -> Failed {
    Failed(status, why.into())
}

fn bad_gateway(why: impl Into<String>) -> Failed {
    failed(StatusCode::BAD_GATEWAY, why)
}

fn denied(why: impl Into<String>) -> Failed {
    failed(StatusCode::UNAUTHORIZED, why)
}

fn strings(v: &Value, name: &str) -> Option<Vec<String>> {
    v.get(name)?.as_array().map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    })
}

fn random() -> Result<String, Failed> {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw)
        .map_err(|_| failed(StatusCode::INTERNAL_SERVER_ERROR, "no random bytes"))?;
    Ok(B64.encode(raw))
}

fn s256(verifier: &str) -> String {
    B64.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        verifier.as_bytes(),
    ))
}

impl Web {
    fn oidc_settings(&self) -> Result<OidcSettings, Failed> {
        let mut found = None;
        self.backend
            .read(&mut |s| found = s.oidc_settings().cloned());
        found.filter(|o| o.enabled).ok_or_else(|| {
            failed(
                StatusCode::NOT_FOUND,
                "single sign-on is not set up on this bastion (ModifyInstanceOIDCAuthServer); \
                 log in with your user name and password",
            )
        })
    }

    fn oidc_tls(&self) -> Result<&Arc<rustls::ClientConfig>, Failed> {
        self.config.oidc_tls.as_ref().ok_or_else(|| {
            bad_gateway(
                "this node has no CA bundle to check the provider's certificate with \
                 (--oidc-ca)",
            )
        })
    }

    /// The provider's endpoints and keys, from the cache or its discovery document.
    async fn provider(&self, issuer: &str) -> Result<Provider, Failed> {
        // The lock is never held across a fetch: a provider that is slow or down must not
        // queue every login behind one request.
        let cached = self.oidc.provider.lock().await.clone();
        if let Some(p) =
            cached.filter(|p| p.issuer == issuer && p.fetched.elapsed() < DISCOVERY_TTL)
        {
            return Ok(p);
        }
        let tls = self.oidc_tls()?;
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let doc = get(tls, &url, "discovery document").await?;
        let named = doc.get("issuer").and_then(Value::as_str);
        if named != Some(issuer) {
            return Err(bad_gateway(format!(
                "the provider's discovery document names the issuer {named:?}, not the \
                 configured {issuer:?}"
            )));
        }
        let endpoint = |name: &str| {
            doc.get(name)
                .and_then(Value::as_str)
                .filter(|u| fetch::Url::parse(u).is_ok())
                .map(str::to_string)
                .ok_or_else(|| {
                    bad_gateway(format!(
                        "the provider's discovery document has no https {name}"
                    ))
                })
        };
        let jwks_uri = endpoint("jwks_uri")?;
        let jwks = get(tls, &jwks_uri, "key set").await?;
        let p = Provider {
            issuer: issuer.to_string(),
            fetched: Instant::now(),
            authorization_endpoint: endpoint("authorization_endpoint")?,
            token_endpoint: endpoint("token_endpoint")?,
            jwks_uri,
            algs: strings(&doc, "id_token_signing_alg_values_supported"),
            auth_methods: strings(&doc, "token_endpoint_auth_methods_supported")
                .unwrap_or_else(|| vec!["client_secret_basic".into()]),
            jwks,
            jwks_fetched: Instant::now(),
        };
        *self.oidc.provider.lock().await = Some(p.clone());
        Ok(p)
    }

    /// The key set again (the provider rotated its keys), at most every 30 s.
    async fn refetch_keys(&self, mut p: Provider) -> Result<Provider, Failed> {
        if p.jwks_fetched.elapsed() < JWKS_REFETCH {
            return Ok(p);
        }
        p.jwks = get(self.oidc_tls()?, &p.jwks_uri, "key set").await?;
        p.jwks_fetched = Instant::now();
        *self.oidc.provider.lock().await = Some(p.clone());
        Ok(p)
    }
}

async fn get(tls: &Arc<rustls::ClientConfig>, url: &str, what: &str) -> Result<Value, Failed> {
    let req = fetch::Request {
        url,
        form: None,
        authorization: None,
    };
    match fetch::json(tls, req).await {
        Ok((200, v)) => Ok(v),
        Ok((status, _)) => Err(bad_gateway(format!(
            "the provider's {what} ({url}) answered HTTP {status}"
        ))),
        Err(why) => Err(bad_gateway(format!(
            "the provider's {what} cannot be read: {why}"
        ))),
    }
}

/// The browser's address for this bastion, from its `Host` header.
fn base_url(web: &Web, headers: &HeaderMap) -> Result<String, Failed> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
        .ok_or_else(|| failed(StatusCode::BAD_REQUEST, "the request names no usable Host"))?;
    let scheme = if web.config.tls { "https" } else { "http" };
    Ok(format!("{scheme}://{host}"))
}

/// The cookie-name tag of a login's `state` (None for a state this bastion did not make).
fn tag(state: &str) -> Option<&str> {
    let ok = state.len() >= TAG
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| &state[..TAG])
}

fn pending_cookie(tag: &str, value: &str, web: &Web, max_age: u64) -> String {
    let secure = if web.config.tls { "; Secure" } else { "" };
    // Lax: the provider's redirect back is a cross-site navigation.
    format!(
        "{COOKIE}{tag}={value}; Path=/web/api/oidc; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
    )
}

fn pending_of(headers: &HeaderMap, tag: &str) -> Option<String> {
    cookie::named(headers, &format!("{COOKIE}{tag}"))
}

/// `GET /web/api/oidc/config`: whether the login page offers single sign-on, and its words.
pub(crate) async fn config(State(web): State<Web>) -> Json<Value> {
    match web.oidc_settings() {
        Ok(o) => Json(json!({
            "enabled": true,
            "name": if o.display_name.is_empty() { "single sign-on".to_string() } else { o.display_name },
        })),
        Err(_) => Json(json!({ "enabled": false })),
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    to: Option<String>,
}

/// `GET /web/api/oidc/login?to=console|portal`: off to the provider.
pub(crate) async fn login(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    match begin(&web, &headers, q.to.as_deref()).await {
        Ok(r) => r,
        Err(f) => page(f, None),
    }
}

async fn begin(web: &Web, headers: &HeaderMap, to: Option<&str>) -> Result<Response, Failed> {
    let o = web.oidc_settings()?;
    let p = web.provider(&o.issuer).await?;
    let pending = Pending {
        issuer: o.issuer.clone(),
        client_id: o.client_id.clone(),
        state: random()?,
        nonce: random()?,
        verifier: random()?,
        redirect_uri: format!("{}{CALLBACK}", base_url(web, headers)?),
        to: if to == Some("console") {
            "console"
        } else {
            "portal"
        }
        .into(),
        created_ms: now_ms(),
    };
    let scope = format!("openid {}", o.scopes);
    let query = fetch::form(&[
        ("response_type", "code"),
        ("client_id", &o.client_id),
        ("redirect_uri", &pending.redirect_uri),
        ("scope", scope.trim()),
        ("state", &pending.state),
        ("nonce", &pending.nonce),
        ("code_challenge", &s256(&pending.verifier)),
        ("code_challenge_method", "S256"),
    ]);
    let join = if p.authorization_endpoint.contains('?') {
        '&'
    } else {
        '?'
    };
    let to_provider = format!("{}{join}{query}", p.authorization_endpoint);
    let plain = serde_json::to_vec(&pending)
        .map_err(|_| failed(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode the login"))?;
    let sealed = web.backend.seal(PURPOSE, &plain).map_err(|e| {
        failed(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the login cannot be sealed on this node: {e}"),
        )
    })?;
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::LOCATION, to_provider),
            (
                header::SET_COOKIE,
                pending_cookie(
                    tag(&pending.state).unwrap_or_default(),
                    &B64.encode(&sealed.0),
                    web,
                    LOGIN_SECS,
                ),
            ),
            (header::CACHE_CONTROL, "no-store".into()),
        ],
    )
        .into_response())
}

/// `GET /web/api/oidc/callback`: the provider's answer.
pub(crate) async fn callback(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let client = client_of(&ext);
    match finish(&web, &headers, &q, client).await {
        Ok(r) => r,
        Err(f) => {
            tracing::warn!(%client, why = %f.1, "web: single sign-on refused");
            web.gate.sso_refused(&f.1, client);
            let clear = q
                .get("state")
                .and_then(|s| tag(s))
                .map(|t| pending_cookie(t, "", &web, 0));
            page(f, clear)
        }
    }
}

/// The pending login of the browser, unsealed and checked against the answer's `state`.
fn pending(web: &Web, headers: &HeaderMap, state: Option<&str>) -> Result<Pending, Failed> {
    let restart = "this login was not started in this browser, or took longer than 10 minutes; \
                   start again from the login page";
    let tag = state.and_then(tag).ok_or_else(|| denied(restart))?;
    let raw = pending_of(headers, tag).ok_or_else(|| denied(restart))?;
    let sealed = B64.decode(raw).map_err(|_| denied(restart))?;
    let plain = web
        .backend
        .unseal(PURPOSE, &Sealed(sealed))
        .map_err(|_| denied(restart))?;
    let p: Pending = serde_json::from_slice(&plain).map_err(|_| denied(restart))?;
    if now_ms().saturating_sub(p.created_ms) > LOGIN_SECS * 1000 {
        return Err(denied(restart));
    }
    let same = state.is_some_and(|s| {
        aws_lc_rs::constant_time::verify_slices_are_equal(s.as_bytes(), p.state.as_bytes()).is_ok()
    });
    if !same {
        return Err(denied(
            "the provider's answer does not belong to this login (its state differs); start \
             again from the login page",
        ));
    }
    Ok(p)
}

async fn finish(
    web: &Web,
    headers: &HeaderMap,
    q: &BTreeMap<String, String>,
    client: SocketAddr,
) -> Result<Response, Failed> {
    let pending = pending(web, headers, q.get("state").map(String::as_str))?;
    if let Some(error) = q.get("error") {
        let more = q
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(denied(format!(
            "the provider refused the login ({error}{more})"
        )));
    }
    let code = q
        .get("code")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| denied("the provider's answer carries no code"))?;
    let o = web.oidc_settings()?;
    if o.issuer != pending.issuer || o.client_id != pending.client_id {
        return Err(denied(
            "single sign-on was reconfigured during this login; start again",
        ));
    }
    let mut p = web.provider(&o.issuer).await?;
    let id_token = exchange(web, &o, &p, code, &pending).await?;
    let parsed = jwt::parse(&id_token).map_err(|e| denied(e.to_string()))?;
    if !jwt::has_key_for(&p.jwks, &parsed) {
        p = web.refetch_keys(p).await?;
    }
    let expect = jwt::Expect {
        issuer: &o.issuer,
        client_id: &o.client_id,
        nonce: &pending.nonce,
        now: now_ms() / 1000,
    };
    let claims = jwt::verify(parsed, &p.jwks, p.algs.as_deref(), &expect)
        .map_err(|e| denied(e.to_string()))?;
    let name = claims
        .get(o.claim())
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            denied(format!(
                "the ID token has no {:?} claim naming a bastion user (UserClaim)",
                o.claim()
            ))
        })?
        .to_string();
    if o.claim() == "email" && claims.get("email_verified").and_then(Value::as_bool) != Some(true) {
        return Err(denied(
            "the provider does not say the e-mail address naming the user is verified \
             (email_verified)",
        ));
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| denied("the ID token has no subject (sub)"))?;
    ensure_user(web, &o, &name, sub, &claims).await?;
    let checked = web.gate.sso_login(&name, client).await.map_err(|r| {
        let status = match r.kind {
            RefusalKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            RefusalKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        };
        failed(status, r.message)
    })?;
    let value = cookie::fresh()
        .ok_or_else(|| failed(StatusCode::INTERNAL_SERVER_ERROR, "no random bytes"))?;
    let open = Command::OpenWebSession {
        session_hash: cookie::hash(&value),
        user_id: checked.user_id,
        client_addr: client.to_string(),
        second_factor_pending: checked.second_factor,
    };
    web.propose(open).await.map_err(|e| {
        failed(
            StatusCode::SERVICE_UNAVAILABLE,
            WebError::from(e).to_string(),
        )
    })?;
    tracing::info!(user = %checked.user_name, %client, issuer = %o.issuer, second_factor = checked.second_factor, "web: single sign-on accepted");
    let to = if pending.to == "console" {
        "/web/console/"
    } else {
        "/web/"
    };
    let mut r = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store")],
    )
        .into_response();
    let h = r.headers_mut();
    for c in [
        cookie::set(&value, web.config.tls),
        pending_cookie(tag(&pending.state).unwrap_or_default(), "", web, 0),
    ] {
        if let Ok(v) = c.parse() {
            h.append(header::SET_COOKIE, v);
        }
    }
    Ok(r)
}

/// The code exchanged for tokens at the provider; the ID token.
async fn exchange(
    web: &Web,
    o: &OidcSettings,
    p: &Provider,
    code: &str,
    pending: &Pending,
) -> Result<String, Failed> {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", pending.redirect_uri.as_str()),
        ("code_verifier", pending.verifier.as_str()),
        ("client_id", o.client_id.as_str()),
    ];
    let secret = match &o.client_secret {
        Some(sealed) => {
            let plain = web
                .backend
                .unseal(portunus_model::seal_purpose::OIDC_CLIENT_SECRET, sealed)
                .map_err(|e| {
                    bad_gateway(format!("the client secret cannot be unsealed here: {e}"))
                })?;
            Some(String::from_utf8_lossy(&plain).into_owned())
        }
        None => None,
    };
    let basic = p.auth_methods.iter().any(|m| m == "client_secret_basic");
    let mut authorization = None;
    if let Some(secret) = &secret {
        if basic {
            let pair = format!("{}:{}", fetch::encode(&o.client_id), fetch::encode(secret));
            authorization = Some(format!("Basic {}", STANDARD.encode(pair)));
        } else {
            pairs.push(("client_secret", secret.as_str()));
        }
    }
    let req = fetch::Request {
        url: &p.token_endpoint,
        form: Some(fetch::form(&pairs)),
        authorization,
    };
    let (status, answer) = fetch::json(web.oidc_tls()?, req)
        .await
        .map_err(|why| bad_gateway(format!("the provider's token endpoint: {why}")))?;
    if status != 200 {
        let error = answer.get("error").and_then(Value::as_str).unwrap_or("?");
        let more = answer
            .get("error_description")
            .and_then(Value::as_str)
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        return Err(denied(format!(
            "the provider did not take the code (HTTP {status}, {error}{more})"
        )));
    }
    answer
        .get("id_token")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| denied("the provider's token answer has no ID token"))
}

/// The user `name` exists, or is created when the settings say so.
/// A user the provider created (source IDaaS, with the subject it had then) is that subject's
/// alone: a later account at the provider that takes the same name (a rename, a reused name)
/// is refused.
async fn ensure_user(
    web: &Web,
    o: &OidcSettings,
    name: &str,
    sub: &str,
    claims: &serde_json::Map<String, Value>,
) -> Result<(), Failed> {
    let mut found = None;
    web.backend.read(&mut |s| {
        found = s
            .user_by_name(name)
            .map(|u| (u.source, u.source_user_id.clone()))
    });
    if let Some((source, subject)) = found {
        if source == UserSource::Idaas && !subject.is_empty() && subject != sub {
            return Err(denied(format!(
                "the bastion user {name:?} belongs to another account of the provider (subject \
                 {subject:?}, not {sub:?}); an administrator resolves it"
            )));
        }
        return Ok(());
    }
    if !o.auto_create {
        return Err(denied(format!(
            "no bastion user is named {name:?} (the provider's {} claim); an administrator \
             creates it (automatic creation is off)",
            o.claim()
        )));
    }
    let text = |k: &str| {
        claims
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let email_verified = claims.get("email_verified").and_then(Value::as_bool) != Some(false);
    let user = NewUser {
        name: name.to_string(),
        display_name: text("name"),
        email: if email_verified {
            text("email")
        } else {
            String::new()
        },
        source: UserSource::Idaas,
        source_user_id: sub.to_string(),
        comment: format!("created at its first single sign-on through {}", o.issuer),
        ..Default::default()
    };
    match web.propose(Command::CreateUser(user)).await {
        Ok(_) => {
            tracing::info!(user = name, issuer = %o.issuer, "web: user created at its first single sign-on");
            Ok(())
        }
        // Created meanwhile by a login on another node: it exists now.
        Err(portunus_ops::BackendError::Rejected(portunus_model::Rejection::AlreadyExists {
            ..
        })) => Ok(()),
        Err(e) => Err(failed(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the user cannot be created: {}", WebError::from(e)),
        )),
    }
}

/// The page shown when single sign-on fails: what went wrong, and the way back.
fn page(f: Failed, clear: Option<String>) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Single sign-on \
         failed</title><link rel=\"stylesheet\" href=\"/web/app.css\"></head><body><main \
         class=\"card\"><h1>Single sign-on failed</h1><p id=\"sso-error\">{}</p><p><a \
         href=\"/web/\">Back to the login page</a></p></main></body></html>",
        crate::assets::escape(&f.1)
    );
    let mut r = (f.0, Html(body)).into_response();
    if let Some(v) = clear.and_then(|c| c.parse().ok()) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
