//! Authorization changes: Attach/Detach HostAccounts, HostGroupAccounts and DatabaseAccounts
//! to/from a user or a user group. Each asset is one command, reported in `Results`.

use crate::api::call::{one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{json_id, Params};
use crate::api::table::{action, req, Action, ParamSpec, Ty};
use portunus_model::{Command, Principal};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const U: ParamSpec = req("UserId", Ty::Id);
const G: ParamSpec = req("UserGroupId", Ty::Id);
const HOSTS: ParamSpec = req("Hosts", Ty::Json);
const GROUPS: ParamSpec = req("HostGroups", Ty::Json);
const DBS: ParamSpec = req("Databases", Ty::Indexed);

pub static ACTIONS: &[Action] = &[
    action!(
        "AttachHostAccountsToUser",
        Write,
        hosts_user_on,
        "Grants hosts/accounts.",
        [U, HOSTS]
    ),
    action!(
        "DetachHostAccountsFromUser",
        Write,
        hosts_user_off,
        "Revokes hosts/accounts.",
        [U, HOSTS]
    ),
    action!(
        "AttachHostAccountsToUserGroup",
        Write,
        hosts_group_on,
        "Grants hosts/accounts.",
        [G, HOSTS]
    ),
    action!(
        "DetachHostAccountsFromUserGroup",
        Write,
        hosts_group_off,
        "Revokes hosts/accounts.",
        [G, HOSTS]
    ),
    action!(
        "AttachHostGroupAccountsToUser",
        Write,
        hg_user_on,
        "Grants host groups.",
        [U, GROUPS]
    ),
    action!(
        "DetachHostGroupAccountsFromUser",
        Write,
        hg_user_off,
        "Revokes host groups.",
        [U, GROUPS]
    ),
    action!(
        "AttachHostGroupAccountsToUserGroup",
        Write,
        hg_group_on,
        "Grants host groups.",
        [G, GROUPS]
    ),
    action!(
        "DetachHostGroupAccountsFromUserGroup",
        Write,
        hg_group_off,
        "Revokes host groups.",
        [G, GROUPS]
    ),
    action!(
        "AttachDatabaseAccountsToUser",
        Write,
        db_user_on,
        "Grants databases.",
        [U, DBS]
    ),
    action!(
        "DetachDatabaseAccountsFromUser",
        Write,
        db_user_off,
        "Revokes databases.",
        [U, DBS]
    ),
    action!(
        "AttachDatabaseAccountsToUserGroup",
        Write,
        db_group_on,
        "Grants databases.",
        [G, DBS]
    ),
    action!(
        "DetachDatabaseAccountsFromUserGroup",
        Write,
        db_group_off,
        "Revokes databases.",
        [G, DBS]
    ),
];

/// The principal named by `UserId` or `UserGroupId`, with its result field.
pub fn principal(c: &Call, group: bool) -> Result<(Principal, &'static str, u64), ApiError> {
    if group {
        let id = c.p.id("UserGroupId")?;
        Ok((Principal::Group(id), "UserGroupId", id))
    } else {
        let id = c.p.id("UserId")?;
        Ok((Principal::User(id), "UserId", id))
    }
}

/// One `{asset id, [member...]}` entry of a JSON list such as `Hosts`.
pub(crate) struct Entry {
    pub id: u64,
    members: Vec<Value>,
}

pub(crate) fn entries(
    p: &Params,
    param: &'static str,
    id: &str,
    list: &str,
) -> Result<Vec<Entry>, ApiError> {
    let mut out = Vec::new();
    for item in p.json_list(param)? {
        let asset = item
            .get(id)
            .ok_or(ApiError::invalid(param, format!("each entry needs {id}")))?;
        let members = match item.get(list) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => return Err(ApiError::invalid(param, format!("{list} must be an array"))),
        };
        out.push(Entry {
            id: json_id(param, asset)?,
            members,
        });
    }
    Ok(out)
}

/// Database entries from the flattened `Databases.N.DatabaseId` / `.DatabaseAccountIds.M`.
pub(crate) fn db_entries(p: &Params) -> Result<Vec<Entry>, ApiError> {
    let objects = p.indexed_objects("Databases")?;
    if objects.is_empty() {
        return Err(ApiError::MissingParameter("Databases"));
    }
    let mut out = Vec::new();
    for o in objects {
        let id = o
            .get("DatabaseId")
            .ok_or(ApiError::MissingParameter("Databases.N.DatabaseId"))?;
        let mut members: Vec<(u32, Value)> = Vec::new();
        for (k, v) in &o {
            if let Some(i) = k.strip_prefix("DatabaseAccountIds.") {
                let i = i
                    .parse()
                    .map_err(|_| ApiError::invalid("Databases", "bad index"))?;
                members.push((i, Value::String(v.clone())));
            }
        }
        members.sort_by_key(|(i, _)| *i);
        out.push(Entry {
            id: crate::api::params::parse_id("Databases.N.DatabaseId", id)?,
            members: members.into_iter().map(|(_, v)| v).collect(),
        });
    }
    Ok(out)
}

