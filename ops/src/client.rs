//! The client side of the management API: requests signed exactly as the official SDK
//! (tea-openapi `do_request`) signs them — parameters in the query string, an empty body,
//! `x-acs-date`, `x-acs-signature-nonce`, `x-acs-content-sha256` and an ACS3-HMAC-SHA256
//! `Authorization` header — using the verify side's own canonicalisation ([`crate::api`]'s
//! `sign` module), so the two cannot drift apart. [`Client`] sends them over HTTP/1.1, plain or
//! TLS (trusting given certificates, or anything with [`Trust::Insecure`]).

use crate::api::sign;
use crate::api::API_VERSION;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// An AccessKey pair.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Credentials({}, <secret>)", self.access_key_id)
    }
}

/// A signed `POST /?<query>` with an empty body: what to put on the wire.
#[derive(Clone, Debug)]
pub struct SignedRequest {
    /// The query string (`application/x-www-form-urlencoded`, as the SDK sends it).
    pub query: String,
    /// Every header to send, `authorization` included (lowercase names).
    pub headers: Vec<(String, String)>,
}

/// A fresh signature nonce (32 hex characters).
pub fn new_nonce() -> String {
    let mut raw = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut raw).is_err() {
        let t = now_ms().to_be_bytes();
        raw[..8].copy_from_slice(&t);
        raw[8..].copy_from_slice(&std::process::id().to_be_bytes().repeat(2));
    }
    hex::encode(raw)
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC), the API's date format.
pub fn utc_text(ms: u64) -> String {
    sign::format_acs_date(ms)
}

pub(crate) fn now_ms() -> u64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Signs a call of `action` with `params` for the node reached as `host` (the `Host` header:
/// `name:port`), at `now_ms` with `nonce`.
pub fn sign_request(
    creds: &Credentials,
    host: &str,
    action: &str,
    params: &[(&str, &str)],
    now_ms: u64,
    nonce: &str,
) -> Result<SignedRequest, ClientError> {
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter().copied())
        .finish();
    let payload_hash = sign::sha256_hex(b"");
    let values = [
        ("host", host.to_string()),
        ("x-acs-action", action.to_string()),
        ("x-acs-content-sha256", payload_hash.clone()),
        ("x-acs-date", sign::format_acs_date(now_ms)),
        ("x-acs-signature-nonce", nonce.to_string()),
        ("x-acs-version", API_VERSION.to_string()),
    ];
    let mut headers = HeaderMap::new();
    for (k, v) in &values {
        let v = HeaderValue::from_str(v)
            .map_err(|_| ClientError::Request(format!("{k} is not a valid header value")))?;
        headers.insert(HeaderName::from_static(k), v);
    }
    // Already in lexicographic order, as the SDK sorts them.
    let auth = sign::Authorization {
        access_key_id: creds.access_key_id.clone(),
        signed_headers: values.iter().map(|(k, _)| (*k).to_string()).collect(),
        signature: Vec::new(),
    };
    let to_sign = sign::string_to_sign("POST", "/", &query, &headers, &auth, &payload_hash)
        .map_err(|e| ClientError::Request(e.to_string()))?;
    let signature = sign::sign(creds.access_key_secret.as_bytes(), &to_sign);
    let authorization = format!(
        "{} Credential={},SignedHeaders={},Signature={signature}",
        sign::ALGORITHM,
        creds.access_key_id,
        auth.signed_headers.join(";"),
    );
    let mut headers: Vec<(String, String)> = values
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    headers.push(("authorization".into(), authorization));
    Ok(SignedRequest { query, headers })
}

