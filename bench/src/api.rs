//! A minimal client of the Bastionhost RPC API: ACS3-HMAC-SHA256 signed `POST /` requests over
//! plain HTTP/1.1 (nodes started with `--api-plaintext`), one connection per request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use aws_lc_rs::{digest, hmac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VERSION: &str = "2019-12-09";

/// An Admin AccessKey and the node it talks to.
#[derive(Clone)]
pub(crate) struct Api {
    pub(crate) key_id: String,
    pub(crate) secret: String,
}

static NONCE: AtomicU64 = AtomicU64::new(1);

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, data))
}

/// RFC 3986 encoding of a value (unreserved characters kept).
fn encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` for a unix time in seconds.
fn acs_date(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Api {
    /// Calls `action` on `node` with `params`; returns the JSON body of a 200 answer.
    pub(crate) async fn call(
        &self,
        node: SocketAddr,
        action: &str,
        params: &[(&str, String)],
        timeout: Duration,
    ) -> anyhow::Result<serde_json::Value> {
        tokio::time::timeout(timeout, self.call_inner(node, action, params))
            .await
            .with_context(|| format!("{action} timed out after {timeout:?}"))?
    }

    async fn call_inner(
        &self,
        node: SocketAddr,
        action: &str,
        params: &[(&str, String)],
    ) -> anyhow::Result<serde_json::Value> {
        let mut pairs: Vec<(String, String)> = params
            .iter()
            .map(|(k, v)| ((*k).to_owned(), encode(v)))
            .collect();
        pairs.sort();
        let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let query = query.join("&");
        let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
        let nonce = format!(
            "{}-{}",
            now.as_nanos(),
            NONCE.fetch_add(1, Ordering::Relaxed)
        );
        let host = node.to_string();
        let headers = [
            ("host", host.clone()),
            ("x-acs-action", action.to_owned()),
            ("x-acs-content-sha256", sha256_hex(b"")),
            ("x-acs-date", acs_date(now.as_secs())),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-version", VERSION.to_owned()),
        ];
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed: Vec<&str> = headers.iter().map(|(k, _)| *k).collect();
        let signed = signed.join(";");
        let canonical = format!(
            "POST\n/\n{query}\n{canonical_headers}\n{signed}\n{}",
            sha256_hex(b"")
        );
        let to_sign = format!("ACS3-HMAC-SHA256\n{}", sha256_hex(canonical.as_bytes()));
        let key = hmac::Key::new(hmac::HMAC_SHA256, self.secret.as_bytes());
        let signature = hex::encode(hmac::sign(&key, to_sign.as_bytes()));
        let mut req = format!("POST /?{query} HTTP/1.1\r\n");
        for (k, v) in &headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str(&format!(
            "authorization: ACS3-HMAC-SHA256 Credential={},SignedHeaders={signed},Signature={signature}\r\n\
             content-length: 0\r\nconnection: close\r\n\r\n",
            self.key_id
        ));
        let mut stream = TcpStream::connect(node).await?;
        stream.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await?;
        let raw = String::from_utf8_lossy(&raw);
        let code: u16 = raw
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .context("no HTTP status line")?;
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        let body = dechunk(body);
        if code != 200 {
            bail!("{action} answered {code}: {body}");
        }
        Ok(serde_json::from_str(&body)?)
    }
}

/// Undoes `Transfer-Encoding: chunked` when the body looks chunked; otherwise returns it as is.
fn dechunk(body: &str) -> String {
    if body.trim_start().starts_with('{') {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_format_as_acs() {
        assert_eq!(super::acs_date(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::acs_date(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