fn ids(param: &str, members: &[Value]) -> Result<BTreeSet<u64>, ApiError> {
    members.iter().map(|m| json_id(param, m)).collect()
}

fn names(param: &str, members: &[Value]) -> Result<BTreeSet<String>, ApiError> {
    members
        .iter()
        .map(|m| m.as_str().map(str::to_string))
        .collect::<Option<_>>()
        .ok_or_else(|| ApiError::invalid(param, "account names must be strings"))
}

fn result(r: &Result<portunus_model::Response, ApiError>) -> (String, String) {
    match r {
        Ok(_) => ("OK".into(), String::new()),
        Err(e) => (e.code().into(), e.to_string()),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Host,
    HostGroup,
    Database,
}

fn command(kind: Kind, p: Principal, e: &Entry, attach: bool) -> Result<Command, ApiError> {
    let all = e.members.is_empty() && !attach;
    Ok(match kind {
        Kind::Host => {
            let set = ids("Hosts", &e.members)?;
            if attach {
                Command::AttachHostAccounts {
                    principal: p,
                    host_id: e.id,
                    account_ids: set,
                }
            } else {
                Command::DetachHostAccounts {
                    principal: p,
                    host_id: e.id,
                    account_ids: (!all).then_some(set),
                }
            }
        }
        Kind::HostGroup => {
            let set = names("HostGroups", &e.members)?;
            if attach {
                Command::AttachHostGroupAccounts {
                    principal: p,
                    group_id: e.id,
                    account_names: set,
                }
            } else {
                Command::DetachHostGroupAccounts {
                    principal: p,
                    group_id: e.id,
                    account_names: (!all).then_some(set),
                }
            }
        }
        Kind::Database => {
            let set = ids("Databases", &e.members)?;
            if attach {
                Command::AttachDatabaseAccounts {
                    principal: p,
                    database_id: e.id,
                    account_ids: set,
                }
            } else {
                Command::DetachDatabaseAccounts {
                    principal: p,
                    database_id: e.id,
                    account_ids: (!all).then_some(set),
                }
            }
        }
    })
}

async fn change(c: &Call, kind: Kind, group: bool, attach: bool) -> ApiResult {
    let (p, who_field, who) = principal(c, group)?;
    let (list, id_field, members_field, member_id) = match kind {
        Kind::Host => (
            entries(&c.p, "Hosts", "HostId", "HostAccountIds")?,
            "HostId",
            "HostAccounts",
            "HostAccountId",
        ),
        Kind::HostGroup => (
            entries(&c.p, "HostGroups", "HostGroupId", "HostAccountNames")?,
            "HostGroupId",
            "HostAccountNames",
            "HostAccountName",
        ),
        Kind::Database => (
            db_entries(&c.p)?,
            "DatabaseId",
            "DatabaseAccounts",
            "DatabaseAccountId",
        ),
    };
    let mut results = Vec::new();
    for e in &list {
        let outcome = match command(kind, p, e, attach) {
            Ok(cmd) => c.propose(cmd).await,
            Err(err) => Err(err),
        };
        let (code, message) = result(&outcome);
        let members: Vec<Value> = e
            .members
            .iter()
            .map(|m| json!({"Code": code, "Message": message, member_id: m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string())}))
            .collect();
        results.push(json!({
            "Code": code, "Message": message, id_field: e.id.to_string(),
            who_field: who.to_string(), members_field: members,
        }));
    }
    Ok(one("Results", results))
}

macro_rules! variants {
    ($($f:ident => $kind:ident, $group:literal, $attach:literal;)*) => {
        $(async fn $f(c: &Call) -> ApiResult { change(c, Kind::$kind, $group, $attach).await })*
    };
}

variants! {
    hosts_user_on => Host, false, true;
    hosts_user_off => Host, false, false;
    hosts_group_on => Host, true, true;
    hosts_group_off => Host, true, false;
    hg_user_on => HostGroup, false, true;
    hg_user_off => HostGroup, false, false;
    hg_group_on => HostGroup, true, true;
    hg_group_off => HostGroup, true, false;
    db_user_on => Database, false, true;
    db_user_off => Database, false, false;
    db_group_on => Database, true, true;
    db_group_off => Database, true, false;
}
