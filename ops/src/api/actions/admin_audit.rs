//! The admin audit trail (Portunus extensions): ListAdminAuditLogs and VerifyAdminAuditLog,
//! for Admin and Auditor keys. Both read after a linearizable barrier.

use crate::api::call::{page, Call};
use crate::api::error::ApiResult;
use crate::api::params::paginate;
use crate::api::table::{action, opt, Action, Ty};
use portunus_model::admin_audit::role_name;
use portunus_model::{AdminAuditEntry, ChainBreak};
use serde_json::{json, Map, Value};

pub static ACTIONS: &[Action] = &[
    action!(
        "ListAdminAuditLogs",
        Read,
        list,
        "Lists the admin audit trail, newest first (Portunus extension): API calls that change \
         the state, with caller, source address, parameters without secrets and result. \
         StartTime and EndTime are unix milliseconds (inclusive).",
        [
            opt("ActionName", Ty::Str),
            opt("AccessKeyId", Ty::Str),
            opt("StartTime", Ty::Int),
            opt("EndTime", Ty::Int),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "VerifyAdminAuditLog",
        Read,
        verify,
        "Walks the admin audit trail's hash chain from its anchor to its head and reports the \
         first broken link (Portunus extension).",
        []
    ),
];

/// The API view of one entry.
pub fn view(e: &AdminAuditEntry) -> Value {
    let r = &e.record;
    json!({
        "Seq": e.seq,
        "Time": e.at_ms,
        "AccessKeyId": r.access_key_id,
        "Role": role_name(r.role),
        "UserId": r.user_id.map(|u| u.to_string()).unwrap_or_default(),
        "Source": r.source,
        "ActionName": r.action,
        "Parameters": r.params,
        "Result": r.result,
        "PrevHash": hex::encode(e.prev_hash),
        "Hash": hex::encode(e.hash()),
    })
}

async fn list(c: &Call) -> ApiResult {
    let paging = c.p.page()?;
    let action = c.p.opt("ActionName");
    let key = c.p.opt("AccessKeyId");
    let start: Option<u64> = c.p.num("StartTime")?;
    let end: Option<u64> = c.p.num("EndTime")?;
    let (items, total) = c
        .read(|s| {
            let matching: Vec<&AdminAuditEntry> = s
                .admin_audit()
                .entries()
                .rev()
                .filter(|e| action.is_none_or(|a| e.record.action == a))
                .filter(|e| key.is_none_or(|k| e.record.access_key_id == k))
                .filter(|e| start.is_none_or(|t| e.at_ms >= t))
                .filter(|e| end.is_none_or(|t| e.at_ms <= t))
                .collect();
            let (items, total) = paginate(matching, paging);
            (items.into_iter().map(view).collect::<Vec<_>>(), total)
        })
        .await?;
    Ok(page("AdminAuditLogs", items, total))
}

async fn verify(c: &Call) -> ApiResult {
    let out = c
        .read(|s| {
            let log = s.admin_audit();
            let mut m = Map::new();
            let result = log.verify();
            m.insert("Verified".into(), result.is_ok().into());
            m.insert("EntryCount".into(), log.len().into());
            let first = log.entries().next().map_or(0, |e| e.seq);
            m.insert("FirstSeq".into(), first.into());
            m.insert("LastSeq".into(), log.last_seq().into());
            m.insert("Anchor".into(), hex::encode(log.anchor()).into());
            m.insert("Head".into(), hex::encode(log.head()).into());
            if let Err(broken) = result {
                let at = match broken {
                    ChainBreak::Link { seq } | ChainBreak::Gap { seq } => seq,
                    ChainBreak::Head => log.last_seq(),
                };
                m.insert("BrokenAtSeq".into(), at.into());
                m.insert("Problem".into(), broken.to_string().into());
            }
            m
        })
        .await?;
    Ok(out)
}
