//! Project authorizations (who administers which projects' assets) and review rules (who
//! audits which projects' sessions): create, get, list, modify, delete, and attach or detach
//! their projects and their users.
//!
//! The API calls a delegation's users "principals" of type `RamUser` or `RamRole`. On Portunus
//! a principal is a Portunus user: `PrincipalType` `RamUser` (or `User`) with the user's id as
//! `PrincipalId`; RAM roles are cloud identities and are refused. What the users may then do
//! through an Operator AccessKey of their own is in `crate::api::delegated`.

use crate::api::actions::projects::{all_projects, brief, named_like};
use crate::api::call::{done, found, one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::parse_id;
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{
    Command, Delegation, DelegationKind, DelegationSpec, EntityKind, ProjectReach, State, UserId,
};
use serde_json::{json, Value};

/// How the API names the parts of one kind of delegation.
struct Wording {
    kind: DelegationKind,
    entity: EntityKind,
    /// The id parameter (`AuthorizationId`, `ReviewRuleId`).
    id: &'static str,
    /// The id-list parameter of the delete action.
    ids: &'static str,
    /// The detail object of the get action.
    detail: &'static str,
    /// The list of the list action.
    list: &'static str,
}

const MANAGE: Wording = Wording {
    kind: DelegationKind::Manage,
    entity: EntityKind::ProjectAuthorization,
    id: "AuthorizationId",
    ids: "AuthorizationIds",
    detail: "ProjectAuthorization",
    list: "ProjectAuthorizations",
};

const REVIEW: Wording = Wording {
    kind: DelegationKind::Review,
    entity: EntityKind::ReviewRule,
    id: "ReviewRuleId",
    ids: "ReviewRuleIds",
    detail: "ReviewRule",
    list: "ReviewRules",
};

const PAGING: [crate::api::table::ParamSpec; 4] = [
    opt("Keyword", Ty::Str),
    opt("MaxResults", Ty::Int),
    opt("NextToken", Ty::Str),
    opt("Skip", Ty::Int),
];

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateProjectAuthorization",
        Write,
        create_manage,
        "Creates a project authorization: ScopeType 1 covers every project, 2 the projects \
         attached to it. The users it names administer those projects' assets through an \
         Operator AccessKey of their own.",
        [
            req("Name", Ty::Str),
            req("ScopeType", Ty::Int),
            opt("Description", Ty::Str),
        ]
    ),
    action!(
        "GetProjectAuthorization",
        Read,
        get_manage,
        "Queries a project authorization with its projects and administrators.",
        [req("AuthorizationId", Ty::Id)]
    ),
    action!(
        "ListProjectAuthorizations",
        Read,
        list_manage,
        "Lists project authorizations; Keyword matches names.",
        [PAGING[0], PAGING[1], PAGING[2], PAGING[3]]
    ),
    action!(
        "ModifyProjectAuthorization",
        Write,
        modify_manage,
        "Renames a project authorization or changes its description or scope.",
        [
            req("AuthorizationId", Ty::Id),
            opt("Name", Ty::Str),
            opt("Description", Ty::Str),
            opt("ScopeType", Ty::Int),
        ]
    ),
    action!(
        "DeleteProjectAuthorizations",
        Write,
        delete_manage,
        "Deletes project authorizations (all named ones must exist).",
        [req("AuthorizationIds", Ty::IdList)]
    ),
    action!(
        "AttachProjectManagersToProjectAuthorization",
        Write,
        attach_users_manage,
        "Wording project administrators: Principals.N.PrincipalId is a Portunus user id \
         (PrincipalType RamUser).",
        [
            req("AuthorizationId", Ty::Id),
            req("Principals", Ty::Indexed)
        ]
    ),
    action!(
        "DetachProjectManagersFromProjectAuthorization",
        Write,
        detach_users_manage,
        "Removes project administrators (a JSON array of user ids).",
        [
            req("AuthorizationId", Ty::Id),
            req("PrincipalIds", Ty::IdList)
        ]
    ),
    action!(
        "AttachProjectsToProjectAuthorization",
        Write,
        attach_projects_manage,
        "Adds projects to a project authorization.",
        [
            req("AuthorizationId", Ty::Id),
            req("ProjectIds", Ty::IdList)
        ]
    ),
    action!(
        "DetachProjectsFromProjectAuthorization",
        Write,
        detach_projects_manage,
        "Removes projects from a project authorization.",
        [
            req("AuthorizationId", Ty::Id),
            req("ProjectIds", Ty::IdList)
        ]
    ),
    action!(
        "ListProjectsNotForProjectAuthorization",
        Read,
        not_for_manage,
        "Lists the projects a project authorization does not name.",
        [
            req("AuthorizationId", Ty::Id),
            PAGING[0],
            PAGING[1],
            PAGING[2],
            PAGING[3]
        ]
    ),
    action!(
        "ListProjectsForProjectAuthorizationPrincipal",
        Token,
        for_principal,
        "Lists the projects the caller administers: every project for an Admin key, those of \
         the project authorizations naming the key's user for an Operator key.",
        [PAGING[0], PAGING[1], PAGING[2], PAGING[3]]
    ),
    action!(
        "CreateReviewRule",
        Write,
        create_review,
        "Creates a review rule: ScopeType 1 covers every project, 2 the projects attached to \
         it. The users it names audit those projects' sessions through an Operator AccessKey \
         of their own.",
        [
            req("Name", Ty::Str),
            req("ScopeType", Ty::Int),
            opt("Description", Ty::Str),
        ]
    ),
    action!(
        "GetReviewRule",
        Read,
        get_review,
        "Queries a review rule with its projects and auditors.",
        [req("ReviewRuleId", Ty::Id)]
    ),
    action!(
        "ListReviewRules",
        Read,
        list_review,
        "Lists review rules; Keyword matches names.",
        [PAGING[0], PAGING[1], PAGING[2], PAGING[3]]
    ),
    action!(
        "ModifyReviewRule",
        Write,
        modify_review,
        "Renames a review rule or changes its description or scope.",
        [
            req("ReviewRuleId", Ty::Id),
            opt("Name", Ty::Str),
            opt("Description", Ty::Str),
            opt("ScopeType", Ty::Int),
        ]
    ),
    action!(
        "DeleteReviewRules",
        Write,
        delete_review,
        "Deletes review rules (all named ones must exist).",
        [req("ReviewRuleIds", Ty::IdList)]
    ),
    action!(
        "AttachReviewersToReviewRule",
        Write,
        attach_users_review,
        "Names the rule's reviewers (users who may read the sessions of its projects): \
         Principals.N.PrincipalId is a Portunus user id (PrincipalType RamUser).",
        [req("ReviewRuleId", Ty::Id), req("Principals", Ty::Indexed)]
    ),
    action!(
        "DetachReviewersFromReviewRule",
        Write,
        detach_users_review,
        "Removes auditors (a JSON array of user ids).",
        [req("ReviewRuleId", Ty::Id), req("PrincipalIds", Ty::IdList)]
    ),
    action!(
        "AttachProjectsToReviewRule",
        Write,
        attach_projects_review,
        "Adds projects to a review rule.",
        [req("ReviewRuleId", Ty::Id), req("ProjectIds", Ty::IdList)]
    ),
    action!(
        "DetachProjectsFromReviewRule",
        Write,
        detach_projects_review,
        "Removes projects from a review rule.",
        [req("ReviewRuleId", Ty::Id), req("ProjectIds", Ty::IdList)]
    ),
    action!(
        "ListProjectsNotForReviewRule",
        Read,
        not_for_review,
        "Lists the projects a review rule does not name.",
        [
            req("ReviewRuleId", Ty::Id),
            PAGING[0],
            PAGING[1],
            PAGING[2],
            PAGING[3]
        ]
    ),
];

