//! Projects: CreateProject, GetProject, ListProjects, ModifyProject, DeleteProjects and
//! ModifyHostsProject / ModifyDatabasesProject, which move assets between projects.
//!
//! Every host and database is in one project; the default project (id 0) holds those placed
//! nowhere else and cannot be renamed or deleted. A project's member accounts (Alibaba Cloud
//! resource-directory members whose cloud assets it would import) and its notification
//! recipients (who would receive SMS and e-mail) mean nothing on a self-hosted cluster: the
//! actions that set them are refused with why, and the listings answer, truthfully, empty.

use crate::api::call::{batch_entry, found, one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{
    Command, EntityKind, ProjectId, State, DEFAULT_PROJECT, DEFAULT_PROJECT_NAME,
};
use serde_json::{json, Value};

const MEMBERS: &str = "project member accounts are Alibaba Cloud resource-directory members, which a self-hosted cluster has none of; add hosts and databases to a project with CreateHost/CreateDatabase (ProjectId) or ModifyHostsProject/ModifyDatabasesProject";
const RECEIVERS: &str = "Portunus sends no SMS or e-mail, so a project has no notification recipients; forward events from the audit export (--audit-syslog) to your alerting instead";

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateProject",
        Write,
        create,
        "Creates a project. MemberIds must be empty (see ListMembersNotForProject).",
        [
            req("Name", Ty::Str),
            opt("Description", Ty::Str),
            opt("MemberIds", Ty::Json),
        ]
    ),
    action!(
        "GetProject",
        Read,
        get,
        "Queries a project (0 is the default project) with its asset counts.",
        [req("ProjectId", Ty::Id)]
    ),
    action!(
        "ListProjects",
        Read,
        list,
        "Lists projects, the default one first; Keyword matches names.",
        [
            opt("Keyword", Ty::Str),
            opt("MaxResults", Ty::Int),
            opt("NextToken", Ty::Str),
            opt("Skip", Ty::Int),
        ]
    ),
    action!(
        "ModifyProject",
        Write,
        modify,
        "Renames a project or changes its description.",
        [
            req("ProjectId", Ty::Id),
            req("Name", Ty::Str),
            opt("Description", Ty::Str),
            opt("MemberIds", Ty::Json),
        ]
    ),
    action!(
        "DeleteProjects",
        Write,
        delete,
        "Deletes projects that hold no host or database; one result per project.",
        [req("ProjectIds", Ty::IdList)]
    ),
    action!(
        "ModifyHostsProject",
        Write,
        move_hosts,
        "Moves hosts (from ProjectId, when given) to TargetProjectId; one result per host.",
        [
            req("HostIds", Ty::IdList),
            opt("ProjectId", Ty::Id),
            req("TargetProjectId", Ty::Id),
        ]
    ),
    action!(
        "ModifyDatabasesProject",
        Write,
        move_databases,
        "Moves databases (from ProjectId, when given) to TargetProjectId; one result per \
         database.",
        [
            req("DatabaseIds", Ty::IdList),
            opt("ProjectId", Ty::Id),
            req("TargetProjectId", Ty::Id),
        ]
    ),
    action!(
        "AttachMembersToProject",
        Write,
        members,
        "Refused: member accounts are cloud resource-directory accounts.",
        [req("ProjectId", Ty::Id), opt("MemberIds", Ty::Json)]
    ),
    action!(
        "DetachMembersFromProject",
        Write,
        members,
        "Refused: member accounts are cloud resource-directory accounts.",
        [req("ProjectId", Ty::Id), opt("MemberIds", Ty::Json)]
    ),
    action!(
        "ListMembersNotForProject",
        Read,
        no_members,
        "Answers an empty list: a self-hosted cluster has no member accounts.",
        [
            opt("ProjectId", Ty::Id),
            opt("Keyword", Ty::Str),
            opt("MaxResults", Ty::Int),
            opt("NextToken", Ty::Str),
            opt("Skip", Ty::Int),
        ]
    ),
    action!(
        "CreateProjectNotifyReceiver",
        Write,
        receivers,
        "Refused: Portunus sends no SMS or e-mail.",
        [
            req("ProjectId", Ty::Id),
            opt("Name", Ty::Str),
            opt("Phone", Ty::Str),
            opt("Email", Ty::Str),
        ]
    ),
    action!(
        "ModifyProjectNotifyReceiver",
        Write,
        receivers,
        "Refused: Portunus sends no SMS or e-mail.",
        [
            opt("ReceiverId", Ty::Id),
            opt("Name", Ty::Str),
            opt("Phone", Ty::Str),
            opt("Email", Ty::Str),
        ]
    ),
    action!(
        "DeleteProjectNotifyReceivers",
        Write,
        receivers,
        "Refused: Portunus sends no SMS or e-mail.",
        [opt("ReceiverIds", Ty::Json)]
    ),
    action!(
        "ListProjectNotifyReceivers",
        Read,
        no_receivers,
        "Answers an empty list for a project that exists: Portunus sends no SMS or e-mail.",
        [
            req("ProjectId", Ty::Id),
            opt("Keyword", Ty::Str),
            opt("MaxResults", Ty::Int),
            opt("NextToken", Ty::Str),
            opt("Skip", Ty::Int),
        ]
    ),
];

