//! What a client may hold of a node's HTTP surface before it is authenticated: time to finish
//! the TLS handshake, to send its request headers and its body, how big a body may be, and how
//! many connections and body uploads may be open at once. Every limit is a setting (the
//! `[api]` table of the node's configuration file); every cut is counted in
//! `portunus_api_cut_off_total{reason}`.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Limits of the API listener.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSettings {
    /// Seconds a client has to complete the TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a client has to send a request's line and headers, counted from the first byte
    /// (or, on a kept-alive connection, from the previous response): an idle connection is
    /// closed after this long.
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body once its headers are in.
    pub body_timeout_secs: u64,
    /// Largest request body, in bytes. A larger `Content-Length` is refused before any of the
    /// body is read.
    pub max_body_bytes: usize,
    /// Connections open at once; a connection beyond it is closed as soon as it is accepted.
    pub max_connections: usize,
    /// Requests receiving a body at once (each may buffer up to `max_body_bytes`); a request
    /// beyond it is answered `ServiceUnavailable` without reading its body.
    pub max_bodies_in_flight: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            tls_handshake_timeout_secs: 10,
            header_timeout_secs: 15,
            body_timeout_secs: 30,
            max_body_bytes: 1024 * 1024,
            max_connections: 1024,
            max_bodies_in_flight: 64,
        }
    }
}

impl ApiSettings {
    /// Refuses zero limits (they would shut the API), naming the setting.
    pub fn validate(&self) -> Result<(), String> {
        let fields = [
            (
                "tls_handshake_timeout_secs",
                self.tls_handshake_timeout_secs,
            ),
            ("header_timeout_secs", self.header_timeout_secs),
            ("body_timeout_secs", self.body_timeout_secs),
            ("max_body_bytes", self.max_body_bytes as u64),
            ("max_connections", self.max_connections as u64),
            ("max_bodies_in_flight", self.max_bodies_in_flight as u64),
        ];
        match fields.iter().find(|(_, v)| *v == 0) {
            Some((name, _)) => Err(format!("[api] {name} must be at least 1")),
            None => Ok(()),
        }
    }

    pub(crate) fn tls_handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.tls_handshake_timeout_secs)
    }

    pub(crate) fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    pub(crate) fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }
}

/// Counts a cut in `portunus_api_cut_off_total` and warns about it, at most once per
/// [`crate::api::throttle_log::INTERVAL`] for the whole process.
pub(crate) fn record_cut(
    metrics: &crate::Metrics,
    why: CutOff,
    peer: Option<std::net::SocketAddr>,
) {
    static LOG: crate::api::throttle_log::ThrottleLog =
        crate::api::throttle_log::ThrottleLog::new();
    metrics
        .api_cut_off_total
        .with_label_values(&[why.label()])
        .inc();
    match LOG.admit(std::time::Instant::now()) {
        Some(unlogged) => tracing::warn!(
            peer = peer.map(|p| p.to_string()).unwrap_or_default(),
            reason = why.label(),
            others_since_last_warning = unlogged,
            "API client cut off by a limit"
        ),
        None => tracing::debug!(?peer, reason = why.label(), "API client cut off"),
    }
}

/// Why the server cut a client off (the `reason` label of `portunus_api_cut_off_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CutOff {
    TlsHandshakeTimeout,
    HeaderTimeout,
    BodyTimeout,
    BodyTooLarge,
    ConnectionLimit,
    BodiesInFlight,
}

impl CutOff {
    /// The label value.
    pub fn label(self) -> &'static str {
        match self {
            CutOff::TlsHandshakeTimeout => "tls_handshake_timeout",
            CutOff::HeaderTimeout => "header_timeout",
            CutOff::BodyTimeout => "body_timeout",
            CutOff::BodyTooLarge => "body_too_large",
            CutOff::ConnectionLimit => "connection_limit",
            CutOff::BodiesInFlight => "bodies_in_flight",
        }
    }

    /// Every reason, for exporting zeros before the first cut.
    pub const ALL: [CutOff; 6] = [
        CutOff::TlsHandshakeTimeout,
        CutOff::HeaderTimeout,
        CutOff::BodyTimeout,
        CutOff::BodyTooLarge,
        CutOff::ConnectionLimit,
        CutOff::BodiesInFlight,
    ];
}

#[cfg(test)]
mod tests {
    use super::ApiSettings;

    #[test]
    fn settings_parse_with_defaults_and_refuse_zero_and_unknown_keys() {
        let s: ApiSettings = serde_json::from_str(r#"{"max_body_bytes": 4096}"#).expect("parse");
        assert_eq!(s.max_body_bytes, 4096);
        assert_eq!(
            s.header_timeout_secs,
            ApiSettings::default().header_timeout_secs
        );
        assert!(s.validate().is_ok());
        let zero: ApiSettings = serde_json::from_str(r#"{"max_connections": 0}"#).expect("parse");
        let e = zero.validate().unwrap_err();
        assert!(e.contains("max_connections"), "{e}");
        assert!(serde_json::from_str::<ApiSettings>(r#"{"max_body": 1}"#).is_err());
    }
}