/// `ScopeType`: 1 every project, 2 the attached ones.
fn scope(v: &str) -> Result<bool, ApiError> {
    match v.trim() {
        "1" => Ok(true),
        "2" => Ok(false),
        _ => Err(ApiError::invalid(
            "ScopeType",
            "expected 1 (all projects) or 2 (the projects attached)",
        )),
    }
}

fn scope_type(d: &Delegation) -> u8 {
    if d.spec.all_projects {
        1
    } else {
        2
    }
}

fn principal(s: &State, user: UserId) -> Value {
    let name = s.user(user).map(|u| {
        if u.display_name.is_empty() {
            u.name.clone()
        } else {
            u.display_name.clone()
        }
    });
    json!({"PrincipalId": user.to_string(), "PrincipalName": name.unwrap_or_default(),
           "PrincipalType": "RamUser"})
}

fn detail(n: &Wording, s: &State, d: &Delegation) -> Value {
    let projects: Vec<Value> = d.projects.iter().map(|p| brief(s, *p)).collect();
    let principals: Vec<Value> = d.users.iter().map(|u| principal(s, *u)).collect();
    let ids: Vec<u64> = d.projects.iter().copied().collect();
    match n.kind {
        DelegationKind::Manage => json!({
            "AuthorizationId": d.id, "Name": d.spec.name, "Description": d.spec.description,
            "ScopeType": scope_type(d), "ProjectIds": ids, "Projects": projects,
            "Principals": principals,
        }),
        DelegationKind::Review => json!({
            "ReviewRuleId": d.id.to_string(), "ReviewRuleName": d.spec.name,
            "Description": d.spec.description, "ScopeType": scope_type(d), "ProjectIds": ids,
            "Projects": projects, "Principals": principals,
        }),
    }
}

