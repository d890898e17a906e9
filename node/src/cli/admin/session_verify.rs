//! `portunus admin session verify [ID...] [--head HEX]`: checks the session trail on the
//! caller's side. The node walks the chain of closed sessions (VerifySessionTrail); then every
//! closed session's record is listed and its hash recomputed here, each linked to the one
//! closed before it and the newest to the node's head; and each session named is checked
//! against its events: the listed event lines, chained again here, must give the count and
//! head its closing record holds.

use super::{params, print_json, Api};
use anyhow::{bail, Context};
use portunus_model::session_trail::record_hash;
use portunus_model::{
    AssetRef, AuditHash, EndReason, EventsDigest, Protocol, Session, SessionAccount,
};
use serde_json::Value;
use std::collections::BTreeMap;

pub(super) async fn verify(
    api: &Api,
    sessions: Vec<u64>,
    noted: Option<String>,
    json: bool,
) -> anyhow::Result<()> {
    let body = api.call("VerifySessionTrail", &[]).await?;
    if json {
        print_json(&body)?;
    } else {
        say!(
            "closed sessions {}..{} ({} kept), head {}",
            body["FirstSeq"],
            body["LastSeq"],
            body["SessionCount"],
            body["Head"].as_str().unwrap_or("")
        );
    }
    match body["Verified"].as_bool() {
        Some(true) => {}
        Some(false) => bail!(
            "the session trail is broken at closed session {}: {}",
            body["BrokenAtSeq"],
            body["Problem"].as_str().unwrap_or("")
        ),
        None => bail!("the node's answer does not say whether the session trail verifies"),
    }
    let listed = api.all("ListSessions", "Sessions", &[]).await?;
    let checked = recompute_trail(&body, &listed, noted.as_deref())?;
    if !json {
        say!("recomputed {checked} closed sessions here: the session trail verifies");
    }
    for id in sessions {
        let text = id.to_string();
        let Some(view) = listed.iter().find(|v| v["SessionId"] == text.as_str()) else {
            bail!("session {id} is not in the cluster's session list");
        };
        let p = params(&[("SessionId", Some(&text))]);
        let events = api.all("ListSessionEvents", "Events", &p).await?;
        let count = check_events(id, view, &events)?;
        if !json {
            say!("session {id}: {count} events match its closing record");
        }
    }
    Ok(())
}

fn text<'a>(v: &'a Value, k: &str) -> anyhow::Result<&'a str> {
    v[k].as_str()
        .with_context(|| format!("the node's answer has no {k}: {v}"))
}

fn hash(v: &Value, k: &str) -> anyhow::Result<AuditHash> {
    let h = text(v, k)?;
    match hex::decode(h)
        .ok()
        .and_then(|b| AuditHash::try_from(b).ok())
    {
        Some(h) => Ok(h),
        None => bail!("{k} {h:?} is not a SHA-256 in hex"),
    }
}

fn id_of(v: &Value, k: &str) -> anyhow::Result<u64> {
    text(v, k)?
        .parse()
        .with_context(|| format!("{k} of {v} is not a number"))
}

/// Recomputes the chain of closed sessions from their listed records: each record's hash from
/// its fields, each link to the record closed before it (the first to the anchor), the newest
/// to the head. Sessions closed after the node's answer are ignored. Returns how many records
/// were checked.
fn recompute_trail(answer: &Value, listed: &[Value], noted: Option<&str>) -> anyhow::Result<usize> {
    let (anchor, head) = (hash(answer, "Anchor")?, hash(answer, "Head")?);
    let last = answer["LastSeq"]
        .as_u64()
        .context("the node's answer has no LastSeq")?;
    let mut by_seq = BTreeMap::new();
    for v in listed {
        if let Some(seq) = v["ChainSeq"].as_u64().filter(|s| *s <= last) {
            by_seq.insert(seq, v);
        }
    }
    let mut expected = anchor;
    let mut prev: Option<u64> = None;
    let mut seen = vec![anchor];
    for (seq, v) in &by_seq {
        let id = text(v, "SessionId")?;
        if prev.is_some_and(|p| p + 1 != *seq) {
            bail!(
                "closed session {seq} (session {id}) does not follow {prev:?}: records are missing"
            );
        }
        if hash(v, "PrevHash")? != expected {
            bail!("closed session {seq} (session {id}) does not link to the record before it");
        }
        expected = record_hash(*seq, &expected, &session_of(v)?);
        if hash(v, "Hash")? != expected {
            bail!("the record of session {id} does not match its hash: it was changed");
        }
        seen.push(expected);
        prev = Some(*seq);
    }
    if expected != head {
        bail!("the newest closed session does not match the head the node reports");
    }
    if let Some(noted) = noted {
        if !seen.iter().any(|h| hex::encode(h) == noted.trim()) {
            bail!(
                "the head {noted} noted earlier is not in the session trail: records before it \
                 were rewritten, or purged"
            );
        }
    }
    Ok(seen.len() - 1)
}

