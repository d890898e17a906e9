//! Prometheus metrics of a node. Names follow Prometheus conventions (`portunus_` prefix, base
//! units, `_total` counters); label values come from small fixed sets, never from user input.

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric a node exports, registered in one registry.
pub struct Metrics {
    registry: Registry,
    pub raft_is_leader: IntGauge,
    pub raft_term: IntGauge,
    pub raft_leader_id: IntGauge,
    pub raft_last_log_index: IntGauge,
    pub raft_commit_index: IntGauge,
    pub raft_applied_index: IntGauge,
    pub raft_snapshot_index: IntGauge,
    pub raft_purged_index: IntGauge,
    pub raft_replication_lag: IntGaugeVec,
    pub raft_replication_lag_seconds: GaugeVec,
    pub raft_members: IntGaugeVec,
    pub node_ready: IntGauge,
    pub sessions_active: IntGaugeVec,
    pub concurrency_slots_in_use: IntGauge,
    pub concurrency_slots_limit: IntGauge,
    pub concurrency_slots_held: IntGaugeVec,
    pub proposals_total: IntCounterVec,
    pub proposal_seconds: HistogramVec,
    pub http_requests_total: IntCounterVec,
    pub http_request_seconds: HistogramVec,
    pub api_cut_off_total: IntCounterVec,
    pub sessions_total: IntCounterVec,
    pub login_failures_total: IntCounterVec,
    pub password_checks_waiting: IntGauge,
    pub ssh_unauthenticated_connections: IntGauge,
    pub ssh_preauth_cut_total: IntCounterVec,
    pub database_unauthenticated_connections: IntGauge,
    pub database_preauth_cut_total: IntCounterVec,
    pub forwarded_bytes_total: IntCounterVec,
    pub forwarded_spliced_bytes_total: IntCounter,
    pub token_operations_total: IntCounterVec,
    pub raft_log_entries: IntGauge,
    pub raft_snapshot_bytes: IntGauge,
    pub raft_snapshot_building: IntGauge,
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn gauge_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn histogram_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    let buckets = vec![
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    ];
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("unique metric");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Create and register every metric.
    pub fn new() -> Self {
        let r = Registry::new();
        Metrics {
            raft_is_leader: gauge(
                &r,
                "portunus_raft_is_leader",
                "1 on the Raft leader, 0 elsewhere",
            ),
            raft_term: gauge(&r, "portunus_raft_term", "Current Raft term"),
            raft_leader_id: gauge(
                &r,
                "portunus_raft_leader_id",
                "Id of the known leader, 0 if none",
            ),
            raft_last_log_index: gauge(&r, "portunus_raft_last_log_index", "Last Raft log index"),
            raft_commit_index: gauge(
                &r,
                "portunus_raft_commit_index",
                "Highest log index known committed (held by a majority)",
            ),
            raft_applied_index: gauge(&r, "portunus_raft_applied_index", "Last applied log index"),
            raft_snapshot_index: gauge(
                &r,
                "portunus_raft_snapshot_index",
                "Log index of the latest snapshot",
            ),
            raft_purged_index: gauge(&r, "portunus_raft_purged_index", "Highest purged log index"),
            raft_replication_lag: gauge_vec(
                &r,
                "portunus_raft_replication_lag_entries",
                "On the leader: log entries each peer is behind",
                &["peer"],
            ),
            raft_replication_lag_seconds: {
                let g = GaugeVec::new(
                    Opts::new(
                        "portunus_raft_replication_lag_seconds",
                        "On the leader: age of the oldest log entry each peer does not hold yet \
                         (0 when it holds them all)",
                    ),
                    &["peer"],
                )
                .expect("valid metric");
                r.register(Box::new(g.clone())).expect("unique metric");
                g
            },
            raft_members: gauge_vec(
                &r,
                "portunus_raft_members",
                "Cluster members: voters, learners, and how many of them are witnesses",
                &["kind"],
            ),
            node_ready: gauge(
                &r,
                "portunus_node_ready",
                "1 when the node accepts new sessions",
            ),
            sessions_active: gauge_vec(
                &r,
                "portunus_sessions_active",
                "O&M sessions open on this node",
                &["protocol"],
            ),
            concurrency_slots_in_use: gauge(
                &r,
                "portunus_concurrency_slots_in_use",
                "Concurrency slots held cluster-wide",
            ),
            concurrency_slots_held: gauge_vec(
                &r,
                "portunus_concurrency_slots_held",
                "Concurrency slots each member holds, as the replicated state says \
                 (a dead member's go to 0 when the leader reclaims them)",
                &["node"],
            ),
            concurrency_slots_limit: gauge(
                &r,
                "portunus_concurrency_slots_limit",
                "Cluster-wide concurrency limit (0 means unlimited)",
            ),
            proposals_total: counter_vec(
                &r,
                "portunus_raft_proposals_total",
                "Replicated writes proposed on this node, by outcome",
                &["outcome"],
            ),
            proposal_seconds: histogram_vec(
                &r,
                "portunus_raft_commit_seconds",
                "Time from proposal to applied answer",
                &["outcome"],
            ),
            http_requests_total: counter_vec(
                &r,
                "portunus_api_requests_total",
                "HTTP requests by route and status",
                &["route", "status"],
            ),
            http_request_seconds: histogram_vec(
                &r,
                "portunus_api_request_seconds",
                "HTTP request latency by route",
                &["route"],
            ),
            api_cut_off_total: {
                let c = counter_vec(
                    &r,
                    "portunus_api_cut_off_total",
                    "API clients cut off before their request was served, by reason (TLS \
                     handshake, header or body timeout, body too large, connection or body \
                     upload limit)",
                    &["reason"],
                );
                for why in crate::limits::CutOff::ALL {
                    c.with_label_values(&[why.label()]);
                }
                c
            },
            sessions_total: counter_vec(
                &r,
                "portunus_sessions_total",
                "O&M sessions ended on this node, by protocol and how they ended",
                &["protocol", "outcome"],
            ),
            login_failures_total: counter_vec(
                &r,
                "portunus_login_failures_total",
                "Refused SSH logins and session opens on this node, by reason",
                &["reason"],
            ),
            password_checks_waiting: gauge(
                &r,
                "portunus_password_checks_waiting",
                "Password logins waiting for a turn to check their password (argon2 runs a few \
                 at a time)",
            ),
            ssh_unauthenticated_connections: gauge(
                &r,
                "portunus_ssh_unauthenticated_connections",
                "SSH connections open on this node that have not logged in yet",
            ),
            ssh_preauth_cut_total: counter_vec(
                &r,
                "portunus_ssh_preauth_cut_total",
                "SSH connections cut before login, by reason (total_cap, address_cap: refused at \
                 connect; grace_time: no login in time)",
                &["reason"],
            ),
            database_unauthenticated_connections: gauge(
                &r,
                "portunus_database_unauthenticated_connections",
                "Connections open on this node's native database ports (MySQL and PostgreSQL) \
                 that have not logged in yet",
            ),
            database_preauth_cut_total: counter_vec(
                &r,
                "portunus_database_preauth_cut_total",
                "Connections to the native database ports cut before login, by reason \
                 (total_cap, address_cap: refused at connect; grace_time: no login in time)",
                &["reason"],
            ),
            forwarded_bytes_total: counter_vec(
                &r,
                "portunus_forwarded_bytes_total",
                "Bytes relayed by ended sessions, by direction (up: client to target)",
                &["direction"],
            ),
            forwarded_spliced_bytes_total: counter(
                &r,
                "portunus_forwarded_spliced_bytes_total",
                "Of the bytes relayed down by ended sessions, those moved by splice(2) without a \
                 copy through the node's memory (native database ports, plain TCP both ways)",
            ),
            token_operations_total: counter_vec(
                &r,
                "portunus_token_operations_total",
                "O&M token operations on this node, by operation and outcome",
                &["operation", "outcome"],
            ),
            raft_log_entries: gauge(
                &r,
                "portunus_raft_log_entries",
                "Raft log entries kept (not yet purged)",
            ),
            raft_snapshot_bytes: gauge(
                &r,
                "portunus_raft_snapshot_bytes",
                "Size of the latest stored snapshot",
            ),
            raft_snapshot_building: gauge(
                &r,
                "portunus_raft_snapshot_building",
                "1 while this node builds a snapshot of its state (clone, encode, write), else 0",
            ),
            registry: r,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding of gathered metrics");
        String::from_utf8(out).expect("exposition is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_names_are_exported() {
        let m = Metrics::new();
        m.sessions_active.with_label_values(&["ssh"]).set(2);
        m.raft_is_leader.set(1);
        let text = m.render();
        for name in [
            "portunus_raft_is_leader 1",
            "portunus_sessions_active{protocol=\"ssh\"} 2",
            "portunus_concurrency_slots_in_use 0",
            "portunus_concurrency_slots_limit 0",
        ] {
            assert!(text.contains(name), "missing {name} in\n{text}");
        }
    }
}

#[cfg(test)]
mod dashboard_tests {
    /// Every metric the shipped Grafana dashboard queries is one this module exports.
    #[test]
    fn the_dashboard_queries_only_exported_metrics() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dashboard =
            std::fs::read_to_string(dir.join("../deploy/grafana-dashboard.json")).unwrap();
        let source = std::fs::read_to_string(dir.join("src/metrics.rs")).unwrap();
        let mut names = Vec::new();
        let mut rest = dashboard.as_str();
        while let Some(i) = rest.find("portunus_") {
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(tail.len());
            names.push(tail[..end].to_string());
            rest = &tail[end..];
        }
        assert!(names.len() > 10, "the dashboard queries metrics");
        for name in names {
            let base = ["_bucket", "_count", "_sum"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            if base == "portunus_cluster" {
                continue;
            }
            assert!(
                source.contains(&format!("\"{base}\"")),
                "dashboard uses unknown metric {base}"
            );
        }
    }
}
