//! Directory synchronization: users created, profiles taken, disabled and vanished users
//! locked and unlocked, directory groups kept, users and groups of other sources left alone.

use super::Fx;
use crate::command::Command;
use crate::directory::{DirectoryEntry, SyncReport};
use crate::response::Response;
use crate::settings::{DirectorySettings, DirectorySync};
use crate::user::UserSource;
use crate::Rejection;

fn entry(login: &str, groups: &[&str]) -> DirectoryEntry {
    DirectoryEntry {
        login: login.into(),
        dn: format!("uid={login},ou=people,dc=example,dc=org"),
        display_name: Some(format!("{login} from the directory")),
        email: Some(format!("{login}@example.org")),
        mobile: None,
        disabled: false,
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn with_ad(sync: DirectorySync) -> Fx {
    let mut fx = Fx::new();
    fx.done(Command::SetAdSettings(Some(DirectorySettings {
        server: "dc.example.org".into(),
        sync,
        ..Default::default()
    })));
    fx
}

fn groups_on() -> DirectorySync {
    DirectorySync {
        groups_as_groups: true,
        ..Default::default()
    }
}

fn sync(fx: &mut Fx, entries: Vec<DirectoryEntry>) -> SyncReport {
    match fx.run(Command::SyncDirectory {
        source: UserSource::Ad,
        entries,
    }) {
        Response::DirectorySynced(r) => *r,
        other => panic!("expected a sync report, got {other:?}"),
    }
}

fn locked(fx: &Fx, name: &str) -> bool {
    fx.st.user_by_name(name).expect("user").locked
}

fn members(fx: &Fx, group: &str) -> Vec<String> {
    let id = fx.st.user_group_ids_by_name()[group];
    let g = fx.st.user_group(id).expect("group");
    let mut names: Vec<String> = g
        .members
        .iter()
        .map(|m| fx.st.user(*m).expect("member").name.clone())
        .collect();
    names.sort();
    names
}

#[test]
fn a_sync_creates_users_takes_profiles_and_reports_what_it_did() {
    let mut fx = with_ad(DirectorySync::default());
    let mut off = entry("erin", &[]);
    off.disabled = true;
    let r = sync(&mut fx, vec![entry("dave", &[]), entry("frank", &[]), off]);
    assert_eq!((r.entries, r.created, r.updated, r.locked), (3, 2, 0, 0));
    let dave = fx.st.user_by_name("dave").expect("dave created");
    assert_eq!(dave.source, UserSource::Ad);
    assert_eq!(dave.display_name, "dave from the directory");
    assert_eq!(dave.source_user_id, "uid=dave,ou=people,dc=example,dc=org");
    assert!(dave.password_hash.is_none());
    assert!(
        fx.st.user_by_name("erin").is_none(),
        "a disabled entry was imported"
    );
    assert_eq!(fx.st.directory_sync(UserSource::Ad), Some(&r));

    // The directory changes dave's e-mail: taken. The same sync again changes nothing.
    let mut changed = entry("dave", &[]);
    changed.email = Some("dave@corp.example".into());
    let r = sync(&mut fx, vec![changed.clone(), entry("frank", &[])]);
    assert_eq!((r.created, r.updated, r.locked), (0, 1, 0));
    assert_eq!(
        fx.st.user_by_name("dave").unwrap().email,
        "dave@corp.example"
    );
    let r = sync(&mut fx, vec![changed, entry("frank", &[])]);
    assert_eq!((r.created, r.updated, r.locked, r.unlocked), (0, 0, 0, 0));
}

#[test]
fn attributes_the_settings_do_not_sync_are_left_as_they_are() {
    let mut fx = with_ad(DirectorySync {
        name: false,
        email: true,
        mobile: false,
        ..Default::default()
    });
    let mut e = entry("dave", &[]);
    e.mobile = Some("+1 555 0100".into());
    sync(&mut fx, vec![e]);
    let dave = fx.st.user_by_name("dave").unwrap();
    assert_eq!(dave.display_name, "");
    assert_eq!(dave.mobile, "");
    assert_eq!(dave.email, "dave@example.org");
}

#[test]
fn disabled_and_vanished_users_are_locked_and_only_the_directory_lock_is_lifted() {
    let mut fx = with_ad(DirectorySync::default());
    sync(
        &mut fx,
        vec![entry("dave", &[]), entry("frank", &[]), entry("gina", &[])],
    );
    let mut dave_off = entry("dave", &[]);
    dave_off.disabled = true;
    // dave is disabled, frank is gone, gina stays.
    let r = sync(&mut fx, vec![dave_off, entry("gina", &[])]);
    assert_eq!((r.locked, r.unlocked), (2, 0));
    assert!(locked(&fx, "dave") && locked(&fx, "frank") && !locked(&fx, "gina"));
    let dave = fx.st.user_by_name("dave").unwrap().id;
    assert!(matches!(
        fx.st.check_user_active(dave, fx.now),
        Err(Rejection::UserLocked)
    ));
    // An administrator locks gina; the directory knows nothing of it and must not lift it.
    let gina = fx.st.user_by_name("gina").unwrap().id;
    fx.done(Command::LockUsers {
        user_ids: vec![gina],
    });
    let r = sync(
        &mut fx,
        vec![entry("dave", &[]), entry("frank", &[]), entry("gina", &[])],
    );
    assert_eq!((r.locked, r.unlocked), (0, 2));
    assert!(!locked(&fx, "dave") && !locked(&fx, "frank"));
    assert!(
        locked(&fx, "gina"),
        "the sync lifted an administrator's lock"
    );
    // An administrator's unlock of a directory-locked user holds until the next sync.
    let mut frank_off = entry("frank", &[]);
    frank_off.disabled = true;
    sync(
        &mut fx,
        vec![entry("dave", &[]), frank_off.clone(), entry("gina", &[])],
    );
    assert!(locked(&fx, "frank"));
    let frank = fx.st.user_by_name("frank").unwrap().id;
    fx.done(Command::UnlockUsers {
        user_ids: vec![frank],
    });
    assert!(!locked(&fx, "frank"));
    let r = sync(
        &mut fx,
        vec![entry("dave", &[]), frank_off, entry("gina", &[])],
    );
    assert_eq!(r.locked, 1);
    assert!(locked(&fx, "frank"));
}

#[test]
fn users_and_groups_of_other_sources_are_left_alone_and_reported() {
    let mut fx = with_ad(groups_on());
    let alice = fx.user("alice");
    fx.group("ops", &[alice]);
    let before = fx.st.user_by_name("alice").unwrap().clone();
    let r = sync(
        &mut fx,
        vec![entry("alice", &["ops"]), entry("dave", &["ops"])],
    );
    assert_eq!(r.user_conflicts, vec!["alice".to_string()]);
    assert_eq!(r.group_conflicts, vec!["ops".to_string()]);
    assert_eq!((r.user_conflict_count, r.group_conflict_count), (1, 1));
    assert_eq!(fx.st.user_by_name("alice"), Some(&before));
    assert_eq!(
        members(&fx, "ops"),
        vec!["alice"],
        "a local group gained a member"
    );
    // A local user not in the directory is never locked by it.
    let r = sync(&mut fx, vec![entry("dave", &[])]);
    assert_eq!(r.locked, 0);
    assert!(!locked(&fx, "alice"));
}

#[test]
fn directory_groups_follow_the_directory_and_keep_members_an_administrator_added() {
    let mut fx = with_ad(groups_on());
    let r = sync(
        &mut fx,
        vec![entry("dave", &["dba", "ops"]), entry("frank", &["ops"])],
    );
    assert_eq!((r.groups_created, r.membership_changes), (2, 3));
    assert_eq!(members(&fx, "ops"), vec!["dave", "frank"]);
    assert_eq!(members(&fx, "dba"), vec!["dave"]);
    let dba = fx.st.user_group_ids_by_name()["dba"];
    assert_eq!(fx.st.user_group(dba).unwrap().source, UserSource::Ad);
    // An administrator adds a local user to the directory group: kept.
    let alice = fx.user("alice");
    fx.done(Command::AddUsersToGroup {
        group_id: dba,
        user_ids: vec![alice],
    });
    // dave leaves dba; frank joins it.
    let r = sync(
        &mut fx,
        vec![entry("dave", &["ops"]), entry("frank", &["ops", "dba"])],
    );
    assert_eq!((r.groups_created, r.membership_changes), (0, 2));
    assert_eq!(members(&fx, "dba"), vec!["alice", "frank"]);
    // Group sync off: membership is left as it is.
    let mut settings = fx.st.ad_settings().unwrap().clone();
    settings.sync = DirectorySync::default();
    fx.done(Command::SetAdSettings(Some(settings)));
    let r = sync(&mut fx, vec![entry("dave", &[]), entry("frank", &[])]);
    assert_eq!(r.membership_changes, 0);
    assert_eq!(members(&fx, "ops"), vec!["dave", "frank"]);
}

#[test]
fn unusable_entries_are_reported_and_the_rest_applied() {
    let mut fx = with_ad(groups_on());
    let mut bad_mail = entry("dave", &["bad\u{7}group", "ops"]);
    bad_mail.email = Some("not-an-address".into());
    let r = sync(
        &mut fx,
        vec![
            entry("", &[]),
            bad_mail,
            entry("dave", &[]),
            entry(&"x".repeat(200), &[]),
        ],
    );
    assert_eq!(r.created, 1);
    assert_eq!(r.invalid_count, 5, "{:?}", r.invalid);
    let dave = fx.st.user_by_name("dave").unwrap();
    assert_eq!(dave.email, "", "an invalid address was taken");
    assert_eq!(members(&fx, "ops"), vec!["dave"]);
}

#[test]
fn a_sync_needs_the_directory_settings_and_a_failure_changes_nothing_but_the_report() {
    let mut fx = Fx::new();
    let rej = fx.reject(Command::SyncDirectory {
        source: UserSource::Ldap,
        entries: vec![entry("dave", &[])],
    });
    assert!(rej.to_string().contains("no LDAP server settings"), "{rej}");
    fx.reject(Command::SyncDirectory {
        source: UserSource::Local,
        entries: vec![],
    });
    let mut fx = with_ad(DirectorySync::default());
    sync(&mut fx, vec![entry("dave", &[])]);
    let users_before = fx.st.user_by_name("dave").cloned();
    match fx.run(Command::DirectorySyncFailed {
        source: UserSource::Ad,
        error: "the AD server cannot be reached".into(),
    }) {
        Response::DirectorySynced(r) => {
            assert_eq!(r.error.as_deref(), Some("the AD server cannot be reached"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(fx.st.user_by_name("dave").cloned(), users_before);
    assert!(fx
        .st
        .directory_sync(UserSource::Ad)
        .unwrap()
        .error
        .is_some());
}

#[test]
fn oidc_settings_need_an_https_issuer_and_a_client_when_enabled() {
    use crate::settings::OidcSettings;
    let mut fx = Fx::new();
    let good = OidcSettings {
        enabled: true,
        issuer: "https://id.example.org/realms/ops".into(),
        client_id: "portunus".into(),
        ..Default::default()
    };
    for (bad, field) in [
        (
            OidcSettings {
                issuer: "http://id.example.org".into(),
                ..good.clone()
            },
            "Issuer",
        ),
        (
            OidcSettings {
                issuer: "https://id.example.org/?x=1".into(),
                ..good.clone()
            },
            "Issuer",
        ),
        (
            OidcSettings {
                client_id: String::new(),
                ..good.clone()
            },
            "ClientId",
        ),
    ] {
        let r = fx.reject(Command::SetOidcSettings(Some(bad)));
        assert!(
            matches!(&r, Rejection::InvalidParameter { name, .. } if name == field),
            "{r:?}"
        );
    }
    fx.done(Command::SetOidcSettings(Some(good.clone())));
    assert_eq!(fx.st.oidc_settings(), Some(&good));
    assert_eq!(good.claim(), "preferred_username");
    fx.done(Command::SetOidcSettings(None));
    assert_eq!(fx.st.oidc_settings(), None);
}