/// A project id parameter (0 names the default project); None when absent or empty.
pub fn project_param(c: &Call, name: &str) -> Result<Option<ProjectId>, ApiError> {
    c.p.opt_id(name)
}

/// Checks that a project exists (the default one always does).
pub fn project_exists(s: &State, id: ProjectId) -> Result<(), ApiError> {
    let exists = id == DEFAULT_PROJECT || s.project(id).is_some();
    found(exists.then_some(()), EntityKind::Project, id)
}

/// The name of a project, for asset views.
pub fn project_name(s: &State, id: ProjectId) -> String {
    match s.project(id) {
        Some(p) => p.name.clone(),
        None => DEFAULT_PROJECT_NAME.to_string(),
    }
}

/// MemberIds may be given only empty.
fn no_member_ids(c: &Call) -> Result<(), ApiError> {
    match c.p.opt("MemberIds").filter(|v| !v.trim().is_empty()) {
        None => Ok(()),
        Some(_) => match c.p.json_list("MemberIds")? {
            list if list.is_empty() => Ok(()),
            _ => Err(ApiError::Inapplicable(MEMBERS)),
        },
    }
}

/// The short form of a project in lists and in delegations' details.
pub fn brief(s: &State, id: ProjectId) -> Value {
    let description = s.project(id).map(|p| p.description.clone());
    json!({
        "ProjectId": id,
        "Name": project_name(s, id),
        "Description": description.unwrap_or_else(|| "Assets placed in no other project".into()),
        "IsDefault": id == DEFAULT_PROJECT,
    })
}

/// Every project id, the default one first.
pub fn all_projects(s: &State) -> Vec<ProjectId> {
    std::iter::once(DEFAULT_PROJECT)
        .chain(s.projects().map(|p| p.id))
        .collect()
}

/// Whether a project's name contains the keyword (case-insensitive; no keyword matches all).
pub fn named_like(s: &State, id: ProjectId, keyword: Option<&str>) -> bool {
    keyword.is_none_or(|k| {
        project_name(s, id)
            .to_lowercase()
            .contains(&k.to_lowercase())
    })
}

fn detail(s: &State, id: ProjectId, full: bool) -> Value {
    let mut v = brief(s, id);
    let hosts = s.hosts_in_project(id).count();
    let databases = s.databases_in_project(id).count();
    let m = v.as_object_mut().expect("brief is an object");
    m.insert("HostCount".into(), hosts.into());
    m.insert("DatabaseCount".into(), databases.into());
    m.insert("AppCount".into(), 0.into());
    m.insert("MemberIds".into(), json!([]));
    if full {
        let (created, updated) = s
            .project(id)
            .map_or((0, 0), |p| (p.created_at_ms / 1000, p.updated_at_ms / 1000));
        m.insert("CreatedAt".into(), created.into());
        m.insert("UpdatedAt".into(), updated.into());
        m.insert("NotifyReceivers".into(), json!([]));
    } else {
        m.insert("DomainServerCount".into(), 0.into());
    }
    v
}

