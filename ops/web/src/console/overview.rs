//! The console's overview: the instance, the O&M addresses to hand to engineers (the address
//! the browser used, which behind the balancer serves every port, and this node's SSH, MySQL
//! and API ports), and the members of the cluster as this node sees them (kind, leader,
//! replication as the leader reports it, open sessions per node from the replicated state).

use crate::error::WebError;
use crate::portal::om_address;
use crate::Web;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::Json;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Entries a member may be behind the leader's log and still be called in sync (a few
/// proposals in flight).
const IN_SYNC_ENTRIES: u64 = 16;

/// `GET /web/api/console/overview`.
pub(crate) async fn overview(
    State(web): State<Web>,
    ext: axum::http::Extensions,
    headers: HeaderMap,
) -> Result<Json<Value>, WebError> {
    web.console_reader(&headers).await?;
    let status = web.gate.cluster_status();
    let mut open: BTreeMap<u64, usize> = BTreeMap::new();
    let mut hosts = 0;
    let mut users = 0;
    let mut endpoints = (String::new(), String::new());
    web.backend.read(&mut |s| {
        for x in s.open_sessions() {
            *open.entry(x.node_id).or_default() += 1;
        }
        hosts = s.hosts().count();
        users = s.users().count();
        endpoints = (
            s.instance().internet_endpoint.clone(),
            s.instance().intranet_endpoint.clone(),
        );
    });
    let api_port = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok());
    Ok(Json(json!({
        "instance_id": web.backend.instance_id(),
        "address": om_address(&web, &headers, crate::login::client_of(&ext).ip()),
        "internet_endpoint": endpoints.0,
        "intranet_endpoint": endpoints.1,
        "ssh_port": web.gate.ssh_port(),
        "api_port": api_port,
        "served_by": status["node_id"],
        "leader": status["leader"],
        "ready": status["ready"],
        "members": members(&status, &open),
        "hosts": hosts,
        "users": users,
    })))
}

/// One row per member: id, kind, voter, leader, addresses, replication, open sessions.
fn members(status: &Value, open: &BTreeMap<u64, usize>) -> Vec<Value> {
    let leader = status["leader"].as_u64();
    let me = status["node_id"].as_u64();
    let on_leader = leader.is_some() && leader == me;
    let last = status["last_log_index"].as_u64().unwrap_or(0);
    let nodes = status["nodes"].as_array().cloned().unwrap_or_default();
    nodes
        .iter()
        .map(|n| {
            let id = n["id"].as_u64().unwrap_or(0);
            let matched = n["matched_index"].as_u64();
            let (health, lag) = match (on_leader, matched) {
                _ if Some(id) == leader => ("leader".to_string(), Some(0)),
                (true, Some(m)) => {
                    let behind = last.saturating_sub(m);
                    let words = if behind <= IN_SYNC_ENTRIES {
                        "in sync".to_string()
                    } else {
                        format!("{behind} entries behind")
                    };
                    (words, Some(behind))
                }
                (true, None) => ("not answering the leader".to_string(), None),
                (false, _) => ("known to the leader only".to_string(), None),
            };
            json!({
                "id": id,
                "kind": n["kind"],
                "voter": n["voter"],
                "leader": Some(id) == leader,
                "this_node": Some(id) == me,
                "api_addr": n["info"]["api_addr"],
                "ssh_addr": n["info"]["ssh_addr"],
                "health": health,
                "lag_entries": lag,
                "open_sessions": open.get(&id).copied().unwrap_or(0),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_tells_how_far_each_member_is_behind() {
        let status = json!({
            "node_id": 1, "leader": 1, "last_log_index": 100,
            "nodes": [
                {"id": 1, "kind": "engine", "voter": true, "matched_index": 100, "info": {}},
                {"id": 2, "kind": "engine", "voter": true, "matched_index": 40, "info": {}},
                {"id": 3, "kind": "witness", "voter": true, "matched_index": null, "info": {}},
            ],
        });
        let open = BTreeMap::from([(2, 3)]);
        let rows = members(&status, &open);
        assert_eq!(rows[0]["health"], "leader");
        assert_eq!(rows[1]["health"], "60 entries behind");
        assert_eq!(rows[1]["open_sessions"], 3);
        assert_eq!(rows[2]["health"], "not answering the leader");
        let follower = json!({"node_id": 2, "leader": 1, "last_log_index": 100,
                              "nodes": status["nodes"].clone()});
        let rows = members(&follower, &open);
        assert_eq!(rows[1]["health"], "known to the leader only");
        assert_eq!(rows[0]["leader"], true);
    }
}
