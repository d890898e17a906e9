//! Asset (host) groups: Create/Get/List/Modify/DeleteHostGroup, Add/RemoveHostsToGroup,
//! Add/RemoveDatabasesToGroup.

use crate::api::call::{batch_entry, done, found, one, page, Call};
use crate::api::error::ApiResult;
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{Command, EntityKind, HostGroup};
use serde_json::{json, Value};

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateHostGroup",
        Write,
        create,
        "Creates an asset group.",
        [req("HostGroupName", Ty::Str), opt("Comment", Ty::Str),]
    ),
    action!(
        "GetHostGroup",
        Read,
        get,
        "Queries an asset group.",
        [req("HostGroupId", Ty::Id)]
    ),
    action!(
        "ListHostGroups",
        Read,
        list,
        "Lists asset groups.",
        [
            opt("HostGroupName", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyHostGroup",
        Write,
        modify,
        "Renames or re-describes a group.",
        [
            req("HostGroupId", Ty::Id),
            opt("HostGroupName", Ty::Str),
            opt("Comment", Ty::Str),
        ]
    ),
    action!(
        "DeleteHostGroup",
        Write,
        delete,
        "Deletes an asset group.",
        [req("HostGroupId", Ty::Id)]
    ),
    action!(
        "AddHostsToGroup",
        Write,
        add_hosts,
        "Adds hosts to a group.",
        [req("HostGroupId", Ty::Id), req("HostIds", Ty::IdList),]
    ),
    action!(
        "RemoveHostsFromGroup",
        Write,
        remove_hosts,
        "Removes hosts from a group.",
        [req("HostGroupId", Ty::Id), req("HostIds", Ty::IdList),]
    ),
    action!(
        "AddDatabasesToGroup",
        Write,
        add_dbs,
        "Adds databases to a group.",
        [req("HostGroupId", Ty::Id), req("DatabaseIds", Ty::Indexed),]
    ),
    action!(
        "RemoveDatabasesFromGroup",
        Write,
        remove_dbs,
        "Removes databases from a group.",
        [req("HostGroupId", Ty::Id), req("DatabaseIds", Ty::Indexed),]
    ),
];

fn row(g: &HostGroup) -> Value {
    json!({
        "Comment": g.comment, "HostGroupId": g.id.to_string(), "HostGroupName": g.name,
        "MemberCount": g.hosts.len() + g.databases.len(),
    })
}

async fn create(c: &Call) -> ApiResult {
    let cmd = Command::CreateHostGroup {
        name: c.p.req("HostGroupName")?.to_string(),
        comment: c.p.string("Comment").unwrap_or_default(),
    };
    let id = c.create(cmd).await?;
    Ok(one("HostGroupId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("HostGroupId")?;
    let v = c.read(|s| s.host_group(id).map(row)).await?;
    Ok(one("HostGroup", found(v, EntityKind::HostGroup, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let name = c.p.opt("HostGroupName").map(str::to_lowercase);
    let paging = c.p.page()?;
    let rows = c
        .read(|s| {
            s.host_groups()
                .filter(|g| {
                    name.as_ref()
                        .is_none_or(|n| g.name.to_lowercase().contains(n))
                })
                .map(row)
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("HostGroups", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    let group_id = c.p.id("HostGroupId")?;
    let current = c.read(|s| s.host_group(group_id).cloned()).await?;
    let g = found(current, EntityKind::HostGroup, group_id)?;
    let cmd = Command::UpdateHostGroup {
        group_id,
        name: c
            .p
            .opt("HostGroupName")
            .map(str::to_string)
            .unwrap_or(g.name),
        comment: c.p.string("Comment").unwrap_or(g.comment),
    };
    c.propose(cmd).await?;
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let group_id = c.p.id("HostGroupId")?;
    c.propose(Command::DeleteHostGroup { group_id }).await?;
    Ok(done())
}

async fn members(c: &Call, databases: bool, add: bool) -> ApiResult {
    let group_id = c.p.id("HostGroupId")?;
    let (param, field) = if databases {
        ("DatabaseIds", "DatabaseId")
    } else {
        ("HostIds", "HostId")
    };
    let mut results = Vec::new();
    // The SDK sends HostIds as a JSON array and DatabaseIds as a list (`DatabaseIds.1=..`).
    let ids = if databases {
        c.p.id_list_or_indexed(param)?
    } else {
        c.p.id_list(param)?
    };
    for id in ids {
        let cmd = match (databases, add) {
            (false, true) => Command::AddHostsToGroup {
                group_id,
                host_ids: vec![id],
            },
            (false, false) => Command::RemoveHostsFromGroup {
                group_id,
                host_ids: vec![id],
            },
            (true, true) => Command::AddDatabasesToGroup {
                group_id,
                database_ids: vec![id],
            },
            (true, false) => Command::RemoveDatabasesFromGroup {
                group_id,
                database_ids: vec![id],
            },
        };
        let outcome = c.propose(cmd).await;
        results.push(batch_entry(
            &outcome,
            &[(field, id), ("HostGroupId", group_id)],
        ));
    }
    Ok(one("Results", results))
}

async fn add_hosts(c: &Call) -> ApiResult {
    members(c, false, true).await
}

async fn remove_hosts(c: &Call) -> ApiResult {
    members(c, false, false).await
}

async fn add_dbs(c: &Call) -> ApiResult {
    members(c, true, true).await
}

async fn remove_dbs(c: &Call) -> ApiResult {
    members(c, true, false).await
}