/// Why a call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The API answered with an error (`Code: Message`).
    Api {
        status: u16,
        code: String,
        message: String,
        request_id: String,
    },
    /// The endpoint or a parameter cannot be sent.
    Request(String),
    /// Connecting, or reading or writing the connection, failed.
    Connect(String),
    /// The TLS handshake failed (often: the node's certificate is not trusted).
    Tls(String),
    /// The answer is not what the API sends.
    Protocol(String),
    /// No answer in time.
    Timeout(Duration),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Api { code, message, .. } => write!(f, "{code}: {message}"),
            ClientError::Request(m) => write!(f, "{m}"),
            ClientError::Connect(m) => write!(f, "{m}"),
            ClientError::Tls(m) => write!(f, "TLS: {m}"),
            ClientError::Protocol(m) => write!(f, "unexpected answer: {m}"),
            ClientError::Timeout(t) => write!(f, "no answer within {t:?}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Which server certificates an `https` endpoint may present.
#[derive(Clone, Debug)]
pub enum Trust {
    /// Certificates from a PEM file: the server's own certificate (pinned: accepted whatever
    /// names it carries, as the node's self-signed `api-tls-cert.pem`), or CA certificates
    /// the server's chain must lead to, for the endpoint's name.
    Certificates(Vec<CertificateDer<'static>>),
    /// Accept any certificate (the connection is encrypted but the server is not verified).
    Insecure,
}

impl Trust {
    /// Reads the certificates of a PEM file.
    pub fn from_pem_file(path: &std::path::Path) -> Result<Trust, ClientError> {
        use rustls::pki_types::pem::PemObject;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .and_then(|i| i.collect::<Result<_, _>>())
            .map_err(|e| ClientError::Request(format!("reading {}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(ClientError::Request(format!(
                "{} holds no PEM certificate",
                path.display()
            )));
        }
        Ok(Trust::Certificates(certs))
    }
}

/// Where the API is: `http://host:port` or `https://host:port` (a bare `host:port` is https).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    /// `host:port`, also the `Host` header.
    pub authority: String,
    /// The host part alone (the TLS server name).
    pub host: String,
}

