//! Command approval: ListApproveCommands (the commands waiting, oldest first),
//! AcceptApproveCommand, RejectApproveCommand. The engineer's session holds the command until
//! one of these is called, on any node, or its wait ends.

use super::sessions;
use crate::api::call::{done, page, Call};
use crate::api::error::ApiResult;
use crate::api::table::{action, opt, req, Action, ParamSpec, Ty};
use portunus_model::{Command, CommandApproval, State};
use serde_json::{json, Value};

const COMMAND: ParamSpec = req("CommandId", Ty::Id);
const PROJECT: ParamSpec = opt("ProjectId", Ty::Str);

pub static ACTIONS: &[Action] = &[
    action!(
        "ListApproveCommands",
        Read,
        list,
        "Lists the commands waiting for an administrator's approval, oldest first.",
        [
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
            PROJECT
        ]
    ),
    action!(
        "AcceptApproveCommand",
        Write,
        accept,
        "Lets a waiting command run.",
        [COMMAND, PROJECT]
    ),
    action!(
        "RejectApproveCommand",
        Write,
        reject,
        "Refuses a waiting command: the engineer's shell drops it.",
        [COMMAND, PROJECT]
    ),
];

fn view(s: &State, a: &CommandApproval) -> Value {
    let session = s.session(a.session_id).map(|x| sessions::view(s, x));
    let field = |k: &str| {
        session
            .as_ref()
            .and_then(|v| v[k].as_str())
            .unwrap_or_default()
            .to_string()
    };
    let asset_ip = match s.session(a.session_id).map(|x| x.asset) {
        Some(portunus_model::AssetRef::Host(h)) => s
            .host(h)
            .map(|h| h.active_address().to_string())
            .unwrap_or_default(),
        Some(portunus_model::AssetRef::Database(d)) => {
            s.database(d).map(|d| d.address.clone()).unwrap_or_default()
        }
        None => String::new(),
    };
    let client = field("ClientAddress");
    let client_ip = client
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().to_string())
        .unwrap_or(client);
    json!({
        "ApproveCommandId": a.id.to_string(),
        "Command": a.command,
        "SessionId": a.session_id.to_string(),
        "ClientUser": field("UserName"),
        "ClientIp": client_ip,
        "AssetName": field("AssetName"),
        "AssetIp": asset_ip,
        "AssetAccountName": field("AccountName"),
        "ProtocolName": field("Protocol"),
        "CreateTime": (a.asked_at_ms / 1000).to_string(),
        "State": "Wait",
    })
}

async fn list(c: &Call) -> ApiResult {
    super::policies::no_project(c)?;
    let paging = c.p.page()?;
    let now = c.now_ms;
    let (items, total) = c
        .read(|s| {
            let waiting: Vec<Value> = s.approvals_waiting(now).map(|a| view(s, a)).collect();
            crate::api::params::paginate(waiting, paging)
        })
        .await?;
    Ok(page("ApproveCommands", items, total))
}

async fn decide(c: &Call, accept: bool) -> ApiResult {
    super::policies::no_project(c)?;
    let approval_id = c.p.id("CommandId")?;
    c.propose(Command::DecideCommandApproval {
        approval_id,
        accept,
        by: c.caller.access_key_id.clone(),
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
