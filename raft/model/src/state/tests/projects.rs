//! Projects partition the assets; delegations name who manages or audits which projects.

use super::Fx;
use crate::command::Command;
use crate::ids::EntityKind;
use crate::project::{DelegationKind, DelegationSpec, ProjectReach, DEFAULT_PROJECT};
use crate::Rejection;

fn project(fx: &mut Fx, name: &str) -> u64 {
    fx.created(Command::CreateProject {
        name: name.into(),
        description: String::new(),
    })
}

fn delegation(fx: &mut Fx, kind: DelegationKind, name: &str, all: bool) -> u64 {
    fx.created(Command::CreateDelegation {
        kind,
        spec: DelegationSpec {
            name: name.into(),
            description: String::new(),
            all_projects: all,
        },
    })
}

#[test]
fn assets_start_in_the_default_project_and_move_only_from_where_they_are() {
    let mut fx = Fx::new();
    let web = project(&mut fx, "web");
    let shop = project(&mut fx, "shop");
    let h = fx.host("h1");
    let d = fx.database("d1");
    assert_eq!(fx.st.host_project(h), Some(DEFAULT_PROJECT));
    assert_eq!(fx.st.database_project(d), Some(DEFAULT_PROJECT));
    // Moving from a project the host is not in is refused, naming the host.
    let r = fx.reject(Command::MoveHostsToProject {
        from: Some(shop),
        to: web,
        host_ids: vec![h],
    });
    assert!(
        r.to_string()
            .contains(&format!("host {h} is not in project {shop}")),
        "{r}"
    );
    fx.done(Command::MoveHostsToProject {
        from: Some(DEFAULT_PROJECT),
        to: web,
        host_ids: vec![h],
    });
    fx.done(Command::MoveDatabasesToProject {
        from: None,
        to: web,
        database_ids: vec![d],
    });
    assert_eq!(fx.st.host_project(h), Some(web));
    assert_eq!(fx.st.hosts_in_project(web).collect::<Vec<_>>(), vec![h]);
    assert_eq!(fx.st.databases_in_project(web).collect::<Vec<_>>(), vec![d]);
    // A project that holds assets is not deleted; an empty one is.
    let r = fx.reject(Command::DeleteProject { project_id: web });
    assert!(r.to_string().contains("1 host(s) and 1 database(s)"), "{r}");
    fx.done(Command::MoveHostsToProject {
        from: Some(web),
        to: DEFAULT_PROJECT,
        host_ids: vec![h],
    });
    assert_eq!(fx.st.host_project(h), Some(DEFAULT_PROJECT));
    fx.done(Command::DeleteProject { project_id: shop });
    assert!(fx.st.project(shop).is_none());
    // Unknown projects are named.
    let r = fx.reject(Command::MoveHostsToProject {
        from: None,
        to: shop,
        host_ids: vec![h],
    });
    assert_eq!(
        r,
        Rejection::NotFound {
            kind: EntityKind::Project,
            id: shop
        }
    );
}

#[test]
fn the_default_project_keeps_its_name_and_cannot_be_deleted() {
    let mut fx = Fx::new();
    let r = fx.reject(Command::DeleteProject {
        project_id: DEFAULT_PROJECT,
    });
    assert!(r.to_string().contains("cannot be deleted"), "{r}");
    let r = fx.reject(Command::UpdateProject {
        project_id: DEFAULT_PROJECT,
        name: "x".into(),
        description: String::new(),
    });
    assert!(r.to_string().contains("cannot be renamed"), "{r}");
    let r = fx.reject(Command::CreateProject {
        name: "default".into(),
        description: String::new(),
    });
    assert!(r.to_string().contains("default project's name"), "{r}");
    project(&mut fx, "web");
    let r = fx.reject(Command::CreateProject {
        name: "web".into(),
        description: String::new(),
    });
    assert!(matches!(r, Rejection::AlreadyExists { .. }), "{r}");
}

