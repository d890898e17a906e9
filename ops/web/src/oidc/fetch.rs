//! The few HTTPS requests single sign-on makes to the provider (its discovery document, its
//! key set, the token exchange): HTTP/1.1 over TLS with the node's trust for providers, each
//! bounded in time and size, answering JSON or saying why not.

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// How long one request may take, connection included.
const DEADLINE: Duration = Duration::from_secs(8);
/// The largest answer read.
const MAX_BODY: usize = 1 << 20;

/// An `https://` URL taken apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Url {
    /// Host as written (an IPv6 address without its brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl Url {
    /// Reads an `https://` URL (anything else is refused: tokens and codes never travel in
    /// clear).
    pub(crate) fn parse(url: &str) -> Result<Url, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("{url:?} is not an https:// URL"))?;
        let (authority, path) = match rest.find(['/', '?', '#']) {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path
        };
        let path = match path.split('#').next() {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => "/".to_string(),
        };
        if authority.contains('@') {
            return Err(format!("{url:?} carries credentials"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("{url:?}: unclosed [ in the host"))?;
            if !after.is_empty() && !after.starts_with(':') {
                return Err(format!("{url:?}: text after the IPv6 host"));
            }
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| format!("{url:?}: the port is not a number"))?,
            None => 443,
        };
        if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
            return Err(format!("{url:?} has no usable host"));
        }
        Ok(Url { host, port, path })
    }

    fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == 443 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A request to the provider.
pub(crate) struct Request<'a> {
    pub url: &'a str,
    /// A form to POST; a GET without.
    pub form: Option<String>,
    /// The `Authorization` header (client_secret_basic).
    pub authorization: Option<String>,
}

/// Sends `req`; the JSON answer and its status, or why there is none.
pub(crate) async fn json(
    tls: &Arc<rustls::ClientConfig>,
    req: Request<'_>,
) -> Result<(u16, Value), String> {
    let url = Url::parse(req.url)?;
    tokio::time::timeout(DEADLINE, exchange(tls, &url, req))
        .await
        .map_err(|_| {
            format!(
                "{} did not answer within {} s",
                url.authority(),
                DEADLINE.as_secs()
            )
        })?
}

async fn exchange(
    tls: &Arc<rustls::ClientConfig>,
    url: &Url,
    req: Request<'_>,
) -> Result<(u16, Value), String> {
    let at = url.authority();
    let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("cannot connect to {at}: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from(url.host.clone())
        .map_err(|_| format!("{:?} is not a host name", url.host))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {at} failed: {e}"))?;
    let (mut send, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP with {at} failed: {e}"))?;
    // The connection's task ends with this request, however it ends (a timeout drops it).
    let _driver = AbortOnDrop(tokio::spawn(conn));
    let mut builder = hyper::Request::builder()
        .uri(url.path.as_str())
        .header(header::HOST, at.as_str())
        .header(header::ACCEPT, "application/json")
        .header(header::USER_AGENT, "portunus");
    if let Some(auth) = &req.authorization {
        builder = builder.header(header::AUTHORIZATION, auth.as_str());
    }
    let body = match req.form {
        Some(form) => {
            builder = builder
                .method(hyper::Method::POST)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Full::new(Bytes::from(form))
        }
        None => Full::new(Bytes::new()),
    };
    let request = builder
        .body(body)
        .map_err(|e| format!("cannot build the request to {at}: {e}"))?;
    let answer = send
        .send_request(request)
        .await
        .map_err(|e| format!("{at} did not answer: {e}"))?;
    let status = answer.status().as_u16();
    let bytes = Limited::new(answer.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| format!("reading {at}'s answer failed: {e}"))?
        .to_bytes();
    let value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "{at} answered HTTP {status} with {} bytes that are not JSON",
            bytes.len()
        )
    })?;
    Ok((status, value))
}

/// A task aborted when dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `application/x-www-form-urlencoded` of `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes everything but the unreserved characters (RFC 3986).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_urls_are_taken_apart() {
        let u = Url::parse("https://id.example.org/realms/ops").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("id.example.org", 443, "/realms/ops")
        );
        let u = Url::parse("https://127.0.0.1:8443?x=1#frag").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 8443, "/?x=1")
        );
        let u = Url::parse("https://h#x").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("h", "/"));
        let u = Url::parse("https://[::1]:9/token").unwrap();
        assert_eq!((u.host.as_str(), u.authority()), ("::1", "[::1]:9".into()));
        for bad in [
            "http://id.example.org",
            "https://",
            "https://user:pw@id.example.org/",
            "https://id:port/",
            "https://[::1/",
            "https://[::1]x/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forms_are_percent_encoded() {
        assert_eq!(
            form(&[
                ("redirect_uri", "https://b:1/x?y"),
                ("scope", "openid email")
            ]),
            "redirect_uri=https%3A%2F%2Fb%3A1%2Fx%3Fy&scope=openid%20email"
        );
        assert_eq!(encode("ü~ &"), "%C3%BC~%20%26");
    }
}
