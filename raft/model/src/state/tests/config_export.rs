//! The configuration document: what a populated cluster exports reads back as JSON and
//! imports into a fresh cluster as the same configuration, and nothing else is accepted.

use super::Fx;
use crate::command::Command;
use crate::project::{DelegationKind, DelegationSpec};
use crate::state::{Configuration, CONFIG_FORMAT};
use crate::Rejection;

fn exported() -> (Fx, Configuration) {
    let mut fx = super::sealed_scan::populated();
    let web = fx.created(Command::CreateProject {
        name: "web".into(),
        description: String::new(),
    });
    let d = fx.created(Command::CreateDelegation {
        kind: DelegationKind::Manage,
        spec: DelegationSpec {
            name: "web admins".into(),
            description: String::new(),
            all_projects: false,
        },
    });
    fx.done(Command::SetDelegationProjects {
        kind: DelegationKind::Manage,
        delegation_id: d,
        project_ids: vec![web],
        attach: true,
    });
    let (u, h, a) = fx.granted("zed");
    let epoch = fx.start_node(1);
    fx.open(u, h, a, 1, epoch);
    let config = fx.st.configuration();
    (fx, config)
}

#[test]
fn an_export_reads_back_as_json_and_imports_into_a_fresh_cluster_unchanged() {
    let (fx, config) = exported();
    assert!(!config.users.is_empty() && !config.hosts.is_empty() && !config.projects.is_empty());
    assert!(!config.access_keys.is_empty() && config.ssh_host_key.is_some());
    let text = serde_json::to_string(&config).expect("the configuration is JSON");
    let back: Configuration = serde_json::from_str(&text).expect("and reads back");
    assert_eq!(back, config);
    let mut fresh = Fx::new();
    // The first start of a cluster makes its first administrator: still fresh.
    fresh.user("admin");
    fresh.done(Command::ImportConfiguration(Box::new(back)));
    assert_eq!(fresh.st.configuration(), config);
    // History stays with the cluster that lived it.
    assert!(fx.st.sessions().next().is_some());
    assert!(fresh.st.sessions().next().is_none());
    // New ids continue after the imported ones.
    let next = fresh.created(Command::CreateUserGroup {
        name: "after".into(),
        comment: String::new(),
    });
    assert!(next >= config.next_id, "{next} reuses an imported id");
}

#[test]
fn an_import_is_refused_by_a_cluster_with_configuration_or_for_a_broken_document() {
    let (mut fx, config) = exported();
    let r = fx.reject(Command::ImportConfiguration(Box::new(config.clone())));
    assert!(r.to_string().contains("import into a fresh cluster"), "{r}");
    let mut fresh = Fx::new();
    let mut other = config.clone();
    other.format = CONFIG_FORMAT + 1;
    let r = fresh.reject(Command::ImportConfiguration(Box::new(other)));
    assert!(r.to_string().contains("state format"), "{r}");
    let mut cut = config.clone();
    cut.hosts.clear();
    let r = fresh.reject(Command::ImportConfiguration(Box::new(cut)));
    assert!(matches!(r, Rejection::InvalidParameter { .. }), "{r}");
    assert!(r.to_string().contains("which it does not hold"), "{r}");
    let mut low = config;
    low.next_id = 1;
    let r = fresh.reject(Command::ImportConfiguration(Box::new(low)));
    assert!(r.to_string().contains("next id"), "{r}");
}