/// A session record rebuilt from its API view (the fields its hash covers).
fn session_of(v: &Value) -> anyhow::Result<Session> {
    let asset_id = id_of(v, "AssetId")?;
    let asset = match text(v, "AssetType")? {
        "Host" => AssetRef::Host(asset_id),
        "Database" => AssetRef::Database(asset_id),
        other => bail!("unknown AssetType {other:?}"),
    };
    let account = match v["HostedAccountId"].as_str() {
        Some(a) => SessionAccount::Hosted(a.parse()?),
        None => SessionAccount::Custom(text(v, "AccountName")?.to_string()),
    };
    let protocol = text(v, "Protocol")?;
    let all = [
        Protocol::Ssh,
        Protocol::Rdp,
        Protocol::MySql,
        Protocol::PostgreSql,
        Protocol::SqlServer,
        Protocol::Oracle,
    ];
    let Some(protocol) = all.into_iter().find(|p| p.api_name() == protocol) else {
        bail!("unknown Protocol {protocol:?}");
    };
    let end_reason = match v["EndReason"].as_str() {
        None => None,
        Some("Normal") => Some(EndReason::Normal),
        Some("Terminated") => Some(EndReason::Terminated),
        Some("Timeout") => Some(EndReason::Timeout),
        Some("NodeLost") => Some(EndReason::NodeLost),
        Some("Error") => Some(EndReason::Error),
        Some("NotAdmitted") => Some(EndReason::NotAdmitted),
        Some(other) => bail!("unknown EndReason {other:?}"),
    };
    let events = match v["EventCount"].as_u64() {
        Some(count) => Some(EventsDigest {
            count,
            head: hash(v, "EventsHead")?,
        }),
        None => None,
    };
    let num = |k: &str| v[k].as_u64().with_context(|| format!("no {k} in {v}"));
    Ok(Session {
        id: id_of(v, "SessionId")?,
        user_id: id_of(v, "UserId")?,
        token_id: match v["TokenId"].as_str() {
            Some(t) => Some(t.parse()?),
            None => None,
        },
        node_id: id_of(v, "NodeId")?,
        node_epoch: 0,
        client_addr: text(v, "ClientAddress")?.to_string(),
        asset,
        account,
        protocol,
        started_at_ms: num("StartTime")?,
        ended_at_ms: v["EndTime"].as_u64(),
        bytes_up: num("BytesUp")?,
        bytes_down: num("BytesDown")?,
        end_reason,
        terminate_requested: false,
        events,
        link: None,
    })
}

/// Chains the listed events of session `id` again (each printed back as the node wrote it:
/// serde_json with sorted keys) and compares with the digest of its closing record.
fn check_events(id: u64, view: &Value, events: &[Value]) -> anyhow::Result<u64> {
    if view["State"] != "Closed" {
        bail!("session {id} is still open: its events are chained when it closes");
    }
    let Some(count) = view["EventCount"].as_u64() else {
        if events.is_empty() {
            return Ok(0);
        }
        bail!(
            "session {id} was closed without its node (no events digest in its record), yet {} \
             events are stored for it: they cannot be verified",
            events.len()
        );
    };
    let mut digest = EventsDigest::start(id);
    for e in events {
        digest.push(serde_json::to_string(e)?.as_bytes());
    }
    if digest.count != count {
        bail!(
            "session {id}: its closing record holds {count} events but {} are stored: events \
             were removed or added",
            digest.count
        );
    }
    if digest.head != hash(view, "EventsHead")? {
        bail!("session {id}: its stored events do not match its closing record: they were changed or reordered");
    }
    Ok(count)
}
