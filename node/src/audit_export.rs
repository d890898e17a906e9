//! Audit export to syslog: every line of this node's audit events file (`audit/events.jsonl`:
//! sessions opened and closed here, their commands, statements, file transfers, refusals and
//! tunnels, and the administrative acts this node's API served) is sent as it is written to a
//! syslog receiver, RFC 5424 messages over TCP (octet-counted framing, RFC 6587) or TLS
//! (RFC 5425), each message's text the event as one JSON object, with the user, asset and
//! account of its session added.
//!
//! The position is kept in `audit/export.pos` (the start of the last batch the connection took,
//! written after each), so a restarted node goes on where it stopped. TCP syslog has no
//! acknowledgements: a batch written just before the connection broke may not have arrived, so
//! after every reconnect or restart the exporter sends again from the start of the last batch
//! (at-least-once;
//! a message's structured data names the node and the line's offset, which tells a repeat from
//! a new event). A node whose exporter starts without a position begins at the end of the file:
//! configuring a receiver does not replay the node's whole history.

use anyhow::{bail, Context};
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Where events go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyslogTarget {
    /// `host:port`.
    pub address: String,
    /// The host name the receiver's certificate must carry (TLS only).
    pub tls_name: Option<String>,
    /// The CA bundle the receiver's certificate is checked against (TLS only).
    pub ca: Option<PathBuf>,
}

impl SyslogTarget {
    /// Parses `tcp://host:port` or `tls://host:port` (with `ca`, a PEM bundle, for TLS).
    pub fn parse(url: &str, ca: Option<PathBuf>) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("'{url}' is not tcp://host:port or tls://host:port"))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("'{url}' names no port"))?;
        let port: u16 = port
            .parse()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| format!("'{port}' is not a port number"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("'{url}' names no host"));
        }
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        match scheme {
            "tcp" if ca.is_some() => {
                Err("a CA bundle is given for a tcp:// receiver; use tls://".into())
            }
            "tcp" => Ok(SyslogTarget {
                address,
                tls_name: None,
                ca: None,
            }),
            "tls" => Ok(SyslogTarget {
                address,
                tls_name: Some(host.to_string()),
                ca,
            }),
            other => Err(format!("'{other}' is neither tcp nor tls")),
        }
    }
}

/// The framing and header fields of one node's messages.
struct Header {
    hostname: String,
    node_id: u64,
}

/// Facility local0.
const FACILITY: u8 = 16;

/// Most bytes read from the events file per batch.
const BATCH: usize = 256 * 1024;

/// How often the file is looked at when nothing new was found.
const POLL: Duration = Duration::from_millis(200);

/// The exporter of one node: runs until `stop`.
pub(crate) async fn run(
    target: SyslogTarget,
    data_dir: PathBuf,
    node_id: u64,
    replica: portunus_raft::Replica,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let header = Header {
        hostname: hostname(),
        node_id,
    };
    let dir = data_dir.join("audit");
    let events = dir.join("events.jsonl");
    let pos_file = dir.join("export.pos");
    let mut position = match read_position(&pos_file) {
        Ok(Some(p)) => match usable_position(&events, p) {
            Ok(usable) => usable,
            Err(e) => {
                tracing::error!(file = %events.display(), error = %e, "audit export: the events file is unreadable; not exporting");
                return;
            }
        },
        Ok(None) => {
            let end = std::fs::metadata(&events).map(|m| m.len()).unwrap_or(0);
            tracing::info!(
                offset = end,
                "audit export starts at the end of the events file"
            );
            end
        }
        Err(e) => {
            tracing::error!(file = %pos_file.display(), error = %e, "audit export: the position file is unreadable; not exporting");
            return;
        }
    };
    let tls = match target.ca.as_deref().map(client_config).transpose() {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "audit export: the CA bundle is unusable; not exporting");
            return;
        }
    };
    let mut backoff = Duration::from_millis(500);
    loop {
        if *stop.borrow() {
            return;
        }
        let mut conn = match connect(&target, tls.clone()).await {
            Ok(c) => {
                tracing::info!(receiver = %target.address, offset = position, "audit export connected");
                backoff = Duration::from_millis(500);
                c
            }
            Err(e) => {
                tracing::warn!(receiver = %target.address, error = %e, retry_in = ?backoff, "audit export: cannot reach the syslog receiver");
                if sleep_or_stop(backoff, &mut stop).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        // Sent again after a reconnect: the batch before the break may not have arrived.
        let mut batch_start = position;
        loop {
            let (lines, next) = match read_batch(&events, position) {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "audit export: reading the events file failed");
                    if sleep_or_stop(Duration::from_secs(1), &mut stop).await {
                        return;
                    }
                    continue;
                }
            };
            if lines.is_empty() {
                if sleep_or_stop(POLL, &mut stop).await {
                    return;
                }
                continue;
            }
            let mut out = Vec::with_capacity(BATCH + BATCH / 2);
            let mut offset = position;
            replica.view().read(|s| {
                for line in &lines {
                    let (json, kind) = enrich(s, line);
                    frame(&mut out, &header, offset, (&json, kind.as_deref()));
                    offset += line.len() as u64 + 1;
                }
            });
            let sent = async {
                conn.write_all(&out).await?;
                conn.flush().await
            };
            if let Err(e) = sent.await {
                tracing::warn!(error = %e, "audit export: the connection broke; sending again from the last batch");
                position = batch_start;
                break;
            }
            batch_start = position;
            position = next;
            // The start of the batch just sent is kept: after a restart it is sent again. The
            // events before it are made durable first, so that a kept position never points
            // past what a power loss leaves of the events file.
            let kept = std::fs::File::open(&events)
                .and_then(|f| f.sync_data())
                .and_then(|()| write_position(&pos_file, batch_start));
            if let Err(e) = kept {
                tracing::error!(error = %e, "audit export: keeping the position failed");
            }
        }
    }
}

