//! Applies synchronizations of users from an LDAP or AD directory.
//!
//! The directory is the source of its users: a synchronization creates the users its entries
//! name that the cluster lacks (enabled entries only), takes their display name, e-mail and
//! mobile number as the settings ask, locks users of that source who are disabled in the
//! directory or no longer in it, and lifts that lock (only that one) when they are enabled
//! again. Users of another source holding a login name are left alone and reported. With
//! group synchronization on, each group name an entry carries becomes a user group of the
//! directory's source (created when missing) whose directory members are set to exactly
//! those the directory says; members of other sources that an administrator added stay, and
//! groups of other sources are never touched.

use super::validate;
use super::{Handled, State};
use crate::command::Command;
use crate::directory::{DirectoryEntry, SyncReport, MAX_SYNC_ENTRIES};
use crate::ids::{UserGroupId, UserId};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::settings::{DirectorySettings, DirectorySync};
use crate::user::{NewUser, User, UserGroup, UserSource};
use std::collections::{BTreeMap, BTreeSet};

impl State {
    pub(super) fn apply_directory_sync(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::SyncDirectory { source, entries } => {
                self.sync_directory(now, *source, entries)
            }
            Command::DirectorySyncFailed { source, error } => {
                self.directory_settings(*source).map(|_| ()).map(|()| {
                    let report = SyncReport {
                        at_ms: now,
                        error: Some(error.clone()),
                        ..Default::default()
                    };
                    self.directory_syncs.insert(*source, report.clone());
                    Response::DirectorySynced(Box::new(report))
                })
            }
            _ => return None,
        };
        Some(r)
    }

    /// The settings of the directory `source` names.
    pub(super) fn directory_settings(
        &self,
        source: UserSource,
    ) -> Result<&DirectorySettings, Rejection> {
        let (settings, name) = match source {
            UserSource::Ldap => (self.ldap.as_ref(), "LDAP"),
            UserSource::Ad => (self.ad.as_ref(), "AD"),
            _ => {
                return Err(Rejection::invalid(
                    "Source",
                    "only LDAP and AD directories are synchronized",
                ))
            }
        };
        settings.ok_or_else(|| {
            Rejection::invalid("Source", format!("no {name} server settings are stored"))
        })
    }

    fn sync_directory(
        &mut self,
        now: u64,
        source: UserSource,
        entries: &[DirectoryEntry],
    ) -> Result<Response, Rejection> {
        let sync = self.directory_settings(source)?.sync.clone();
        if entries.len() > MAX_SYNC_ENTRIES {
            return Err(Rejection::invalid(
                "entries",
                format!("more than {MAX_SYNC_ENTRIES} user entries"),
            ));
        }
        let mut report = SyncReport {
            at_ms: now,
            entries: entries.len() as u64,
            ..Default::default()
        };
        let usable = usable_entries(entries, &mut report);
        let mut present: BTreeMap<UserId, &Entry> = BTreeMap::new();
        for (login, e) in &usable {
            match self.user_ids_by_name().get(login.as_str()).copied() {
                Some(id) => {
                    let Some(u) = self.users.get_mut(&id) else {
                        continue;
                    };
                    if u.source != source {
                        SyncReport::note(
                            &mut report.user_conflicts,
                            &mut report.user_conflict_count,
                            login.clone(),
                        );
                        continue;
                    }
                    if take_profile(u, e, &sync) {
                        report.updated += 1;
                    }
                    if u.source_user_id != e.dn {
                        u.source_user_id = e.dn.clone();
                    }
                    if e.disabled {
                        lock(u, &mut report);
                    } else {
                        unlock(u, &mut report);
                    }
                    present.insert(id, e);
                }
                None if e.disabled => {}
                None => {
                    let id = self.alloc_id();
                    let mut user = new_user(id, login, source, e, now);
                    take_profile(&mut user, e, &sync);
                    self.users.insert(id, user);
                    self.user_names.insert(login, id);
                    report.created += 1;
                    present.insert(id, e);
                }
            }
        }
        let gone: Vec<UserId> = self
            .users
            .values()
            .filter(|u| u.source == source && !present.contains_key(&u.id))
            .map(|u| u.id)
            .collect();
        for id in gone {
            if let Some(u) = self.users.get_mut(&id) {
                lock(u, &mut report);
            }
        }
        if sync.syncs_groups() {
            self.sync_groups(now, source, &present, &mut report);
        }
        self.directory_syncs.insert(source, report.clone());
        Ok(Response::DirectorySynced(Box::new(report)))
    }

    /// Directory groups: created when missing, directory members set as the entries say.
    fn sync_groups(
        &mut self,
        now: u64,
        source: UserSource,
        present: &BTreeMap<UserId, &Entry>,
        report: &mut SyncReport,
    ) {
        let mut wanted: BTreeMap<&str, BTreeSet<UserId>> = BTreeMap::new();
        for (id, e) in present {
            for g in &e.groups {
                wanted.entry(g.as_str()).or_default().insert(*id);
            }
        }
        for name in wanted.keys() {
            match self.user_group_ids_by_name().get(*name).copied() {
                Some(gid) => {
                    if self
                        .user_groups
                        .get(&gid)
                        .is_some_and(|g| g.source != source)
                    {
                        SyncReport::note(
                            &mut report.group_conflicts,
                            &mut report.group_conflict_count,
                            name.to_string(),
                        );
                    }
                }
                None => {
                    let id: UserGroupId = self.alloc_id();
                    let comment = match source {
                        UserSource::Ad => "synchronized from the AD directory",
                        _ => "synchronized from the LDAP directory",
                    };
                    let group = UserGroup {
                        id,
                        name: name.to_string(),
                        comment: comment.into(),
                        members: BTreeSet::new(),
                        created_at_ms: now,
                        source,
                    };
                    self.user_groups.insert(id, group);
                    self.user_group_names.insert(name, id);
                    report.groups_created += 1;
                }
            }
        }
        let directory_users: BTreeSet<UserId> = self
            .users
            .values()
            .filter(|u| u.source == source)
            .map(|u| u.id)
            .collect();
        for g in self.user_groups.values_mut() {
            if g.source != source {
                continue;
            }
            let want = wanted.get(g.name.as_str());
            let members: BTreeSet<UserId> = g
                .members
                .iter()
                .filter(|m| !directory_users.contains(m))
                .chain(want.into_iter().flatten())
                .copied()
                .collect();
            report.membership_changes += members.symmetric_difference(&g.members).count() as u64;
            g.members = members;
        }
    }
}