#[test]
fn reach_is_the_union_of_the_delegations_naming_the_user() {
    let mut fx = Fx::new();
    let alice = fx.user("alice");
    let bob = fx.user("bob");
    let web = project(&mut fx, "web");
    let shop = project(&mut fx, "shop");
    let a = delegation(&mut fx, DelegationKind::Manage, "web admins", false);
    let b = delegation(&mut fx, DelegationKind::Manage, "shop admins", false);
    let r = delegation(&mut fx, DelegationKind::Review, "all auditors", true);
    // A review rule's id is not a project authorization.
    let wrong = fx.reject(Command::SetDelegationUsers {
        kind: DelegationKind::Manage,
        delegation_id: r,
        user_ids: vec![alice],
        attach: true,
    });
    assert_eq!(
        wrong,
        Rejection::NotFound {
            kind: EntityKind::ProjectAuthorization,
            id: r
        }
    );
    assert_eq!(
        fx.st.project_reach(DelegationKind::Manage, alice),
        ProjectReach::Nothing
    );
    for (d, p) in [(a, web), (b, shop)] {
        fx.done(Command::SetDelegationProjects {
            kind: DelegationKind::Manage,
            delegation_id: d,
            project_ids: vec![p],
            attach: true,
        });
        fx.done(Command::SetDelegationUsers {
            kind: DelegationKind::Manage,
            delegation_id: d,
            user_ids: vec![alice],
            attach: true,
        });
    }
    let reach = fx.st.project_reach(DelegationKind::Manage, alice);
    assert_eq!(reach, ProjectReach::Projects([web, shop].into()));
    assert!(reach.reaches(web) && !reach.reaches(DEFAULT_PROJECT));
    assert_eq!(
        fx.st.project_reach(DelegationKind::Review, alice),
        ProjectReach::Nothing
    );
    fx.done(Command::SetDelegationUsers {
        kind: DelegationKind::Review,
        delegation_id: r,
        user_ids: vec![bob],
        attach: true,
    });
    assert_eq!(
        fx.st.project_reach(DelegationKind::Review, bob),
        ProjectReach::All
    );
    // Deleting a project drops it from the delegations; deleting a user drops the user.
    fx.done(Command::DeleteProject { project_id: shop });
    assert_eq!(
        fx.st.project_reach(DelegationKind::Manage, alice),
        ProjectReach::Projects([web].into())
    );
    fx.done(Command::DeleteUser { user_id: alice });
    assert!(fx
        .st
        .delegation(DelegationKind::Manage, a)
        .is_some_and(|d| d.users.is_empty()));
    // Unknown users and projects are refused when attached.
    let r = fx.reject(Command::SetDelegationUsers {
        kind: DelegationKind::Manage,
        delegation_id: a,
        user_ids: vec![alice],
        attach: true,
    });
    assert_eq!(r, Rejection::not_found(EntityKind::User, alice));
    let r = fx.reject(Command::SetDelegationProjects {
        kind: DelegationKind::Manage,
        delegation_id: a,
        project_ids: vec![shop],
        attach: true,
    });
    assert_eq!(r, Rejection::not_found(EntityKind::Project, shop));
}

#[test]
fn assets_are_created_in_a_named_project_that_exists() {
    let mut fx = Fx::new();
    let web = project(&mut fx, "web");
    let h = fx.created(Command::CreateHost(crate::host::NewHost {
        name: "h".into(),
        private_address: "10.0.0.1".into(),
        project_id: Some(web),
        ..Default::default()
    }));
    assert_eq!(fx.st.host_project(h), Some(web));
    let r = fx.reject(Command::CreateHost(crate::host::NewHost {
        name: "h2".into(),
        private_address: "10.0.0.1".into(),
        project_id: Some(999),
        ..Default::default()
    }));
    assert_eq!(r, Rejection::not_found(EntityKind::Project, 999));
}
