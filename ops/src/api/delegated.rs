//! What project authorizations and review rules let their users do.
//!
//! Delegations only add rights, and only to an Operator AccessKey (which on its own asks O&M
//! tokens for its user and reads about that user): a user named in a project authorization
//! administers the assets of the projects it covers — hosts, databases, their accounts, who is
//! authorized to them, moving them between those projects — and reads users and user groups
//! to authorize them; a user named in a review rule reads the sessions (and their events) on
//! the covered projects' assets. Deleting the delegation, or naming the user no longer, takes
//! the rights away.
//!
//! Each delegable action says where its parameters name assets; every asset a call names
//! must be in a covered project, and a call must name at least one (a listing names its
//! project with `ProjectId`), so nothing outside is read or changed. An asset that does not
//! exist is refused with the same words as one outside, which tells nothing about other
//! projects. A unit test checks that every id parameter of a delegable action is accounted
//! for.

use super::actions::grants;
use super::auth::{self, Caller};
use super::error::ApiError;
use super::params::Params;
use super::table::Action;
use crate::backend::Backend;
use portunus_model::{
    AssetRef, DelegationKind, ProjectId, ProjectReach, Role, State, DEFAULT_PROJECT,
};

/// Where an action's parameters name the assets it reads or changes.
#[derive(Clone, Copy, Debug)]
enum Names {
    /// The project a new asset goes to: `ProjectId`, or the default project without it.
    NewAsset,
    /// A project id parameter (a listing's `ProjectId`, a move's target).
    Project(&'static str),
    Host(&'static str),
    /// A JSON array of host ids.
    Hosts(&'static str),
    HostAccount(&'static str),
    Database(&'static str),
    /// A JSON array of database ids.
    Databases(&'static str),
    DatabaseAccount(&'static str),
    /// The `Hosts` JSON list of a grant (`[{"HostId": ..., "HostAccountIds": [...]}]`).
    HostGrants,
    /// The flattened `Databases.N.DatabaseId` of a grant.
    DatabaseGrants,
    Session(&'static str),
    /// Reads no asset (users and user groups, to authorize them).
    NoAsset,
    /// A parameter naming something instance-wide that reaches beyond the projects (a shared
    /// key logs on to any host it is attached to; a network domain's proxy reaches another
    /// network): refused when given, with why.
    Refused(&'static str),
}

use Names::*;

/// Actions a project administrator may call.
const MANAGED: &[(&str, &[Names])] = &[
    ("CreateHost", &[NewAsset, Refused("NetworkDomainId")]),
    ("GetHost", &[Host("HostId")]),
    ("ListHosts", &[Project("ProjectId")]),
    ("ModifyHost", &[Host("HostId"), Refused("NetworkDomainId")]),
    ("DeleteHost", &[Host("HostId")]),
    ("ModifyHostFingerPrint", &[Host("HostId")]),
    ("ModifyHostsActiveAddressType", &[Hosts("HostIds")]),
    ("ModifyHostsPort", &[Hosts("HostIds")]),
    (
        "ModifyHostsProject",
        &[
            Hosts("HostIds"),
            Project("ProjectId"),
            Project("TargetProjectId"),
        ],
    ),
    (
        "CreateHostAccount",
        &[Host("HostId"), Refused("HostShareKeyId")],
    ),
    ("VerifyHostAccount", &[HostAccount("HostAccountId")]),
    ("GetHostAccount", &[HostAccount("HostAccountId")]),
    ("ListHostAccounts", &[Host("HostId"), Hosts("HostIds")]),
    (
        "ModifyHostAccount",
        &[HostAccount("HostAccountId"), Refused("HostShareKeyId")],
    ),
    ("DeleteHostAccount", &[HostAccount("HostAccountId")]),
    (
        "ResetHostAccountCredential",
        &[HostAccount("HostAccountId")],
    ),
    ("CreateDatabase", &[NewAsset, Refused("NetworkDomainId")]),
    ("GetDatabase", &[Database("DatabaseId")]),
    ("ListDatabases", &[Project("ProjectId")]),
    (
        "ModifyDatabase",
        &[Database("DatabaseId"), Refused("NetworkDomainId")],
    ),
    ("DeleteDatabase", &[Database("DatabaseId")]),
    (
        "ModifyDatabasesProject",
        &[
            Databases("DatabaseIds"),
            Project("ProjectId"),
            Project("TargetProjectId"),
        ],
    ),
    ("CreateDatabaseAccount", &[Database("DatabaseId")]),
    (
        "GetDatabaseAccount",
        &[DatabaseAccount("DatabaseAccountId")],
    ),
    ("ListDatabaseAccounts", &[Database("DatabaseId")]),
    (
        "ModifyDatabaseAccount",
        &[DatabaseAccount("DatabaseAccountId")],
    ),
    (
        "DeleteDatabaseAccount",
        &[DatabaseAccount("DatabaseAccountId")],
    ),
    ("AttachHostAccountsToUser", &[HostGrants]),
    ("DetachHostAccountsFromUser", &[HostGrants]),
    ("AttachHostAccountsToUserGroup", &[HostGrants]),
    ("DetachHostAccountsFromUserGroup", &[HostGrants]),
    ("AttachDatabaseAccountsToUser", &[DatabaseGrants]),
    ("DetachDatabaseAccountsFromUser", &[DatabaseGrants]),
    ("AttachDatabaseAccountsToUserGroup", &[DatabaseGrants]),
    ("DetachDatabaseAccountsFromUserGroup", &[DatabaseGrants]),
    ("GetProject", &[Project("ProjectId")]),
    ("ListUsers", &[NoAsset]),
    ("GetUser", &[NoAsset]),
    ("ListUserGroups", &[NoAsset]),
    ("GetUserGroup", &[NoAsset]),
];

/// Actions an auditor named in a review rule may call.
const REVIEWED: &[(&str, &[Names])] = &[
    ("ListSessions", &[Project("ProjectId")]),
    ("ListSessionEvents", &[Session("SessionId")]),
    ("GetProject", &[Project("ProjectId")]),
];

/// Authorizes a call: by the key's role, or else by the delegations naming an Operator key's
/// user. The role's refusal stands when no delegation applies.
///
/// The delegation check reads this node's state after waiting for it to hold every write
/// acknowledged before the call (a barrier), so a user removed from a delegation, locked or
/// past their validity, or an asset moved out of a project, is seen on every node at once.
pub async fn authorize(
    backend: &dyn Backend,
    caller: &Caller,
    action: &Action,
    params: &Params,
    now_ms: u64,
) -> Result<(), ApiError> {
    let refused = match auth::authorize(caller, action.access, params) {
        Ok(()) => return Ok(()),
        Err(e) => e,
    };
    let (Role::Operator, Some(user)) = (caller.role, caller.user_id) else {
        return Err(refused);
    };
    let delegable = [MANAGED, REVIEWED]
        .iter()
        .any(|t| t.iter().any(|(a, _)| *a == action.name));
    if !delegable {
        return Err(refused);
    }
    backend.barrier().await?;
    let mut outcome = Err(refused);
    backend.read(&mut |s| {
        if s.check_user_active(user, now_ms).is_err() {
            return;
        }
        for (kind, table) in [
            (DelegationKind::Manage, MANAGED),
            (DelegationKind::Review, REVIEWED),
        ] {
            let Some((_, names)) = table.iter().find(|(a, _)| *a == action.name) else {
                continue;
            };
            let reach = s.project_reach(kind, user);
            if reach == ProjectReach::Nothing {
                continue;
            }
            outcome = within(s, &reach, Why::Delegated(kind), names, params);
            if outcome.is_ok() {
                return;
            }
        }
    });
    outcome
}

/// The verb of a delegation's users, for refusals.
fn verb(kind: DelegationKind) -> &'static str {
    match kind {
        DelegationKind::Manage => "administer",
        DelegationKind::Review => "audit",
    }
}

/// Why assets are checked, which decides the words of a refusal.
#[derive(Clone, Copy)]
enum Why {
    /// A delegation's user acts on them.
    Delegated(DelegationKind),
    /// The call names `ProjectId` as the project they are in.
    InProject(ProjectId),
}

impl Why {
    fn asset_outside(self, what: String) -> ApiError {
        match self {
            Why::Delegated(kind) => {
                ApiError::Forbidden(format!("{what} is not in a project you {}", verb(kind)))
            }
            Why::InProject(id) => {
                ApiError::invalid("ProjectId", format!("{what} is not in project {id}"))
            }
        }
    }

    fn project_outside(self, id: ProjectId) -> ApiError {
        match self {
            Why::Delegated(kind) => {
                ApiError::Forbidden(format!("project {id} is not one you {}", verb(kind)))
            }
            Why::InProject(given) => {
                ApiError::invalid("ProjectId", format!("project {id} is not project {given}"))
            }
        }
    }
}

/// Checks every asset the parameters name against the reach; at least one must be named.
fn within(
    s: &State,
    reach: &ProjectReach,
    why: Why,
    names: &[Names],
    p: &Params,
) -> Result<(), ApiError> {
    let mut named = 0;
    let check = |project: Option<ProjectId>, what: String| match project {
        Some(pr) if reach.reaches(pr) => Ok(()),
        _ => Err(why.asset_outside(what)),
    };
    let check_project = |id: ProjectId| {
        let exists = id == DEFAULT_PROJECT || s.project(id).is_some();
        match exists && reach.reaches(id) {
            true => Ok(()),
            false => Err(why.project_outside(id)),
        }
    };
    let present = |name: &str| p.opt(name).is_some();
    for n in names {
        match *n {
            NewAsset => {
                let project = p.opt_id("ProjectId")?.unwrap_or(DEFAULT_PROJECT);
                check_project(project)?;
                named += 1;
            }
            NoAsset => named += 1,
            Refused(param) if present(param) => {
                return Err(ApiError::Forbidden(format!(
                    "{param} names something every project shares (shared keys and network \
                     domains reach beyond a project): an administrator sets it"
                )));
            }
            Project(param) if present(param) => {
                check_project(p.id(param)?)?;
                named += 1;
            }
            Host(param) if present(param) => {
                let id = p.id(param)?;
                check(s.host_project(id), format!("host {id}"))?;
                named += 1;
            }
            Hosts(param) if present(param) => {
                for id in p.id_list(param)? {
                    check(s.host_project(id), format!("host {id}"))?;
                    named += 1;
                }
            }
            HostAccount(param) if present(param) => {
                let id = p.id(param)?;
                let host = s.host_account(id).map(|a| a.host_id);
                check(
                    host.and_then(|h| s.host_project(h)),
                    format!("host account {id}"),
                )?;
                named += 1;
            }
            Database(param) if present(param) => {
                let id = p.id(param)?;
                check(s.database_project(id), format!("database {id}"))?;
                named += 1;
            }
            Databases(param) if present(param) => {
                for id in p.id_list(param)? {
                    check(s.database_project(id), format!("database {id}"))?;
                    named += 1;
                }
            }
            DatabaseAccount(param) if present(param) => {
                let id = p.id(param)?;
                let db = s.database_account(id).map(|a| a.database_id);
                check(
                    db.and_then(|d| s.database_project(d)),
                    format!("database account {id}"),
                )?;
                named += 1;
            }
            HostGrants if present("Hosts") => {
                for e in grants::entries(p, "Hosts", "HostId", "HostAccountIds")? {
                    check(s.host_project(e.id), format!("host {}", e.id))?;
                    named += 1;
                }
            }
            DatabaseGrants if p.iter().any(|(k, _)| k.starts_with("Databases.")) => {
                for e in grants::db_entries(p)? {
                    check(s.database_project(e.id), format!("database {}", e.id))?;
                    named += 1;
                }
            }
            Session(param) if present(param) => {
                let id = p.id(param)?;
                let asset: Option<AssetRef> = s.session(id).map(|x| x.asset);
                check(
                    asset.and_then(|a| s.asset_project(a)),
                    format!("session {id}"),
                )?;
                named += 1;
            }
            _ => {}
        }
    }
    if named == 0 {
        let wanted: Vec<&str> = names.iter().filter_map(|n| param_of(*n)).collect();
        return Err(match why {
            Why::Delegated(kind) => ApiError::Forbidden(format!(
                "name the assets you act on: give {} within the projects you {}",
                wanted.join(" or "),
                verb(kind)
            )),
            Why::InProject(_) => not_applicable(),
        });
    }
    Ok(())
}

fn not_applicable() -> ApiError {
    ApiError::invalid(
        "ProjectId",
        "this call names no host, database or session that ProjectId could select; leave it out",
    )
}

/// `ProjectId` given to an action that does not take it itself (it is a parameter every
/// action accepts): honoured as the project every asset the call names must be in, and
/// refused where the call names none, rather than ignored.
pub fn check_project_param(
    backend: &dyn Backend,
    action: &Action,
    params: &Params,
) -> Result<(), ApiError> {
    let Some(project) = params.opt_id("ProjectId")? else {
        return Ok(());
    };
    if action.params.iter().any(|spec| spec.name == "ProjectId") {
        return Ok(());
    }
    let names: Vec<Names> = action
        .params
        .iter()
        .filter_map(|p| named_by(p.name))
        .collect();
    if names.is_empty() {
        return Err(not_applicable());
    }
    let mut outcome = Ok(());
    backend.read(&mut |s| {
        let exists = project == DEFAULT_PROJECT || s.project(project).is_some();
        outcome = if exists {
            let reach = ProjectReach::Projects([project].into());
            within(s, &reach, Why::InProject(project), &names, params)
        } else {
            Err(ApiError::Rejected(portunus_model::Rejection::not_found(
                portunus_model::EntityKind::Project,
                project,
            )))
        };
    });
    outcome
}

/// What a parameter of this name selects, for [`check_project_param`].
fn named_by(param: &'static str) -> Option<Names> {
    match param {
        "HostId" => Some(Host(param)),
        "HostIds" => Some(Hosts(param)),
        "HostAccountId" => Some(HostAccount(param)),
        "DatabaseId" => Some(Database(param)),
        "DatabaseIds" => Some(Databases(param)),
        "DatabaseAccountId" => Some(DatabaseAccount(param)),
        "Hosts" => Some(HostGrants),
        "Databases" => Some(DatabaseGrants),
        "SessionId" => Some(Session(param)),
        _ => None,
    }
}

/// The parameter a kind of name reads.
fn param_of(n: Names) -> Option<&'static str> {
    match n {
        NewAsset => Some("ProjectId"),
        Project(p) | Host(p) | Hosts(p) | HostAccount(p) | Database(p) | Databases(p)
        | DatabaseAccount(p) | Session(p) => Some(p),
        HostGrants => Some("Hosts"),
        DatabaseGrants => Some("Databases"),
        NoAsset | Refused(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::table::{self, Ty};

    /// Parameters that name no asset: the principals of a grant, the label an asset carries
    /// from its cloud source, and cloud accounts and regions (refused by their handlers).
    const NOT_ASSETS: &[&str] = &[
        "UserId",
        "UserGroupId",
        "SourceInstanceId",
        "InstanceMemberId",
        "InstanceRegionId",
        "SourceInstanceRegionId",
    ];

    /// Filters of listings, which name their project: they only narrow it.
    const FILTERS: &[&str] = &[
        "HostGroupId",
        "NetworkDomainId",
        "SourceUserId",
        "NodeId",
        "SessionId",
    ];

    /// Every parameter of a delegable action that could name an asset is checked: a new id
    /// parameter added to one of these actions fails here until it is accounted for.
    #[test]
    fn every_id_parameter_of_a_delegable_action_is_checked() {
        for (name, names) in MANAGED.iter().chain(REVIEWED) {
            let action = table::find(name).unwrap_or_else(|| panic!("{name} is not served"));
            let refused = names.iter().filter_map(|n| match n {
                Refused(p) => Some(*p),
                _ => None,
            });
            let checked: Vec<&str> = names
                .iter()
                .filter_map(|n| param_of(*n))
                .chain(refused)
                .collect();
            for spec in action.params {
                let names_an_id = spec.name.ends_with("Id")
                    || spec.name.ends_with("Ids")
                    || matches!(spec.ty, Ty::Json | Ty::IdList | Ty::Indexed);
                let filter = name.starts_with("List") && FILTERS.contains(&spec.name);
                if !names_an_id || NOT_ASSETS.contains(&spec.name) || filter {
                    continue;
                }
                assert!(
                    checked.contains(&spec.name),
                    "{name}: parameter {} may name an asset and is not checked",
                    spec.name
                );
            }
        }
    }
}
