//! Applies project, project-authorization and review-rule commands, and answers which
//! projects a user reaches through them.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::ids::{DatabaseId, DelegationId, EntityKind, HostId, ProjectId, UserId};
use crate::project::{
    Delegation, DelegationKind, DelegationSpec, Project, ProjectReach, DEFAULT_PROJECT,
    DEFAULT_PROJECT_NAME,
};
use crate::rejection::Rejection;
use crate::response::Response;
use std::collections::BTreeSet;

fn entity(kind: DelegationKind) -> EntityKind {
    match kind {
        DelegationKind::Manage => EntityKind::ProjectAuthorization,
        DelegationKind::Review => EntityKind::ReviewRule,
    }
}

/// The stored form of a project id: None for the default project.
fn stored(project: ProjectId) -> Option<ProjectId> {
    (project != DEFAULT_PROJECT).then_some(project)
}

impl State {
    pub(super) fn apply_projects(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreateProject { name, description } => {
                self.create_project(now, name, description)
            }
            Command::UpdateProject {
                project_id,
                name,
                description,
            } => self.update_project(now, *project_id, name, description),
            Command::DeleteProject { project_id } => self.delete_project(*project_id),
            Command::MoveHostsToProject { from, to, host_ids } => {
                self.move_hosts_to_project(*from, *to, host_ids)
            }
            Command::MoveDatabasesToProject {
                from,
                to,
                database_ids,
            } => self.move_databases_to_project(*from, *to, database_ids),
            Command::CreateDelegation { kind, spec } => self.create_delegation(*kind, spec),
            Command::UpdateDelegation {
                kind,
                delegation_id,
                spec,
            } => self.update_delegation(*kind, *delegation_id, spec),
            Command::DeleteDelegation {
                kind,
                delegation_id,
            } => self.delete_delegation(*kind, *delegation_id),
            Command::SetDelegationProjects {
                kind,
                delegation_id,
                project_ids,
                attach,
            } => self.set_delegation_projects(*kind, *delegation_id, project_ids, *attach),
            Command::SetDelegationUsers {
                kind,
                delegation_id,
                user_ids,
                attach,
            } => self.set_delegation_users(*kind, *delegation_id, user_ids, *attach),
            _ => return None,
        };
        Some(r)
    }

    /// A project id that names the default project or a stored one.
    fn check_project(&self, id: ProjectId) -> Result<(), Rejection> {
        if id == DEFAULT_PROJECT {
            return Ok(());
        }
        found(&self.projects, EntityKind::Project, id).map(|_| ())
    }

    /// Checks the project a new asset names.
    pub(super) fn check_asset_project(&self, id: Option<ProjectId>) -> Result<(), Rejection> {
        id.map_or(Ok(()), |p| self.check_project(p))
    }

    fn check_project_name(&self, name: &str, except: Option<ProjectId>) -> Result<(), Rejection> {
        validate::name("Name", name)?;
        if name.eq_ignore_ascii_case(DEFAULT_PROJECT_NAME) {
            return Err(Rejection::invalid(
                "Name",
                "is the default project's name; choose another",
            ));
        }
        let names = self.projects.values().map(|p| (p.id, p.name.as_str()));
        validate::unique(EntityKind::Project, name, except, names)
    }

    fn create_project(
        &mut self,
        now: u64,
        name: &str,
        description: &str,
    ) -> Result<Response, Rejection> {
        self.check_project_name(name, None)?;
        validate::text("Description", description)?;
        let id = self.alloc_id();
        let project = Project {
            id,
            name: name.to_string(),
            description: description.to_string(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        self.projects.insert(id, project);
        Ok(Response::Created { id })
    }

    fn update_project(
        &mut self,
        now: u64,
        id: ProjectId,
        name: &str,
        description: &str,
    ) -> Result<Response, Rejection> {
        if id == DEFAULT_PROJECT {
            return Err(Rejection::invalid(
                "ProjectId",
                "the default project cannot be renamed",
            ));
        }
        found(&self.projects, EntityKind::Project, id)?;
        self.check_project_name(name, Some(id))?;
        validate::text("Description", description)?;
        if let Some(p) = self.projects.get_mut(&id) {
            p.name = name.to_string();
            p.description = description.to_string();
            p.updated_at_ms = now;
        }
        Ok(Response::Done)
    }

    fn delete_project(&mut self, id: ProjectId) -> Result<Response, Rejection> {
        if id == DEFAULT_PROJECT {
            return Err(Rejection::invalid(
                "ProjectIds",
                "the default project cannot be deleted",
            ));
        }
        found(&self.projects, EntityKind::Project, id)?;
        let hosts = self.hosts_in_project(id).count();
        let databases = self.databases_in_project(id).count();
        if hosts + databases > 0 {
            return Err(Rejection::invalid(
                "ProjectIds",
                format!(
                    "project {id} still holds {hosts} host(s) and {databases} database(s); move them to another project first"
                ),
            ));
        }
        self.projects.remove(&id);
        for d in self.delegations.values_mut() {
            d.projects.remove(&id);
        }
        Ok(Response::Done)
    }

    fn move_hosts_to_project(
        &mut self,
        from: Option<ProjectId>,
        to: ProjectId,
        ids: &[HostId],
    ) -> Result<Response, Rejection> {
        self.check_project(to)?;
        if let Some(f) = from {
            self.check_project(f)?;
        }
        validate::all_found(&self.hosts, EntityKind::Host, ids)?;
        if let Some(f) = from {
            if let Some(h) = ids.iter().find(|h| self.host_project(**h) != Some(f)) {
                return Err(Rejection::invalid(
                    "HostIds",
                    format!("host {h} is not in project {f}"),
                ));
            }
        }
        self.each_host(ids, |h| h.project_id = stored(to))
    }

    fn move_databases_to_project(
        &mut self,
        from: Option<ProjectId>,
        to: ProjectId,
        ids: &[DatabaseId],
    ) -> Result<Response, Rejection> {
        self.check_project(to)?;
        if let Some(f) = from {
            self.check_project(f)?;
        }
        validate::all_found(&self.databases, EntityKind::Database, ids)?;
        if let Some(f) = from {
            if let Some(d) = ids.iter().find(|d| self.database_project(**d) != Some(f)) {
                return Err(Rejection::invalid(
                    "DatabaseIds",
                    format!("database {d} is not in project {f}"),
                ));
            }
        }
        for id in ids {
            if let Some(d) = self.databases.get_mut(id) {
                d.project_id = stored(to);
            }
        }
        Ok(Response::Done)
    }

    fn delegation_of(
        &self,
        kind: DelegationKind,
        id: DelegationId,
    ) -> Result<&Delegation, Rejection> {
        match self.delegations.get(&id) {
            Some(d) if d.kind == kind => Ok(d),
            _ => Err(Rejection::NotFound {
                kind: entity(kind),
                id,
            }),
        }
    }

    fn check_delegation_spec(
        &self,
        kind: DelegationKind,
        spec: &DelegationSpec,
        except: Option<DelegationId>,
    ) -> Result<(), Rejection> {
        validate::name("Name", &spec.name)?;
        validate::text("Description", &spec.description)?;
        let names = self
            .delegations
            .values()
            .filter(|d| d.kind == kind)
            .map(|d| (d.id, d.spec.name.as_str()));
        validate::unique(entity(kind), &spec.name, except, names)
    }

    fn create_delegation(
        &mut self,
        kind: DelegationKind,
        spec: &DelegationSpec,
    ) -> Result<Response, Rejection> {
        self.check_delegation_spec(kind, spec, None)?;
        let id = self.alloc_id();
        let d = Delegation {
            id,
            kind,
            spec: spec.clone(),
            projects: BTreeSet::new(),
            users: BTreeSet::new(),
        };
        self.delegations.insert(id, d);
        Ok(Response::Created { id })
    }

    fn update_delegation(
        &mut self,
        kind: DelegationKind,
        id: DelegationId,
        spec: &DelegationSpec,
    ) -> Result<Response, Rejection> {
        self.delegation_of(kind, id)?;
        self.check_delegation_spec(kind, spec, Some(id))?;
        if let Some(d) = self.delegations.get_mut(&id) {
            d.spec = spec.clone();
        }
        Ok(Response::Done)
    }

    fn delete_delegation(
        &mut self,
        kind: DelegationKind,
        id: DelegationId,
    ) -> Result<Response, Rejection> {
        self.delegation_of(kind, id)?;
        self.delegations.remove(&id);
        Ok(Response::Done)
    }

    fn set_delegation_projects(
        &mut self,
        kind: DelegationKind,
        id: DelegationId,
        projects: &[ProjectId],
        attach: bool,
    ) -> Result<Response, Rejection> {
        self.delegation_of(kind, id)?;
        if attach {
            for p in projects {
                self.check_project(*p)?;
            }
        }
        if let Some(d) = self.delegations.get_mut(&id) {
            for p in projects {
                if attach {
                    d.projects.insert(*p);
                } else {
                    d.projects.remove(p);
                }
            }
        }
        Ok(Response::Done)
    }

    fn set_delegation_users(
        &mut self,
        kind: DelegationKind,
        id: DelegationId,
        users: &[UserId],
        attach: bool,
    ) -> Result<Response, Rejection> {
        self.delegation_of(kind, id)?;
        if attach {
            validate::all_found(&self.users, EntityKind::User, users)?;
        }
        if let Some(d) = self.delegations.get_mut(&id) {
            for u in users {
                if attach {
                    d.users.insert(*u);
                } else {
                    d.users.remove(u);
                }
            }
        }
        Ok(Response::Done)
    }

    /// Forgets a deleted user in every delegation.
    pub(super) fn drop_delegated_user(&mut self, user: UserId) {
        for d in self.delegations.values_mut() {
            d.users.remove(&user);
        }
    }

    // ---- queries

    /// A stored project (not the default one).
    pub fn project(&self, id: ProjectId) -> Option<&Project> {
        self.projects.get(&id)
    }

    /// Every stored project (the default one is not among them).
    pub fn projects(&self) -> impl Iterator<Item = &Project> {
        self.projects.values()
    }

    /// The project a host is in (`DEFAULT_PROJECT` for the default one); None: no such host.
    pub fn host_project(&self, id: HostId) -> Option<ProjectId> {
        self.hosts
            .get(&id)
            .map(|h| h.project_id.unwrap_or(DEFAULT_PROJECT))
    }

    /// The project a database is in; None: no such database.
    pub fn database_project(&self, id: DatabaseId) -> Option<ProjectId> {
        self.databases
            .get(&id)
            .map(|d| d.project_id.unwrap_or(DEFAULT_PROJECT))
    }

    /// The project an asset is in; None: no such asset.
    pub fn asset_project(&self, asset: crate::common::AssetRef) -> Option<ProjectId> {
        match asset {
            crate::common::AssetRef::Host(h) => self.host_project(h),
            crate::common::AssetRef::Database(d) => self.database_project(d),
        }
    }

    /// The ids of the hosts in a project.
    pub fn hosts_in_project(&self, id: ProjectId) -> impl Iterator<Item = HostId> + '_ {
        let want = stored(id);
        self.hosts
            .values()
            .filter(move |h| h.project_id == want)
            .map(|h| h.id)
    }

    /// The ids of the databases in a project.
    pub fn databases_in_project(&self, id: ProjectId) -> impl Iterator<Item = DatabaseId> + '_ {
        let want = stored(id);
        self.databases
            .values()
            .filter(move |d| d.project_id == want)
            .map(|d| d.id)
    }

    /// A project authorization or review rule of this kind.
    pub fn delegation(&self, kind: DelegationKind, id: DelegationId) -> Option<&Delegation> {
        self.delegations.get(&id).filter(|d| d.kind == kind)
    }

    /// Every project authorization (or every review rule).
    pub fn delegations(&self, kind: DelegationKind) -> impl Iterator<Item = &Delegation> {
        self.delegations.values().filter(move |d| d.kind == kind)
    }

    /// The projects a user reaches through delegations of one kind.
    pub fn project_reach(&self, kind: DelegationKind, user: UserId) -> ProjectReach {
        let mut named = false;
        let mut set = BTreeSet::new();
        for d in self.delegations(kind).filter(|d| d.users.contains(&user)) {
            if d.spec.all_projects {
                return ProjectReach::All;
            }
            named = true;
            set.extend(d.projects.iter().copied());
        }
        if named {
            ProjectReach::Projects(set)
        } else {
            ProjectReach::Nothing
        }
    }
}