impl Endpoint {
    /// Parses an endpoint URL; the path must be empty or `/`.
    pub fn parse(url: &str) -> Result<Endpoint, ClientError> {
        let bad = |why: &str| ClientError::Request(format!("endpoint '{url}': {why}"));
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else if url.contains("://") {
            return Err(bad("only http:// and https:// are supported"));
        } else {
            (true, url)
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() || authority.contains('/') {
            return Err(bad("expected scheme://host[:port] with no path"));
        }
        let (host, port) = if let Some(r) = authority.strip_prefix('[') {
            let (h, after) = r.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match after {
                "" => (h, None),
                a => (
                    h,
                    Some(a.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
                ),
            }
        } else {
            match authority.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        let port: u16 = match port {
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
            None if tls => 443,
            None => 80,
        };
        let host = host.to_string();
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(Endpoint {
            tls,
            authority,
            host,
        })
    }

    /// A plain-HTTP endpoint at `addr`.
    pub fn http(addr: std::net::SocketAddr) -> Endpoint {
        Endpoint {
            tls: false,
            authority: addr.to_string(),
            host: addr.ip().to_string(),
        }
    }

    /// `http://` or `https://` and the authority.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }
}

/// A signed-call client of one endpoint.
#[derive(Clone)]
pub struct Client {
    endpoint: Endpoint,
    creds: Credentials,
    tls: Option<tokio_rustls::TlsConnector>,
    timeout: Duration,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Client({}, {:?})", self.endpoint.url(), self.creds)
    }
}

/// Largest accepted answer.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

impl Client {
    /// A client of `endpoint`; `trust` is required for `https` endpoints.
    pub fn new(
        endpoint: Endpoint,
        creds: Credentials,
        trust: Option<Trust>,
    ) -> Result<Client, ClientError> {
        let tls = match (endpoint.tls, trust) {
            (false, _) => None,
            (true, None) => {
                return Err(ClientError::Request(format!(
                    "{} is https: say which certificate to trust (the node's api-tls-cert.pem \
                     or your CA), or accept any certificate explicitly",
                    endpoint.url()
                )))
            }
            (true, Some(t)) => Some(connector(t)?),
        };
        Ok(Client {
            endpoint,
            creds,
            tls,
            timeout: Duration::from_secs(30),
        })
    }

    /// Changes the time a whole call may take (30 s by default).
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Calls `action` with `params`; the JSON body of a successful answer, or the API's error.
    pub async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, ClientError> {
        tokio::time::timeout(self.timeout, self.call_inner(action, params))
            .await
            .map_err(|_| ClientError::Timeout(self.timeout))?
    }

    async fn call_inner(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<serde_json::Value, ClientError> {
        let host = &self.endpoint.authority;
        let signed = sign_request(&self.creds, host, action, params, now_ms(), &new_nonce())?;
        let mut head = format!("POST /?{} HTTP/1.1\r\n", signed.query);
        for (k, v) in &signed.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("accept: application/json\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        let tcp = TcpStream::connect(host)
            .await
            .map_err(|e| ClientError::Connect(format!("connecting to {host}: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let raw = match &self.tls {
            None => exchange(tcp, head.as_bytes()).await?,
            Some(connector) => {
                let name = ServerName::try_from(self.endpoint.host.clone()).map_err(|_| {
                    ClientError::Request(format!("'{}' is not a valid host name", host))
                })?;
                let stream = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ClientError::Tls(format!("handshake with {host}: {e}")))?;
                exchange(stream, head.as_bytes()).await?
            }
        };
        let (status, body) = parse_answer(&raw)?;
        let json: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            let text = String::from_utf8_lossy(&body);
            let text: String = text.chars().take(200).collect();
            ClientError::Protocol(format!(
                "HTTP {status} with a body that is not JSON: {text}"
            ))
        })?;
        if status == 200 {
            return Ok(json);
        }
        let field = |k: &str| json.get(k).and_then(|v| v.as_str()).map(str::to_string);
        match field("Code") {
            Some(code) => Err(ClientError::Api {
                status,
                code,
                message: field("Message").unwrap_or_default(),
                request_id: field("RequestId").unwrap_or_default(),
            }),
            None => Err(ClientError::Protocol(format!("HTTP {status}: {json}"))),
        }
    }
}

/// Writes the request and reads the answer until the server closes the connection.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &[u8],
) -> Result<Vec<u8>, ClientError> {
    let io = |e: std::io::Error| ClientError::Connect(format!("talking to the API: {e}"));
    s.write_all(request).await.map_err(io)?;
    s.flush().await.map_err(io)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&buf[..n]);
                if raw.len() > MAX_ANSWER_BYTES {
                    return Err(ClientError::Protocol("the answer is too large".into()));
                }
                if answer_complete(&raw) {
                    break;
                }
            }
            // A TLS peer that closes without close_notify: the answer may still be whole.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) => return Err(io(e)),
        }
    }
    Ok(raw)
}

/// Header names (lowercased) and values.
type Headers = Vec<(String, String)>;

/// Splits an HTTP/1.1 answer into its status, headers and raw body.
fn split_head(raw: &[u8]) -> Option<(u16, Headers, &[u8])> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some((status, headers, &raw[end + 4..]))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether `raw` holds a whole answer (by its content-length, or the last chunk).
fn answer_complete(raw: &[u8]) -> bool {
    let Some((_, headers, body)) = split_head(raw) else {
        return false;
    };
    if let Some(n) = header(&headers, "content-length").and_then(|v| v.parse::<usize>().ok()) {
        return body.len() >= n;
    }
    header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked"))
        && dechunk(body).is_some()
}

/// The status and decoded body of an answer.
fn parse_answer(raw: &[u8]) -> Result<(u16, Vec<u8>), ClientError> {
    let (status, headers, body) = split_head(raw).ok_or_else(|| {
        ClientError::Protocol(if raw.is_empty() {
            "the connection closed without an answer".into()
        } else {
            "not an HTTP/1.1 answer".into()
        })
    })?;
    let chunked = header(&headers, "transfer-encoding").is_some_and(|t| t.contains("chunked"));
    let body = if chunked {
        dechunk(body).ok_or_else(|| ClientError::Protocol("truncated chunked body".into()))?
    } else if let Some(n) = header(&headers, "content-length").and_then(|v| v.parse().ok()) {
        body.get(..n)
            .ok_or_else(|| ClientError::Protocol("truncated body".into()))?
            .to_vec()
    } else {
        body.to_vec()
    };
    Ok((status, body))
}