fn row(n: &Wording, d: &Delegation) -> Value {
    match n.kind {
        DelegationKind::Manage => json!({
            "AuthorizationId": d.id, "Name": d.spec.name, "Description": d.spec.description,
            "ScopeType": scope_type(d),
        }),
        DelegationKind::Review => json!({
            "ReviewRuleId": d.id, "RuleName": d.spec.name, "Remark": d.spec.description,
            "ScopeType": scope_type(d),
        }),
    }
}

async fn current(n: &Wording, c: &Call) -> Result<(u64, Delegation), ApiError> {
    let id = c.p.id(n.id)?;
    let d = c.read(|s| s.delegation(n.kind, id).cloned()).await?;
    Ok((id, found(d, n.entity, id)?))
}

async fn create(n: &Wording, c: &Call) -> ApiResult {
    let spec = DelegationSpec {
        name: c.p.req("Name")?.to_string(),
        description: c.p.string("Description").unwrap_or_default(),
        all_projects: scope(c.p.req("ScopeType")?)?,
    };
    let id = c
        .create(Command::CreateDelegation { kind: n.kind, spec })
        .await?;
    Ok(one(n.id, id.to_string()))
}

async fn get(n: &Wording, c: &Call) -> ApiResult {
    let (_, d) = current(n, c).await?;
    let v = c.read(|s| detail(n, s, &d)).await?;
    Ok(one(n.detail, v))
}

async fn list(n: &Wording, c: &Call) -> ApiResult {
    let keyword = c.p.opt("Keyword").map(str::to_lowercase);
    let cursor = c.p.cursor()?;
    let rows = c
        .read(|s| {
            s.delegations(n.kind)
                .filter(|d| {
                    keyword
                        .as_ref()
                        .is_none_or(|k| d.spec.name.to_lowercase().contains(k))
                })
                .map(|d| row(n, d))
                .collect()
        })
        .await?;
    Ok(cursor.page(n.list, rows))
}

async fn modify(n: &Wording, c: &Call) -> ApiResult {
    let (delegation_id, d) = current(n, c).await?;
    let mut spec = d.spec;
    if let Some(name) = c.p.opt("Name").filter(|v| !v.is_empty()) {
        spec.name = name.to_string();
    }
    if let Some(description) = c.p.string("Description") {
        spec.description = description;
    }
    if let Some(t) = c.p.opt("ScopeType").filter(|v| !v.is_empty()) {
        spec.all_projects = scope(t)?;
    }
    c.propose(Command::UpdateDelegation {
        kind: n.kind,
        delegation_id,
        spec,
    })
    .await?;
    Ok(done())
}

async fn delete(n: &Wording, c: &Call) -> ApiResult {
    let ids = c.p.id_list(n.ids)?;
    let missing = c
        .read(|s| {
            ids.iter()
                .copied()
                .find(|id| s.delegation(n.kind, *id).is_none())
        })
        .await?;
    if let Some(id) = missing {
        return Err(found(None::<()>, n.entity, id).unwrap_err());
    }
    for delegation_id in ids {
        c.propose(Command::DeleteDelegation {
            kind: n.kind,
            delegation_id,
        })
        .await?;
    }
    Ok(done())
}