/// Sleeps `d`; true when `stop` was signalled meanwhile.
async fn sleep_or_stop(d: Duration, stop: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => *stop.borrow(),
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// The whole lines of the events file from `from` (at most about [`BATCH`] bytes, without
/// their newlines), and the offset after them.
fn read_batch(path: &Path, from: u64) -> std::io::Result<(Vec<String>, u64)> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), from)),
        Err(e) => return Err(e),
    };
    let len = f.metadata()?.len();
    if len < from {
        return Err(std::io::Error::other(format!(
            "the events file is shorter ({len} bytes) than the export position ({from})"
        )));
    }
    f.seek(SeekFrom::Start(from))?;
    let mut buf = Vec::with_capacity(BATCH.min((len - from) as usize));
    f.take(BATCH as u64).read_to_end(&mut buf)?;
    let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
        return Ok((Vec::new(), from));
    };
    let lines = buf[..end]
        .split(|b| *b == b'\n')
        .map(|l| String::from_utf8_lossy(l).into_owned())
        .collect();
    Ok((lines, from + end as u64 + 1))
}

/// The kept position `from`, or, when the events file is now shorter (a crash lost its end),
/// the start of its last whole line within it: the export goes on from there instead of
/// waiting for the file to grow back and resuming in the middle of a line.
fn usable_position(events: &Path, from: u64) -> std::io::Result<u64> {
    let len = match std::fs::metadata(events) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
        Err(e) => return Err(e),
    };
    if from <= len {
        return Ok(from);
    }
    let bytes = if len == 0 {
        Vec::new()
    } else {
        std::fs::read(events)?
    };
    let start = bytes
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i as u64 + 1);
    tracing::warn!(
        position = from,
        events_bytes = len,
        resumed_at = start,
        "audit export: the events file is shorter than the kept position (a crash lost its end); exporting from its last line"
    );
    Ok(start)
}

fn read_position(path: &Path) -> anyhow::Result<Option<u64>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().parse().with_context(|| {
            format!("{} does not hold a number", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Replaces the position file durably, so a crash leaves the old or the new one.
fn write_position(path: &Path, position: u64) -> std::io::Result<()> {
    portunus_raft::durable::replace(path, format!("{position}\n").as_bytes(), 0o644)
}

/// The event with its session's user, asset, account, protocol and client address added (when
/// the line names a session this node's state knows), and its type. A line that is not a JSON
/// object is sent as it is.
fn enrich(s: &portunus_model::State, line: &str) -> (String, Option<String>) {
    let Ok(serde_json::Value::Object(mut event)) = serde_json::from_str(line) else {
        return (line.to_string(), None);
    };
    let kind = event
        .get("type")
        .and_then(serde_json::Value::as_str)
        .map(str::to_string);
    let session = event
        .get("session_id")
        .and_then(serde_json::Value::as_u64)
        .and_then(|id| s.session(id));
    if let Some(x) = session {
        let view = portunus_ops::api::session_view(s, x);
        for (field, from) in [
            ("user", "UserName"),
            ("asset", "AssetName"),
            ("asset_type", "AssetType"),
            ("account", "AccountName"),
            ("protocol", "Protocol"),
            ("client", "ClientAddress"),
        ] {
            if !event.contains_key(field) {
                event.insert(field.into(), view[from].clone());
            }
        }
    }
    (serde_json::Value::Object(event).to_string(), kind)
}

/// Appends one RFC 5424 message, octet-counted, for the event `json` of type `kind` at
/// `offset`.
fn frame(out: &mut Vec<u8>, h: &Header, offset: u64, (json, kind): (&str, Option<&str>)) {
    let kind = kind.unwrap_or("event");
    // Refusals and administrative acts are notices; the rest informational.
    let severity = match kind {
        "refused" | "admin" => 5,
        _ => 6,
    };
    let msgid: String = kind
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    let now = jiff::Timestamp::now();
    let message = format!(
        "<{}>1 {} {} portunus {} {} [portunus@32473 node=\"{}\" offset=\"{}\"] {}",
        FACILITY * 8 + severity,
        now.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        h.hostname,
        std::process::id(),
        msgid,
        h.node_id,
        offset,
        json
    );
    out.extend_from_slice(format!("{} ", message.len()).as_bytes());
    out.extend_from_slice(message.as_bytes());
}

fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if clean.is_empty() {
        "-".into()
    } else {
        clean
    }
}

trait Conn: AsyncWrite + Unpin + Send {}
impl<T: AsyncWrite + Unpin + Send> Conn for T {}

async fn connect(
    target: &SyslogTarget,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> anyhow::Result<Box<dyn Conn>> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(&target.address),
    )
    .await
    .context("no connection within 10 s")??;
    tcp.set_nodelay(true)?;
    let Some(config) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = target.tls_name.clone().unwrap_or_default();
    let server = ServerName::try_from(name.clone())
        .with_context(|| format!("'{name}' is not a name TLS can check"))?;
    let stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(config).connect(server, tcp),
    )
    .await
    .context("no TLS handshake within 10 s")??;
    Ok(Box::new(stream))
}