/// An entry with the attributes Portunus can take (the others dropped and reported).
struct Entry {
    dn: String,
    display_name: Option<String>,
    email: Option<String>,
    mobile: Option<String>,
    disabled: bool,
    groups: Vec<String>,
}

/// The entries by login name: the first of each name, with unusable names and attributes
/// reported and left out.
fn usable_entries(entries: &[DirectoryEntry], report: &mut SyncReport) -> BTreeMap<String, Entry> {
    let mut invalid = |what: String| {
        SyncReport::note(&mut report.invalid, &mut report.invalid_count, what);
    };
    let mut out = BTreeMap::new();
    for e in entries {
        if let Err(why) = validate::name("UserName", &e.login) {
            invalid(format!("{:?} ({}): {why}", e.login, e.dn));
            continue;
        }
        if out.contains_key(&e.login) {
            invalid(format!(
                "{}: a second entry with this login name ({})",
                e.login, e.dn
            ));
            continue;
        }
        let mut field = |name: &str, v: &Option<String>| -> Option<String> {
            let v = v.as_ref()?;
            let checked = match name {
                "DisplayName" => super::users::check_user_fields(v, "", "", ""),
                "Email" => super::users::check_user_fields("", v, "", ""),
                _ => super::users::check_user_fields("", "", v, ""),
            };
            match checked {
                Ok(()) => Some(v.clone()),
                Err(why) => {
                    invalid(format!("{}: {why}", e.login));
                    None
                }
            }
        };
        let entry = Entry {
            display_name: field("DisplayName", &e.display_name),
            email: field("Email", &e.email),
            mobile: field("Mobile", &e.mobile),
            dn: e.dn.clone(),
            disabled: e.disabled,
            groups: e
                .groups
                .iter()
                .filter(|g| match validate::name("UserGroupName", g) {
                    Ok(()) => true,
                    Err(why) => {
                        invalid(format!("{}: group {g:?}: {why}", e.login));
                        false
                    }
                })
                .cloned()
                .collect(),
        };
        out.insert(e.login.clone(), entry);
    }
    out
}

/// Takes the attributes the settings ask for; whether anything changed.
fn take_profile(u: &mut User, e: &Entry, sync: &DirectorySync) -> bool {
    let mut changed = false;
    for (wanted, have, got) in [
        (sync.name, &mut u.display_name, &e.display_name),
        (sync.email, &mut u.email, &e.email),
        (sync.mobile, &mut u.mobile, &e.mobile),
    ] {
        if let Some(v) = got.as_ref().filter(|v| wanted && *v != have) {
            *have = v.clone();
            changed = true;
        }
    }
    changed
}

fn lock(u: &mut User, report: &mut SyncReport) {
    if !u.locked {
        u.locked = true;
        u.directory_locked = true;
        report.locked += 1;
    }
}

fn unlock(u: &mut User, report: &mut SyncReport) {
    if u.locked && u.directory_locked {
        u.locked = false;
        u.directory_locked = false;
        report.unlocked += 1;
    }
}

fn new_user(id: UserId, login: &str, source: UserSource, e: &Entry, now: u64) -> User {
    let new = NewUser {
        name: login.to_string(),
        source,
        source_user_id: e.dn.clone(),
        ..Default::default()
    };
    User::new(id, &new, now)
}
