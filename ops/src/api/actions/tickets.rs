//! O&M approval requests: CreateOperationTicket (an engineer asks, with the user's own
//! Operator key; an Admin key names the user with `UserId`), ListOperationTickets,
//! AcceptOperationTicket, RejectOperationTicket. Where a control policy has O&M approval on,
//! a logon needs an approved request (see the control policies).

use crate::api::call::{done, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, ParamSpec, Ty};
use portunus_model::{
    AssetRef, Command, NewTicket, OperationTicket, Protocol, State, TicketDecision, TicketState,
};
use serde_json::{json, Value};

const TICKET: ParamSpec = req("OperationTicketId", Ty::Id);
const PROJECT: ParamSpec = opt("ProjectId", Ty::Str);

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateOperationTicket",
        Token,
        create,
        "Asks for O&M access to an asset's account over a protocol, for a period (seconds), \
         once or without count, for the key's user; an Admin key may name another user \
         (UserId, a Portunus extension).",
        [
            req("AssetId", Ty::Id),
            req("AssetAccountName", Ty::Str),
            req("ProtocolName", Ty::Str),
            req("ApproveComment", Ty::Str),
            opt("EffectStartTime", Ty::Int),
            opt("EffectEndTime", Ty::Int),
            opt("IsOneTimeEffect", Ty::Bool),
            opt("UserId", Ty::Id),
            PROJECT
        ]
    ),
    action!(
        "ListOperationTickets",
        Read,
        list,
        "Lists O&M approval requests waiting for a decision (AssetAddress: exact match).",
        [
            opt("AssetAddress", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
            PROJECT
        ]
    ),
    action!(
        "AcceptOperationTicket",
        Write,
        accept,
        "Approves a request, optionally narrowing its period (seconds) and logons.",
        [
            TICKET,
            opt("EffectStartTime", Ty::Int),
            opt("EffectEndTime", Ty::Int),
            opt("EffectCount", Ty::Int),
            opt("Comment", Ty::Str),
            PROJECT
        ]
    ),
    action!(
        "RejectOperationTicket",
        Write,
        reject,
        "Rejects a request.",
        [TICKET, opt("Comment", Ty::Str), PROJECT]
    ),
];

fn protocol(name: &str) -> Result<Protocol, ApiError> {
    [
        Protocol::Ssh,
        Protocol::Rdp,
        Protocol::MySql,
        Protocol::PostgreSql,
        Protocol::SqlServer,
        Protocol::Oracle,
    ]
    .into_iter()
    .find(|p| p.api_name().eq_ignore_ascii_case(name))
    .ok_or_else(|| {
        ApiError::invalid(
            "ProtocolName",
            "expected SSH, RDP, MySQL, PostgreSQL, SQLServer or Oracle",
        )
    })
}

/// A time in seconds as unix millis; 0 or absent = none.
fn secs(c: &Call, name: &str) -> Result<Option<u64>, ApiError> {
    Ok(c.p
        .num::<u64>(name)?
        .filter(|s| *s > 0)
        .map(|s| s.saturating_mul(1000)))
}

async fn create(c: &Call) -> ApiResult {
    super::policies::no_project(c)?;
    let admin = c.caller.role == portunus_model::Role::Admin;
    let user_id = match (c.caller.user_id, c.p.opt_id("UserId")?) {
        (_, Some(named)) if admin => named,
        (Some(own), None) => own,
        (Some(own), Some(named)) if own == named => own,
        (_, Some(_)) => {
            return Err(ApiError::Forbidden(
                "only an Admin key asks for another user".into(),
            ))
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "UserId",
                "this AccessKey acts for no user: name the user (UserId), or call with the \
                 user's own key",
            ))
        }
    };
    let protocol = protocol(c.p.req("ProtocolName")?)?;
    let asset_id = c.p.id("AssetId")?;
    let asset = if protocol.is_host_protocol() {
        AssetRef::Host(asset_id)
    } else {
        AssetRef::Database(asset_id)
    };
    let ticket = NewTicket {
        user_id,
        asset,
        account_name: c.p.req("AssetAccountName")?.to_string(),
        protocol,
        comment: c.p.req("ApproveComment")?.to_string(),
        start_ms: secs(c, "EffectStartTime")?,
        end_ms: secs(c, "EffectEndTime")?,
        one_time: c.p.bool("IsOneTimeEffect")?.unwrap_or(false),
    };
    let id = c.create(Command::CreateOperationTicket(ticket)).await?;
    Ok(one("OperationTicketId", id.to_string()))
}

fn view(s: &State, t: &OperationTicket) -> Value {
    let r = &t.request;
    let (asset_id, name, address) = match r.asset {
        AssetRef::Host(h) => {
            let host = s.host(h);
            (
                h,
                host.map(|x| x.name.clone()),
                host.map(|x| x.active_address().to_string()),
            )
        }
        AssetRef::Database(d) => {
            let db = s.database(d);
            (d, db.map(|x| x.name.clone()), db.map(|x| x.address.clone()))
        }
    };
    let state = match t.state {
        TicketState::Pending => "NotProcessed",
        TicketState::Approved => "Approved",
        TicketState::Rejected => "Rejected",
    };
    json!({
        "OperationTicketId": t.id.to_string(),
        "ApplyUserId": r.user_id.to_string(),
        "ApplyUsername": s.user(r.user_id).map(|u| u.name.clone()).unwrap_or_default(),
        "AssetId": asset_id.to_string(),
        "AssetName": name.unwrap_or_default(),
        "AssetAddress": address.unwrap_or_default(),
        "AssetAccountName": r.account_name,
        "ProtocolName": r.protocol.api_name(),
        "ApproveComment": r.comment,
        "CreatedTime": t.created_at_ms / 1000,
        "EffectStartTime": r.start_ms.map_or(0, |m| m / 1000),
        "EffectEndTime": r.end_ms.map_or(0, |m| m / 1000),
        "EffectCount": if r.one_time { 1 } else { 0 },
        "State": state,
    })
}

async fn list(c: &Call) -> ApiResult {
    super::policies::no_project(c)?;
    let paging = c.p.page()?;
    let address = c.p.string("AssetAddress");
    let (items, total) = c
        .read(|s| {
            let pending: Vec<Value> = s
                .operation_tickets()
                .filter(|t| t.state == TicketState::Pending)
                .map(|t| view(s, t))
                .filter(|v| address.as_ref().is_none_or(|a| v["AssetAddress"] == *a))
                .collect();
            paginate(pending, paging)
        })
        .await?;
    Ok(page("OperationTickets", items, total))
}

async fn decide(c: &Call, accept: bool) -> ApiResult {
    super::policies::no_project(c)?;
    let ticket_id = c.p.id("OperationTicketId")?;
    let uses = match c.p.num::<i64>("EffectCount")? {
        None | Some(0) => None,
        Some(n) => Some(
            u32::try_from(n)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| ApiError::invalid("EffectCount", "must be a positive count"))?,
        ),
    };
    let decision = TicketDecision {
        accept,
        by: c.caller.access_key_id.clone(),
        comment: c.p.string("Comment").unwrap_or_default(),
        start_ms: secs(c, "EffectStartTime")?,
        end_ms: secs(c, "EffectEndTime")?,
        uses,
    };
    c.propose(Command::DecideOperationTicket {
        ticket_id,
        decision,
    })
    .await?;
    Ok(done())
}

async fn accept(c: &Call) -> ApiResult {
    decide(c, true).await
}

async fn reject(c: &Call) -> ApiResult {
    decide(c, false).await
}