/// A TLS client configuration trusting the CA bundle at `path`.
fn client_config(path: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::pem::PemObject;
    let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.with_context(|| format!("{}", path.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("{}: a certificate is not usable", path.display()))?;
    }
    if roots.is_empty() {
        bail!("{}: no certificate in the CA bundle", path.display());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_are_tcp_or_tls_urls() {
        let t = SyslogTarget::parse("tcp://logs.example:6514", None).unwrap();
        assert_eq!(t.address, "logs.example:6514");
        assert_eq!(t.tls_name, None);
        let t = SyslogTarget::parse("tls://[::1]:6514", Some("/ca.pem".into())).unwrap();
        assert_eq!(t.address, "[::1]:6514");
        assert_eq!(t.tls_name.as_deref(), Some("::1"));
        for (bad, words) in [
            ("logs.example:514", "not tcp://"),
            ("udp://logs.example:514", "neither tcp nor tls"),
            ("tcp://logs.example", "no port"),
            ("tcp://logs.example:0", "not a port"),
            ("tcp://:514", "no host"),
        ] {
            let e = SyslogTarget::parse(bad, None).unwrap_err();
            assert!(e.contains(words), "{bad}: {e}");
        }
        let e = SyslogTarget::parse("tcp://h:514", Some("/ca.pem".into())).unwrap_err();
        assert!(e.contains("use tls://"), "{e}");
    }

    #[test]
    fn a_message_is_octet_counted_rfc5424() {
        let h = Header {
            hostname: "node-a".into(),
            node_id: 2,
        };
        let mut out = Vec::new();
        let json = r#"{"type":"refused","session_id":5}"#;
        frame(&mut out, &h, 77, (json, Some("refused")));
        let text = String::from_utf8(out).unwrap();
        let (count, message) = text.split_once(' ').unwrap();
        assert_eq!(count.parse::<usize>().unwrap(), message.len());
        assert!(message.starts_with("<133>1 "), "{message}");
        assert!(
            message.contains(" node-a portunus ")
                && message.contains(" refused [portunus@32473 node=\"2\" offset=\"77\"] {"),
            "{message}"
        );
    }

    #[test]
    fn batches_are_whole_lines_and_positions_survive() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("events.jsonl");
        std::fs::write(&f, "{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let (lines, next) = read_batch(&f, 0).unwrap();
        assert_eq!(lines, vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(next, 16);
        let (lines, again) = read_batch(&f, next).unwrap();
        assert!(lines.is_empty() && again == next);
        assert!(read_batch(&f, 1000)
            .unwrap_err()
            .to_string()
            .contains("shorter"));
        assert_eq!(usable_position(&f, next).unwrap(), next);
        assert_eq!(usable_position(&f, 21).unwrap(), 21, "at the end: kept");
        assert_eq!(
            usable_position(&f, 1000).unwrap(),
            16,
            "past the end: the last line's start"
        );
        assert_eq!(usable_position(&dir.path().join("none"), 9).unwrap(), 0);
        let pos = dir.path().join("export.pos");
        assert_eq!(read_position(&pos).unwrap(), None);
        write_position(&pos, 16).unwrap();
        assert_eq!(read_position(&pos).unwrap(), Some(16));
        std::fs::write(&pos, "x\n").unwrap();
        assert!(read_position(&pos).is_err());
    }
}