async fn create(c: &Call) -> ApiResult {
    no_member_ids(c)?;
    let id = c
        .create(Command::CreateProject {
            name: c.p.req("Name")?.to_string(),
            description: c.p.string("Description").unwrap_or_default(),
        })
        .await?;
    Ok(one("ProjectId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("ProjectId")?;
    let v = c
        .read(|s| project_exists(s, id).map(|_| detail(s, id, true)))
        .await??;
    Ok(one("Project", v))
}

async fn list(c: &Call) -> ApiResult {
    let keyword = c.p.opt("Keyword");
    let cursor = c.p.cursor()?;
    let rows = c
        .read(|s| {
            all_projects(s)
                .into_iter()
                .filter(|p| named_like(s, *p, keyword))
                .map(|p| detail(s, p, false))
                .collect()
        })
        .await?;
    Ok(cursor.page("Projects", rows))
}

async fn modify(c: &Call) -> ApiResult {
    no_member_ids(c)?;
    let project_id = c.p.id("ProjectId")?;
    let current = c.read(|s| s.project(project_id).cloned()).await?;
    let description = match c.p.string("Description") {
        Some(d) => d,
        None => current.map(|p| p.description).unwrap_or_default(),
    };
    c.propose(Command::UpdateProject {
        project_id,
        name: c.p.req("Name")?.to_string(),
        description,
    })
    .await?;
    Ok(one("ProjectId", project_id.to_string()))
}

async fn delete(c: &Call) -> ApiResult {
    let mut results = Vec::new();
    for project_id in c.p.id_list("ProjectIds")? {
        let outcome = c.propose(Command::DeleteProject { project_id }).await;
        results.push(batch_entry(&outcome, &[("ProjectId", project_id)]));
    }
    Ok(one("Results", results))
}

async fn relocate(c: &Call, databases: bool) -> ApiResult {
    let from = project_param(c, "ProjectId")?;
    let to = c.p.id("TargetProjectId")?;
    let param = if databases { "DatabaseIds" } else { "HostIds" };
    let ids = c.p.id_list(param)?;
    // Each move names the project the asset is in now (the caller's ProjectId, or where it was
    // read to be), so a move that raced with another is refused rather than undoing it.
    let now: Vec<Option<ProjectId>> = c
        .read(|s| {
            ids.iter()
                .map(|id| match (from, databases) {
                    (Some(f), _) => Some(f),
                    (None, true) => s.database_project(*id),
                    (None, false) => s.host_project(*id),
                })
                .collect()
        })
        .await?;
    let mut results = Vec::new();
    let mut ok = 0;
    for (id, from) in ids.iter().zip(now) {
        let cmd = if databases {
            Command::MoveDatabasesToProject {
                from,
                to,
                database_ids: vec![*id],
            }
        } else {
            Command::MoveHostsToProject {
                from,
                to,
                host_ids: vec![*id],
            }
        };
        let outcome = c.propose(cmd).await;
        ok += usize::from(outcome.is_ok());
        results.push(batch_entry(&outcome, &[("AssetId", *id)]));
    }
    let mut body = one("Results", results);
    body.insert("SuccessCount".into(), ok.into());
    body.insert("TotalCount".into(), ids.len().into());
    Ok(body)
}

async fn move_hosts(c: &Call) -> ApiResult {
    relocate(c, false).await
}

async fn move_databases(c: &Call) -> ApiResult {
    relocate(c, true).await
}

async fn members(_c: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(MEMBERS))
}

async fn no_members(c: &Call) -> ApiResult {
    if let Some(id) = project_param(c, "ProjectId")? {
        c.read(|s| project_exists(s, id)).await??;
    }
    Ok(c.p.cursor()?.page("Members", Vec::new()))
}

async fn receivers(_c: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(RECEIVERS))
}

async fn no_receivers(c: &Call) -> ApiResult {
    let id = c.p.id("ProjectId")?;
    c.read(|s| project_exists(s, id)).await??;
    Ok(c.p.cursor()?.page("Items", Vec::new()))
}
