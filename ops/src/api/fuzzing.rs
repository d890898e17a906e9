//! Entry points that feed arbitrary input to the API, for the fuzz targets (`fuzz/`,
//! `scripts/fuzz.sh`) and for the randomized run with the unit tests: the signature's parts
//! (the `Authorization` header, the canonical query, the date), and whole signed calls of every
//! action with arbitrary parameters, answered by the router over the development fake. A call
//! may be refused, never answered with an unexpected error (500) or anything but a JSON
//! document, and nothing may panic.

use super::fake::FakeBackend;
use super::{actions, api_router, sign};
use crate::client::{sign_request, Credentials};
use crate::Metrics;
use axum::body::{to_bytes, Body};
use axum::http::{Method, Request};
use axum::Router;
use portunus_db::fuzzing::split;
use portunus_model::Role;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// The signature's parts parsed from arbitrary text.
pub fn signature(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = sign::parse_authorization(&text);
    let _ = sign::canonical_query(&text);
    let _ = sign::parse_acs_date(&text);
}

/// The router over one fake state that every call changes (so later calls meet what earlier
/// ones created), and a runtime to call it on.
struct Harness {
    runtime: tokio::runtime::Runtime,
    router: Router,
    nonce: AtomicU64,
}

/// Calls made over one fake state before a fresh one: every correctly signed call records its
/// nonce, refused ones included, and one key holds at most 25,000 at a time (then it is answered
/// `Throttling`), which would leave a long run's later calls refused before their handlers.
const CALLS_PER_HARNESS: u64 = 10_000;

fn harness() -> Arc<Harness> {
    static HARNESS: Mutex<Option<Arc<Harness>>> = Mutex::new(None);
    let mut slot = HARNESS.lock().unwrap_or_else(|p| p.into_inner());
    match &*slot {
        Some(h) if h.nonce.load(Ordering::Relaxed) < CALLS_PER_HARNESS => h.clone(),
        _ => {
            let backend = Arc::new(FakeBackend::new("portunus-fuzz"));
            backend.add_access_key("admin", "admin-secret", Role::Admin, None);
            let fresh = Arc::new(Harness {
                runtime: tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime"),
                router: api_router(backend, Arc::new(Metrics::new())),
                nonce: AtomicU64::new(0),
            });
            *slot = Some(fresh.clone());
            fresh
        }
    }
}

/// A signed call with the Admin key: the input's first byte picks the action among those the
/// API serves; the rest, cut at each `0xff 0x00`, gives the parameters, each a parameter the
/// action declares (picked by the piece's first byte when below 0x80) with the rest of the
/// piece as its value, or else the piece as `Name=Value`.
pub fn api_call(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let all: Vec<_> = actions::all().collect();
    let action = all[usize::from(pick) % all.len()];
    let mut params: Vec<(String, String)> = Vec::new();
    for piece in split(rest) {
        let declared = match piece.first() {
            Some(&b) if b < 0x80 && !action.params.is_empty() => {
                Some(action.params[usize::from(b) % action.params.len()].name)
            }
            _ => None,
        };
        let (name, value) = match declared {
            Some(name) => (
                name.to_string(),
                String::from_utf8_lossy(&piece[1..]).into_owned(),
            ),
            None => {
                let text = String::from_utf8_lossy(piece);
                match text.split_once('=') {
                    Some((n, v)) => (n.to_string(), v.to_string()),
                    None => (text.into_owned(), String::new()),
                }
            }
        };
        params.push((name, value));
    }
    let h = harness();
    let creds = Credentials {
        access_key_id: "admin".into(),
        access_key_secret: "admin-secret".into(),
    };
    let nonce = format!("{:032x}", h.nonce.fetch_add(1, Ordering::Relaxed));
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let now = crate::client::now_ms();
    let Ok(signed) = sign_request(&creds, "api.test", action.name, &pairs, now, &nonce) else {
        return;
    };
    let mut request = Request::builder()
        .method(Method::POST)
        .uri(format!("/?{}", signed.query));
    for (k, v) in &signed.headers {
        request = request.header(k.as_str(), v.as_str());
    }
    let request = request.body(Body::empty()).expect("a request");
    let (status, body) = h.runtime.block_on(async {
        let answer = h.router.clone().oneshot(request).await.expect("infallible");
        let status = answer.status().as_u16();
        let body = to_bytes(answer.into_body(), usize::MAX)
            .await
            .expect("the answer's body");
        (status, body)
    });
    let parsed: Result<serde_json::Value, _> = serde_json::from_slice(&body);
    assert!(
        parsed.is_ok(),
        "{} {params:?}: answered {status} with a body that is not JSON: {}",
        action.name,
        String::from_utf8_lossy(&body)
    );
    assert_ne!(
        status,
        500,
        "{} {params:?}: an unexpected error: {}",
        action.name,
        String::from_utf8_lossy(&body)
    );
}

#[cfg(test)]
mod tests {
    use portunus_db::fuzzing::mutations;

    fn seeds() -> Vec<Vec<u8>> {
        let mut seeds = vec![
            b"ACS3-HMAC-SHA256 Credential=admin,SignedHeaders=host;x-acs-action,Signature=00ff"
                .to_vec(),
            b"A%3D%26B=1&HostIds=%5B%221%22%5D&Tag.1.Key=k".to_vec(),
            b"2026-12-02T18:00:00Z".to_vec(),
        ];
        // A call of each action with a few of its parameters given plausible values.
        for pick in 0..=255u8 {
            let mut call = vec![pick];
            for (i, value) in [&b"1"[..], b"[\"1\",\"2\"]", b"web-01", b"true", b"0"]
                .iter()
                .enumerate()
            {
                call.push(i as u8);
                call.extend_from_slice(value);
                call.extend_from_slice(&[0xff, 0x00]);
            }
            seeds.push(call);
        }
        seeds
    }

    #[test]
    fn the_api_survives_random_and_mutated_calls() {
        let targets: [fn(&[u8]); 2] = [super::signature, super::api_call];
        for data in mutations(&seeds(), 0xa1b2_c3d4_0bad_cafe, 6_000) {
            for target in targets {
                target(&data);
            }
        }
    }
}
