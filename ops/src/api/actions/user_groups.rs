//! User group actions: Create/Get/List/Modify/DeleteUserGroup, Add/RemoveUsersToGroup and
//! ListUserGroupsForUser.

use crate::api::call::{batch_entry, done, found, one, page, Call};
use crate::api::error::ApiResult;
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{Command, EntityKind};
use serde_json::{json, Value};

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateUserGroup",
        Write,
        create,
        "Creates a user group.",
        [req("UserGroupName", Ty::Str), opt("Comment", Ty::Str),]
    ),
    action!(
        "GetUserGroup",
        Read,
        get,
        "Queries a user group.",
        [req("UserGroupId", Ty::Id)]
    ),
    action!(
        "ListUserGroups",
        Read,
        list,
        "Lists user groups.",
        [
            opt("UserGroupName", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyUserGroup",
        Write,
        modify,
        "Renames or re-describes a group.",
        [
            req("UserGroupId", Ty::Id),
            opt("UserGroupName", Ty::Str),
            opt("Comment", Ty::Str),
        ]
    ),
    action!(
        "DeleteUserGroup",
        Write,
        delete,
        "Deletes a user group.",
        [req("UserGroupId", Ty::Id)]
    ),
    action!(
        "AddUsersToGroup",
        Write,
        add,
        "Adds users to a group.",
        [req("UserGroupId", Ty::Id), req("UserIds", Ty::IdList),]
    ),
    action!(
        "RemoveUsersFromGroup",
        Write,
        remove,
        "Removes users from a group.",
        [req("UserGroupId", Ty::Id), req("UserIds", Ty::IdList),]
    ),
    action!(
        "ListUserGroupsForUser",
        ForUser,
        for_user,
        "Groups a user belongs to.",
        [
            req("UserId", Ty::Id),
            opt("Keyword", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
            opt("PagingOff", Ty::Bool),
        ]
    ),
];

async fn create(c: &Call) -> ApiResult {
    let cmd = Command::CreateUserGroup {
        name: c.p.req("UserGroupName")?.to_string(),
        comment: c.p.string("Comment").unwrap_or_default(),
    };
    let id = c.create(cmd).await?;
    Ok(one("UserGroupId", id.to_string()))
}

fn row(g: &portunus_model::UserGroup) -> Value {
    json!({
        "Comment": g.comment, "UserGroupId": g.id.to_string(), "UserGroupName": g.name,
        "MemberCount": g.members.len(),
    })
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("UserGroupId")?;
    let v = c.read(|s| s.user_group(id).map(row)).await?;
    Ok(one("UserGroup", found(v, EntityKind::UserGroup, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let name = c.p.opt("UserGroupName").map(str::to_lowercase);
    let paging = c.p.page()?;
    let rows = c
        .read(|s| {
            s.user_groups()
                .filter(|g| {
                    name.as_ref()
                        .is_none_or(|n| g.name.to_lowercase().contains(n))
                })
                .map(row)
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("UserGroups", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    let group_id = c.p.id("UserGroupId")?;
    let current = c.read(|s| s.user_group(group_id).cloned()).await?;
    let g = found(current, EntityKind::UserGroup, group_id)?;
    let cmd = Command::UpdateUserGroup {
        group_id,
        name: c
            .p
            .opt("UserGroupName")
            .map(str::to_string)
            .unwrap_or(g.name),
        comment: c.p.string("Comment").unwrap_or(g.comment),
    };
    c.propose(cmd).await?;
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let group_id = c.p.id("UserGroupId")?;
    c.propose(Command::DeleteUserGroup { group_id }).await?;
    Ok(done())
}

async fn members(c: &Call, add: bool) -> ApiResult {
    let group_id = c.p.id("UserGroupId")?;
    let mut results = Vec::new();
    for id in c.p.id_list("UserIds")? {
        let user_ids = vec![id];
        let cmd = if add {
            Command::AddUsersToGroup { group_id, user_ids }
        } else {
            Command::RemoveUsersFromGroup { group_id, user_ids }
        };
        let outcome = c.propose(cmd).await;
        results.push(batch_entry(
            &outcome,
            &[("UserId", id), ("UserGroupId", group_id)],
        ));
    }
    Ok(one("Results", results))
}

async fn add(c: &Call) -> ApiResult {
    members(c, true).await
}

async fn remove(c: &Call) -> ApiResult {
    members(c, false).await
}

async fn for_user(c: &Call) -> ApiResult {
    let user = c.p.id("UserId")?;
    let keyword = c.p.opt("Keyword").map(str::to_lowercase);
    let paging = c.p.page()?;
    let paging_off = c.p.bool("PagingOff")?.unwrap_or(false);
    let rows = c
        .read(|s| {
            s.user_groups()
                .filter(|g| g.members.contains(&user))
                .filter(|g| {
                    keyword
                        .as_ref()
                        .is_none_or(|k| g.name.to_lowercase().contains(k))
                })
                .map(|g| {
                    json!({"Comment": g.comment, "UserGroupId": g.id.to_string(),
                           "UserGroupName": g.name, "ProjectId": "", "ProjectName": ""})
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = if paging_off {
        let total = rows.len();
        (rows, total)
    } else {
        paginate(rows, paging)
    };
    let mut body = one("UserGroups", items);
    body.insert("Count".into(), total.into());
    Ok(body)
}