/// Decodes a whole `Transfer-Encoding: chunked` body; `None` until the last chunk is in.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = size.split(';').next()?.trim();
        let n = usize::from_str_radix(size, 16).ok()?;
        rest = &rest[line_end + 2..];
        if n == 0 {
            return Some(out);
        }
        out.extend_from_slice(rest.get(..n)?);
        rest = rest.get(n + 2..)?;
    }
}

fn connector(trust: Trust) -> Result<tokio_rustls::TlsConnector, ClientError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = Arc::new(Verifier::new(trust, provider.clone())?);
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Accepts a pinned certificate, a chain to given CAs, or (insecure) anything; handshake
/// signatures are always checked.
#[derive(Debug)]
struct Verifier {
    pinned: Vec<CertificateDer<'static>>,
    /// None: accept any certificate.
    webpki: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    insecure: bool,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl Verifier {
    fn new(
        trust: Trust,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<Verifier, ClientError> {
        match trust {
            Trust::Insecure => Ok(Verifier {
                pinned: Vec::new(),
                webpki: None,
                insecure: true,
                provider,
            }),
            Trust::Certificates(certs) => {
                let mut roots = rustls::RootCertStore::empty();
                // Certificates that cannot be roots (a leaf without CA bits) are only pinned.
                let (_added, _ignored) = roots.add_parsable_certificates(certs.iter().cloned());
                let webpki = if roots.is_empty() {
                    None
                } else {
                    Some(
                        rustls::client::WebPkiServerVerifier::builder_with_provider(
                            Arc::new(roots),
                            provider.clone(),
                        )
                        .build()
                        .map_err(|e| ClientError::Tls(e.to_string()))?,
                    )
                };
                Ok(Verifier {
                    pinned: certs,
                    webpki,
                    insecure: false,
                    provider,
                })
            }
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.insecure
            || self
                .pinned
                .iter()
                .any(|c| c.as_ref() == end_entity.as_ref())
        {
            return Ok(ServerCertVerified::assertion());
        }
        match &self.webpki {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Err(rustls::Error::General(
                "the server's certificate is not the trusted one".into(),
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        let e = Endpoint::parse("https://bastion:8443/").expect("parse");
        assert_eq!((e.tls, e.authority.as_str()), (true, "bastion:8443"));
        let e = Endpoint::parse("http://127.0.0.1:80").expect("parse");
        assert_eq!((e.tls, e.host.as_str()), (false, "127.0.0.1"));
        assert_eq!(
            Endpoint::parse("bastion").expect("p").authority,
            "bastion:443"
        );
        let e = Endpoint::parse("https://[::1]:8443").expect("parse");
        assert_eq!(
            (e.host.as_str(), e.authority.as_str()),
            ("::1", "[::1]:8443")
        );
        assert!(Endpoint::parse("ftp://x").is_err());
        assert!(Endpoint::parse("http://x:y").is_err());
        assert!(Endpoint::parse("http://x/api").is_err());
    }

    #[test]
    fn answers_parse_with_length_or_chunks() {
        let raw = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}";
        assert!(answer_complete(raw));
        assert_eq!(parse_answer(raw).expect("ok"), (400, b"{}".to_vec()));
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3\r\na\":\r\n";
        assert!(!answer_complete(raw));
        let mut whole = raw.to_vec();
        whole.extend_from_slice(b"1\r\n1\r\n1\r\n}\r\n0\r\n\r\n");
        assert!(answer_complete(&whole));
        assert_eq!(parse_answer(&whole).expect("ok").1, b"{\"a\":1}".to_vec());
    }

    #[test]
    fn https_needs_an_explicit_trust() {
        let creds = Credentials {
            access_key_id: "ak".into(),
            access_key_secret: "sk".into(),
        };
        let e = Endpoint::parse("https://127.0.0.1:8443").expect("parse");
        let err = Client::new(e.clone(), creds.clone(), None).unwrap_err();
        assert!(err.to_string().contains("certificate"), "{err}");
        assert!(Client::new(e, creds, Some(Trust::Insecure)).is_ok());
    }
}