/// `Principals.N.{PrincipalId, PrincipalType, PrincipalName}` as Portunus user ids.
fn principals(c: &Call) -> Result<Vec<UserId>, ApiError> {
    let mut users = Vec::new();
    for p in c.p.indexed_objects("Principals")? {
        match p.get("PrincipalType").map(String::as_str) {
            None | Some("RamUser") | Some("User") => {}
            Some("RamRole") => {
                return Err(ApiError::Inapplicable(
                    "RAM roles are cloud identities; name Portunus users (PrincipalType RamUser, PrincipalId the user's id)",
                ))
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "Principals.N.PrincipalType",
                    "expected RamUser (a Portunus user)",
                ))
            }
        }
        let id = p
            .get("PrincipalId")
            .ok_or(ApiError::MissingParameter("Principals.N.PrincipalId"))?;
        users.push(parse_id("Principals.N.PrincipalId", id)?);
    }
    if users.is_empty() {
        return Err(ApiError::MissingParameter("Principals.N.PrincipalId"));
    }
    Ok(users)
}

async fn set_users(n: &Wording, c: &Call, attach: bool) -> ApiResult {
    let delegation_id = c.p.id(n.id)?;
    let user_ids = if attach {
        principals(c)?
    } else {
        c.p.id_list("PrincipalIds")?
    };
    c.propose(Command::SetDelegationUsers {
        kind: n.kind,
        delegation_id,
        user_ids,
        attach,
    })
    .await?;
    Ok(done())
}

async fn set_projects(n: &Wording, c: &Call, attach: bool) -> ApiResult {
    let delegation_id = c.p.id(n.id)?;
    c.propose(Command::SetDelegationProjects {
        kind: n.kind,
        delegation_id,
        project_ids: c.p.id_list("ProjectIds")?,
        attach,
    })
    .await?;
    Ok(done())
}

async fn not_for(n: &Wording, c: &Call) -> ApiResult {
    let (_, d) = current(n, c).await?;
    let keyword = c.p.opt("Keyword").filter(|k| !k.is_empty());
    let cursor = c.p.cursor()?;
    let rows = c
        .read(|s| {
            all_projects(s)
                .into_iter()
                .filter(|p| !d.projects.contains(p) && named_like(s, *p, keyword))
                .map(|p| brief(s, p))
                .collect()
        })
        .await?;
    Ok(cursor.page("Projects", rows))
}

async fn for_principal(c: &Call) -> ApiResult {
    let keyword = c.p.opt("Keyword").filter(|k| !k.is_empty());
    let cursor = c.p.cursor()?;
    let caller = c.caller.clone();
    let rows = c
        .read(|s| {
            let reach = match (caller.role, caller.user_id) {
                (portunus_model::Role::Admin, _) => ProjectReach::All,
                (_, Some(u)) => s.project_reach(DelegationKind::Manage, u),
                (_, None) => ProjectReach::Nothing,
            };
            all_projects(s)
                .into_iter()
                .filter(|p| reach.reaches(*p) && named_like(s, *p, keyword))
                .map(|p| brief(s, p))
                .collect()
        })
        .await?;
    Ok(cursor.page("Projects", rows))
}

macro_rules! per_kind {
    ($($name:ident => $f:ident($names:ident $(, $arg:expr)?);)*) => {
        $(async fn $name(c: &Call) -> ApiResult {
            $f(&$names, c $(, $arg)?).await
        })*
    };
}

per_kind! {
    create_manage => create(MANAGE);
    get_manage => get(MANAGE);
    list_manage => list(MANAGE);
    modify_manage => modify(MANAGE);
    delete_manage => delete(MANAGE);
    attach_users_manage => set_users(MANAGE, true);
    detach_users_manage => set_users(MANAGE, false);
    attach_projects_manage => set_projects(MANAGE, true);
    detach_projects_manage => set_projects(MANAGE, false);
    not_for_manage => not_for(MANAGE);
    create_review => create(REVIEW);
    get_review => get(REVIEW);
    list_review => list(REVIEW);
    modify_review => modify(REVIEW);
    delete_review => delete(REVIEW);
    attach_users_review => set_users(REVIEW, true);
    detach_users_review => set_users(REVIEW, false);
    attach_projects_review => set_projects(REVIEW, true);
    detach_projects_review => set_projects(REVIEW, false);
    not_for_review => not_for(REVIEW);
}
