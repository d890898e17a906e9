//! The session cookie and its CSRF token. The cookie holds 32 random bytes (hex); the
//! replicated state knows only their SHA-256. The CSRF token is derived from the cookie's value
//! (a different hash), so any node can check it without storing it, and a page that cannot read
//! the cookie (another site) cannot compute it. Requests that change something must carry it in
//! a header (`X-CSRF-Token`) and come from the portal's own origin.

use axum::http::{header, HeaderMap};

/// The cookie's name.
pub(crate) const NAME: &str = "portunus_web";
/// The header carrying the CSRF token.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// A fresh cookie value (64 hex characters); None when no random bytes could be had.
pub(crate) fn fresh() -> Option<String> {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).ok()?;
    Some(hex::encode(raw))
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for p in parts {
        ctx.update(p);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// What the replicated state stores for a cookie value.
pub(crate) fn hash(value: &str) -> [u8; 32] {
    sha256(&[value.as_bytes()])
}

/// The CSRF token of the session whose cookie has `value`.
pub(crate) fn csrf_of(value: &str) -> String {
    hex::encode(sha256(&[b"portunus web csrf\n", value.as_bytes()]))
}

/// Whether `given` is the CSRF token of the cookie `value` (compared in constant time).
pub(crate) fn csrf_matches(given: Option<&str>, value: &str) -> bool {
    let Some(given) = given else {
        return false;
    };
    let expected = csrf_of(value);
    aws_lc_rs::constant_time::verify_slices_are_equal(given.as_bytes(), expected.as_bytes()).is_ok()
}

/// The value of the cookie `name` in a request, if it sent one.
pub(crate) fn named(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

/// The session cookie's value in a request, if it has a well-formed one.
pub(crate) fn from_headers(headers: &HeaderMap) -> Option<String> {
    named(headers, NAME).filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The `Set-Cookie` value that gives the browser its session: not readable by scripts, sent only
/// by the portal's own pages, over TLS only when the portal is served over TLS.
pub(crate) fn set(value: &str, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{NAME}={value}; Path=/web; HttpOnly; SameSite=Strict{secure}")
}

/// The `Set-Cookie` value that removes it.
pub(crate) fn clear(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{NAME}=; Path=/web; Max-Age=0; HttpOnly; SameSite=Strict{secure}")
}

/// Whether a request comes from the portal's own pages: its `Origin` (sent by browsers with
/// every POST and WebSocket) names the host it was sent to, and `Sec-Fetch-Site`, when sent,
/// says same-origin. A request without `Origin` (not a browser's) passes this check; the CSRF
/// token still guards it.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" && site != "none" {
            return false;
        }
    }
    let Some(origin) = text(header::ORIGIN) else {
        return true;
    };
    let Some(host) = text(header::HOST) else {
        return false;
    };
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    origin_host == Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn a_fresh_value_is_random_hex_and_only_its_hash_is_kept() {
        let (a, b) = (fresh().unwrap(), fresh().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(hex::encode(hash(&a)), a);
        assert_eq!(hash(&a), hash(&a.clone()));
    }

    #[test]
    fn the_cookie_is_found_among_others_and_malformed_ones_are_ignored() {
        let v = fresh().unwrap();
        let h = headers(&[("cookie", &format!("a=1; {NAME}={v}; b=2"))]);
        assert_eq!(from_headers(&h), Some(v.clone()));
        let h = headers(&[("cookie", "a=1"), ("cookie", &format!("{NAME}={v}"))]);
        assert_eq!(from_headers(&h), Some(v));
        let h = headers(&[("cookie", &format!("{NAME}=short"))]);
        assert_eq!(from_headers(&h), None);
        let h = headers(&[("cookie", &format!("x{NAME}={}", "a".repeat(64)))]);
        assert_eq!(from_headers(&h), None);
    }

    #[test]
    fn the_csrf_token_belongs_to_its_cookie_only() {
        let (a, b) = (fresh().unwrap(), fresh().unwrap());
        assert!(csrf_matches(Some(&csrf_of(&a)), &a));
        assert!(!csrf_matches(Some(&csrf_of(&b)), &a));
        assert!(!csrf_matches(None, &a));
        assert!(!csrf_matches(Some(""), &a));
        assert_ne!(csrf_of(&a), hex::encode(hash(&a)), "not the stored hash");
    }

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_over_tls() {
        let s = set("abc", true);
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Strict") && s.contains("Secure"));
        assert!(!set("abc", false).contains("Secure"));
        assert!(clear(false).contains("Max-Age=0"));
    }

    #[test]
    fn only_the_portals_own_origin_passes() {
        let own = headers(&[("host", "bastion:8443"), ("origin", "https://bastion:8443")]);
        assert!(same_origin(&own));
        let other = headers(&[("host", "bastion:8443"), ("origin", "https://evil.example")]);
        assert!(!same_origin(&other));
        let port = headers(&[("host", "bastion:8443"), ("origin", "https://bastion:9443")]);
        assert!(!same_origin(&port));
        let cross = headers(&[("host", "bastion"), ("sec-fetch-site", "cross-site")]);
        assert!(!same_origin(&cross));
        assert!(same_origin(&headers(&[("host", "bastion")])));
    }
}
