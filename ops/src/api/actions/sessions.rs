//! Session audit (Portunus extensions): ListSessions — every session the cluster admitted, open
//! or closed, with who, what, where from, through which node, how it ended — and
//! ListSessionEvents — a session's command lines, file operations, tunnels and database
//! statements, read from the parts replicated while it ran and when it closed (any node serves
//! it; a `Note` says when they are not all there) —
//! and VerifySessionTrail — the hash chain of closed sessions walked on the node
//! (Admin and Auditor keys); TerminateSession ends an open one (Admin). Each closed session's view carries its place in the chain and its
//! events' digest, so a caller recomputes every hash itself (`portunus admin session verify`).

use crate::api::call::{done, found, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{page_of, page_start};
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{AssetRef, ChainBreak, Command, EntityKind, Session, SessionAccount, State};
use serde_json::{json, Map, Value};

pub static ACTIONS: &[Action] = &[
    action!(
        "ListSessions",
        Read,
        list,
        "Lists sessions, newest first (Portunus extension): user, asset, account, protocol, \
         serving node, client address, start and end (unix milliseconds), end reason, bytes; \
         for a closed session its place in the session trail (ChainSeq, PrevHash, Hash) and \
         its events' digest (EventCount, EventsHead). State is Open or Closed; \
         StartTime/EndTime bound the start (inclusive); SessionId picks one; ProjectId keeps \
         the sessions on assets now in that project.",
        [
            opt("SessionId", Ty::Id),
            opt("ProjectId", Ty::Id),
            opt("UserName", Ty::Str),
            opt("AssetName", Ty::Str),
            opt("AccountName", Ty::Str),
            opt("Protocol", Ty::Str),
            opt("State", Ty::Str),
            opt("NodeId", Ty::Id),
            opt("ClientAddress", Ty::Str),
            opt("StartTime", Ty::Int),
            opt("EndTime", Ty::Int),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ListSessionEvents",
        Read,
        events,
        "Lists a session's audit events in order (Portunus extension): `command` \
         lines, `file` operations, `tunnel` connections and database `statement`s (text, bound \
         parameters, result, rows, duration). EventType keeps one kind. An open session's \
         events are those stored so far (every few seconds); `Note` says when the list is not \
         the session's whole record (still open, or parts missing).",
        [
            req("SessionId", Ty::Id),
            opt("EventType", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "TerminateSession",
        Write,
        terminate,
        "Ends an open session on whichever node serves it (Portunus extension): the node \
         closes the engineer's connection within about a second and records the end reason \
         Terminated.",
        [req("SessionId", Ty::Id)]
    ),
    action!(
        "VerifySessionTrail",
        Read,
        verify,
        "Walks the hash chain of closed sessions (each record, with its events' count and \
         head, linked to the one closed before) from its anchor to its head and reports the \
         first broken link (Portunus extension).",
        []
    ),
];

/// The API view of a session.
pub fn view(s: &State, x: &Session) -> Value {
    let (kind, asset) = match x.asset {
        AssetRef::Host(id) => ("Host", s.host(id).map(|h| h.name.clone())),
        AssetRef::Database(id) => ("Database", s.database(id).map(|d| d.name.clone())),
    };
    let account = match (&x.account, x.asset) {
        (SessionAccount::Custom(name), _) => Some(name.clone()),
        (SessionAccount::Hosted(a), AssetRef::Host(_)) => {
            s.host_account(*a).map(|a| a.name.clone())
        }
        (SessionAccount::Hosted(a), AssetRef::Database(_)) => {
            s.database_account(*a).map(|a| a.name.clone())
        }
    };
    let asset_id = match x.asset {
        AssetRef::Host(id) | AssetRef::Database(id) => id,
    };
    json!({
        "SessionId": x.id.to_string(),
        "UserId": x.user_id.to_string(),
        "UserName": s.user(x.user_id).map(|u| u.name.clone()).unwrap_or_default(),
        "AssetType": kind,
        "AssetId": asset_id.to_string(),
        "AssetName": asset.unwrap_or_default(),
        "AccountName": account.unwrap_or_default(),
        "Protocol": x.protocol.to_string(),
        "NodeId": x.node_id.to_string(),
        "ClientAddress": x.client_addr,
        "StartTime": x.started_at_ms,
        "EndTime": x.ended_at_ms,
        "State": if x.is_open() { "Open" } else { "Closed" },
        "EndReason": x.end_reason.map(|r| format!("{r:?}")),
        "BytesUp": x.bytes_up,
        "BytesDown": x.bytes_down,
        "TokenId": x.token_id.map(|t| t.to_string()),
        "HostedAccountId": match x.account {
            SessionAccount::Hosted(a) => Some(a.to_string()),
            SessionAccount::Custom(_) => None,
        },
        "EventCount": x.events.map(|d| d.count),
        "EventsHead": x.events.map(|d| hex::encode(d.head)),
        "ChainSeq": x.link.map(|l| l.seq),
        "PrevHash": x.link.map(|l| hex::encode(l.prev)),
        "Hash": x.link.map(|l| hex::encode(l.hash)),
    })
}

async fn terminate(c: &Call) -> ApiResult {
    let session_id = c.p.id("SessionId")?;
    c.propose(Command::RequestTermination { session_id })
        .await?;
    Ok(done())
}

async fn verify(c: &Call) -> ApiResult {
    let out = c
        .read(|s| {
            let trail = s.session_trail();
            let result = s.verify_session_trail();
            let mut m = Map::new();
            m.insert("Verified".into(), result.is_ok().into());
            m.insert("SessionCount".into(), trail.len().into());
            let first = trail.order().next().map_or(0, |(seq, _)| seq);
            m.insert("FirstSeq".into(), first.into());
            m.insert("LastSeq".into(), trail.last_seq().into());
            m.insert("Anchor".into(), hex::encode(trail.anchor()).into());
            m.insert("Head".into(), hex::encode(trail.head()).into());
            if let Err(broken) = result {
                let at = match broken {
                    ChainBreak::Link { seq } | ChainBreak::Gap { seq } => seq,
                    ChainBreak::Head => trail.last_seq(),
                };
                m.insert("BrokenAtSeq".into(), at.into());
                m.insert("Problem".into(), broken.to_string().into());
            }
            m
        })
        .await?;
    Ok(out)
}

async fn list(c: &Call) -> ApiResult {
    let paging = c.p.page()?;
    let state = c.p.opt("State");
    if let Some(v) = state {
        if !matches!(v, "Open" | "Closed") {
            return Err(ApiError::invalid("State", "expected Open or Closed"));
        }
    }
    let node: Option<u64> = c.p.num("NodeId")?;
    let project = crate::api::actions::projects::project_param(c, "ProjectId")?;
    let only: Option<u64> = c.p.num("SessionId")?;
    let (start, end): (Option<u64>, Option<u64>) = (c.p.num("StartTime")?, c.p.num("EndTime")?);
    let text = |k: &str| c.p.opt(k).map(str::to_string);
    let (user, asset, account, protocol, client) = (
        text("UserName"),
        text("AssetName"),
        text("AccountName"),
        text("Protocol"),
        text("ClientAddress"),
    );
    let (items, total) = c
        .read(|s| {
            let by_name = [&user, &asset, &account, &protocol]
                .iter()
                .any(|w| w.is_some());
            let unfiltered = !by_name
                && only.is_none()
                && node.is_none()
                && project.is_none()
                && start.is_none()
                && end.is_none()
                && state.is_none()
                && client.is_none();
            if unfiltered {
                // A page of the whole list, newest first, without walking the newer sessions.
                let rows = s
                    .newest_sessions(page_start(paging), paging.1)
                    .map(|x| view(s, x))
                    .collect();
                return (rows, s.session_count());
            }
            // Newest first.
            let rows = s
                .sessions()
                .rev()
                .filter(|x| only.is_none_or(|id| x.id == id))
                .filter(|x| node.is_none_or(|n| x.node_id == n))
                .filter(|x| project.is_none_or(|p| s.asset_project(x.asset) == Some(p)))
                .filter(|x| start.is_none_or(|t| x.started_at_ms >= t))
                .filter(|x| end.is_none_or(|t| x.started_at_ms <= t))
                .filter(|x| state.is_none_or(|v| (v == "Open") == x.is_open()))
                .filter(|x| {
                    client
                        .as_deref()
                        .is_none_or(|a| x.client_addr.starts_with(a))
                })
                .filter(|x| {
                    // The names are the view's: it is made for the sessions filtered by them.
                    if !by_name {
                        return true;
                    }
                    let v = view(s, x);
                    let is = |k: &str, want: &Option<String>| {
                        want.as_deref().is_none_or(|w| {
                            v[k].as_str().is_some_and(|x| x.eq_ignore_ascii_case(w))
                        })
                    };
                    is("UserName", &user)
                        && is("AssetName", &asset)
                        && is("AccountName", &account)
                        && is("Protocol", &protocol)
                });
            page_of(rows, paging, |x| view(s, x))
        })
        .await?;
    Ok(page("Sessions", items, total))
}

async fn events(c: &Call) -> ApiResult {
    let id: u64 = c.p.id("SessionId")?;
    let paging = c.p.page()?;
    let kind = c.p.opt("EventType").map(str::to_string);
    if let Some(k) = &kind {
        if !matches!(
            k.as_str(),
            "command" | "file" | "tunnel" | "statement" | "refused"
        ) {
            return Err(ApiError::invalid(
                "EventType",
                "expected command, file, tunnel, statement or refused",
            ));
        }
    }
    let session = c
        .read(|s| s.session(id).map(|x| (x.is_open(), x.events)))
        .await?;
    let (open, digest) = found(session, EntityKind::Session, id)?;
    let Some(stored) = c.backend.session_events(id).await else {
        let words = match (open, digest) {
            (true, _) => "the session is still open and none of its events are stored yet (an \
                          open session's events are stored every few seconds)"
                .to_string(),
            (false, Some(d)) if d.count == 0 => "the session had no events".to_string(),
            (false, Some(d)) => format!(
                "its closing record counts {} events, but no member of the cluster holds any \
                 of them: storing them failed, or every copy was lost",
                d.count
            ),
            (false, None) => "the session was closed without its node (the node stopped \
                              first), and no member holds events the node stored before"
                .to_string(),
        };
        return Ok(page_with_note(Vec::new(), 0, &words));
    };
    let text = String::from_utf8_lossy(&stored.lines);
    let (items, total) = event_page(&text, kind.as_deref(), paging);
    let note = match stored.expected {
        _ if open => Some(
            "the session is still open: these are its events stored so far (an open \
             session's events are stored every few seconds)"
                .to_string(),
        ),
        Some(n) if n == stored.parts => None,
        Some(n) => Some(format!(
            "the session's events are incomplete: {} of their {n} parts were found, no member \
             holds part {}",
            stored.parts, stored.parts
        )),
        None if digest.is_none() => Some(format!(
            "the session was closed without its node (the node stopped first): these are the \
             events it stored before ({} parts), the last seconds' are lost",
            stored.parts
        )),
        None => Some(format!(
            "no member holds the end marker of the session's events (storing it failed, or \
             every copy was lost): {} parts were found, there may be more",
            stored.parts
        )),
    };
    Ok(match note {
        None => page("Events", items, total),
        Some(note) => page_with_note(items, total, &note),
    })
}

/// One page of a session's event lines (JSON, one per line) of the kind asked for, and how many
/// there are in all. Only the page's events are built as values: the others are scanned for
/// their kind and checked to be JSON without building them, so a page of a long session (up to
/// 16 MiB of events) costs one scan of its lines rather than a value for every event in it.
/// Lines that are not JSON are skipped, as are, when a kind is asked for, lines without that
/// `type`.
fn event_page(lines: &str, kind: Option<&str>, paging: (usize, usize)) -> (Vec<Value>, usize) {
    /// An event's `type`, borrowed unless it holds escapes; its other fields are skipped.
    #[derive(serde::Deserialize)]
    struct Typed<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<std::borrow::Cow<'a, str>>,
    }
    let counts = |line: &str| match kind {
        None => serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok(),
        Some(k) => serde_json::from_str::<Typed>(line).is_ok_and(|t| t.kind.as_deref() == Some(k)),
    };
    let (start, size) = (page_start(paging), paging.1);
    let mut items = Vec::new();
    let mut total = 0;
    for line in lines.lines() {
        let counted = if total >= start && items.len() < size {
            match serde_json::from_str::<Value>(line) {
                Ok(e) if kind.is_none_or(|k| e["type"] == k) => {
                    items.push(e);
                    true
                }
                _ => false,
            }
        } else {
            counts(line)
        };
        total += usize::from(counted);
    }
    (items, total)
}

fn page_with_note(items: Vec<Value>, total: usize, note: &str) -> serde_json::Map<String, Value> {
    let mut m = page("Events", items, total);
    m.insert("Note".into(), note.into());
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::params::paginate;

    /// Every line of a session's events built as a value, then filtered and paged: what
    /// `event_page` must answer without building them all.
    fn every_value(lines: &str, kind: Option<&str>, paging: (usize, usize)) -> (Vec<Value>, usize) {
        let events: Vec<Value> = lines
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| kind.is_none_or(|k| e["type"] == k))
            .collect();
        paginate(events, paging)
    }

    const LINES: &str = concat!(
        r#"{"type":"command","line":"ls -la"}"#,
        "\n",
        r#"{"type":"file","op":"put","path":"/tmp/a"}"#,
        "\n",
        "not json at all\n",
        r#"{"type":"comm\u0061nd","line":"escaped kind"}"#,
        "\n",
        "42\n",
        r#"{"line":"no kind"}"#,
        "\n",
        r#"{"type":"statement","text":"SELECT 1","rows":1}"#,
        "\n",
        r#"{"type":"command","line":"exit""#,
        "\n",
        r#"{"type":7,"line":"a kind that is no string"}"#,
        "\n",
        r#"{"type":"command","line":"last"}"#,
    );

    #[test]
    fn a_page_of_events_is_what_building_every_event_gives() {
        for kind in [
            None,
            Some("command"),
            Some("file"),
            Some("statement"),
            Some("refused"),
        ] {
            for size in 1..=4 {
                for number in 1..=12 {
                    let paging = (number, size);
                    assert_eq!(
                        event_page(LINES, kind, paging),
                        every_value(LINES, kind, paging),
                        "kind {kind:?}, page {number} of size {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn events_are_counted_by_kind_and_bad_lines_skipped() {
        let (items, total) = event_page(LINES, Some("command"), (1, 10));
        assert_eq!(total, 3, "three commands, one with an escaped kind");
        let said: Vec<&str> = items.iter().filter_map(|e| e["line"].as_str()).collect();
        assert_eq!(said, ["ls -la", "escaped kind", "last"]);
        // Every line that is JSON counts without a kind: 8 of the 10 (one is not JSON, and
        // the one cut short is not either); the fourth of them is the bare number.
        let (items, total) = event_page(LINES, None, (2, 3));
        assert_eq!(total, 8);
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], json!(42));
        let (items, total) = event_page(LINES, None, (9, 3));
        assert_eq!((items.len(), total), (0, 8), "a page past the end is empty");
    }
}
