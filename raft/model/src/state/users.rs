//! Applies user, public-key, logon-counter and user-group commands.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::ids::{EntityKind, UserGroupId, UserId};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::second_factor::TwoFactorStatus;
use crate::user::{NewUser, PublicKey, TwoFactorMethod, User, UserGroup, UserPatch};
use std::collections::BTreeSet;

impl State {
    pub(super) fn apply_users(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreateUser(new) => self.create_user(now, new),
            Command::UpdateUser { user_id, patch } => self.update_user(*user_id, patch),
            Command::DeleteUser { user_id } => self.delete_user(*user_id),
            Command::SetUserPassword {
                user_id,
                password_hash,
            } => self.with_user(*user_id, |u| u.password_hash = password_hash.clone()),
            Command::LockUsers { user_ids } => self.set_locked(user_ids, true),
            Command::UnlockUsers { user_ids } => self.set_locked(user_ids, false),
            Command::RecordLoginFailure { user_id } => self.login_failure(now, *user_id),
            Command::RecordLoginSuccess { user_id } => self.login_success(now, *user_id),
            Command::CreateUserGroup { name, comment } => {
                self.create_user_group(now, name, comment)
            }
            Command::UpdateUserGroup {
                group_id,
                name,
                comment,
            } => self.update_user_group(*group_id, name, comment),
            Command::DeleteUserGroup { group_id } => self.delete_user_group(*group_id),
            Command::AddUsersToGroup { group_id, user_ids } => {
                self.group_members(*group_id, user_ids, true)
            }
            Command::RemoveUsersFromGroup { group_id, user_ids } => {
                self.group_members(*group_id, user_ids, false)
            }
            _ => return None,
        };
        Some(r)
    }

    pub(super) fn apply_public_keys(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::AddUserPublicKey {
                user_id,
                name,
                public_key,
                fingerprint,
                comment,
            } => {
                let key = PublicKey {
                    id: 0,
                    name: name.clone(),
                    public_key: public_key.clone(),
                    fingerprint: fingerprint.clone(),
                    comment: comment.clone(),
                    created_at_ms: now,
                };
                self.add_public_key(*user_id, key)
            }
            Command::RemoveUserPublicKey { user_id, key_id } => {
                self.remove_public_key(*user_id, *key_id)
            }
            Command::UpdateUserPublicKey {
                user_id,
                key_id,
                name,
                comment,
            } => self.update_public_key(*user_id, *key_id, name, comment),
            _ => return None,
        };
        Some(r)
    }

    fn create_user(&mut self, now: u64, new: &NewUser) -> Result<Response, Rejection> {
        validate::name("UserName", &new.name)?;
        check_user_fields(&new.display_name, &new.email, &new.mobile, &new.comment)?;
        if !new.validity.is_well_formed() {
            return Err(Rejection::invalid("Validity", "start must precede end"));
        }
        check_two_factor(new.two_factor_status, &new.two_factor)?;
        let holder = self.user_ids_by_name().get(&new.name).copied();
        validate::unique_in(EntityKind::User, &new.name, None, holder)?;
        let id = self.alloc_id();
        let user = User::new(id, new, now);
        self.users.insert(id, user);
        self.user_names.insert(&new.name, id);
        Ok(Response::Created { id })
    }

    fn update_user(&mut self, id: UserId, p: &UserPatch) -> Result<Response, Rejection> {
        let cur = found(&self.users, EntityKind::User, id)?;
        check_user_fields(
            p.display_name.as_deref().unwrap_or(&cur.display_name),
            p.email.as_deref().unwrap_or(&cur.email),
            p.mobile.as_deref().unwrap_or(&cur.mobile),
            p.comment.as_deref().unwrap_or(&cur.comment),
        )?;
        if p.validity.is_some_and(|v| !v.is_well_formed()) {
            return Err(Rejection::invalid("Validity", "start must precede end"));
        }
        check_two_factor(
            p.two_factor_status.unwrap_or(cur.two_factor_status),
            p.two_factor.as_ref().unwrap_or(&cur.two_factor),
        )?;
        self.with_user(id, |u| {
            set(&mut u.display_name, &p.display_name);
            set(&mut u.email, &p.email);
            set(&mut u.mobile, &p.mobile);
            set(&mut u.comment, &p.comment);
            set(&mut u.two_factor, &p.two_factor);
            set(&mut u.two_factor_status, &p.two_factor_status);
            set(&mut u.validity, &p.validity);
            set(&mut u.language, &p.language);
        })
    }

    /// Runs `f` on an existing user.
    fn with_user(&mut self, id: UserId, f: impl FnOnce(&mut User)) -> Result<Response, Rejection> {
        let user = self
            .users
            .get_mut(&id)
            .ok_or(Rejection::not_found(EntityKind::User, id))?;
        f(user);
        Ok(Response::Done)
    }

    fn set_locked(&mut self, ids: &[UserId], locked: bool) -> Result<Response, Rejection> {
        validate::all_found(&self.users, EntityKind::User, ids)?;
        for id in ids {
            if let Some(u) = self.users.get_mut(id) {
                u.locked = locked;
                // The administrator's decision takes the lock over from the directory.
                u.directory_locked = false;
                if !locked {
                    clear_failures(u);
                    u.lockouts = 0;
                    u.password_locked_until_ms = None;
                    if let Some(t) = &mut u.totp {
                        t.failures = Default::default();
                    }
                }
            }
        }
        Ok(Response::Done)
    }

    /// A wrong password. Failures are counted in a window that starts at the first one; the
    /// threshold-th locks password logons for `login_lock_secs`, doubled for each lockout in a
    /// row, up to `login_lock_max_secs`. Failures while locked are not counted (the gate does
    /// not even check the password then), so an attacker cannot lengthen a lockout.
    fn login_failure(&mut self, now: u64, id: UserId) -> Result<Response, Rejection> {
        let s = &self.settings;
        let (threshold, window_ms) = (s.login_lock_threshold, s.login_lock_window_secs * 1000);
        let (base_ms, max_ms) = (s.login_lock_secs * 1000, s.login_lock_max_secs * 1000);
        let u = self
            .users
            .get_mut(&id)
            .ok_or(Rejection::not_found(EntityKind::User, id))?;
        if !u.password_locked(now) {
            if u.failures_since_ms
                .is_none_or(|t| now.saturating_sub(t) >= window_ms)
            {
                u.failed_logins = 0;
                u.failures_since_ms = Some(now);
            }
            u.failed_logins = u.failed_logins.saturating_add(1);
            if threshold > 0 && u.failed_logins >= threshold {
                let doubled = base_ms.saturating_mul(1u64 << u.lockouts.min(32));
                u.password_locked_until_ms = Some(now.saturating_add(doubled.min(max_ms)));
                u.lockouts = u.lockouts.saturating_add(1);
                clear_failures(u);
            }
        }
        Ok(Response::LoginRecorded {
            user_id: id,
            failed_logins: u.failed_logins,
            locked_until_ms: u.password_locked_until_ms.filter(|t| now < *t),
        })
    }

    /// A successful logon ends the run of failures and lockouts.
    fn login_success(&mut self, now: u64, id: UserId) -> Result<Response, Rejection> {
        let u = found(&self.users, EntityKind::User, id)?;
        if u.locked {
            return Err(Rejection::UserLocked);
        }
        self.with_user(id, |u| {
            clear_failures(u);
            u.lockouts = 0;
            u.password_locked_until_ms = None;
            u.last_login_ms = Some(now);
        })?;
        Ok(Response::LoginRecorded {
            user_id: id,
            failed_logins: 0,
            locked_until_ms: None,
        })
    }

    fn add_public_key(
        &mut self,
        user_id: UserId,
        mut key: PublicKey,
    ) -> Result<Response, Rejection> {
        let user = found(&self.users, EntityKind::User, user_id)?;
        validate::name("PublicKeyName", &key.name)?;
        validate::text("PublicKey", &key.public_key)?;
        validate::text("Comment", &key.comment)?;
        validate::name("Fingerprint", &key.fingerprint)?;
        if key.public_key.split_whitespace().count() < 2 {
            return Err(Rejection::invalid("PublicKey", "not an OpenSSH public key"));
        }
        let names = user.public_keys.values().map(|k| (k.id, k.name.as_str()));
        validate::unique(EntityKind::PublicKey, &key.name, None, names)?;
        let prints = user
            .public_keys
            .values()
            .map(|k| (k.id, k.fingerprint.as_str()));
        validate::unique(EntityKind::PublicKey, &key.fingerprint, None, prints)?;
        let id = self.alloc_id();
        key.id = id;
        self.with_user(user_id, |u| {
            u.public_keys.insert(id, key);
        })?;
        Ok(Response::Created { id })
    }

    fn update_public_key(
        &mut self,
        user_id: UserId,
        key_id: u64,
        name: &Option<String>,
        comment: &Option<String>,
    ) -> Result<Response, Rejection> {
        let user = found(&self.users, EntityKind::User, user_id)?;
        found(&user.public_keys, EntityKind::PublicKey, key_id)?;
        if let Some(n) = name {
            validate::name("PublicKeyName", n)?;
            let names = user.public_keys.values().map(|k| (k.id, k.name.as_str()));
            validate::unique(EntityKind::PublicKey, n, Some(key_id), names)?;
        }
        validate::text("Comment", comment.as_deref().unwrap_or(""))?;
        self.with_user(user_id, |u| {
            if let Some(k) = u.public_keys.get_mut(&key_id) {
                set(&mut k.name, name);
                set(&mut k.comment, comment);
            }
        })
    }

    fn remove_public_key(&mut self, user_id: UserId, key_id: u64) -> Result<Response, Rejection> {
        let user = found(&self.users, EntityKind::User, user_id)?;
        found(&user.public_keys, EntityKind::PublicKey, key_id)?;
        self.with_user(user_id, |u| {
            u.public_keys.remove(&key_id);
        })
    }

    fn create_user_group(
        &mut self,
        now: u64,
        name: &str,
        comment: &str,
    ) -> Result<Response, Rejection> {
        validate::name("UserGroupName", name)?;
        validate::text("Comment", comment)?;
        let holder = self.user_group_ids_by_name().get(name).copied();
        validate::unique_in(EntityKind::UserGroup, name, None, holder)?;
        let id = self.alloc_id();
        let group = UserGroup {
            id,
            name: name.to_string(),
            comment: comment.to_string(),
            members: Default::default(),
            created_at_ms: now,
            source: crate::user::UserSource::Local,
        };
        self.user_groups.insert(id, group);
        self.user_group_names.insert(name, id);
        Ok(Response::Created { id })
    }

    fn update_user_group(
        &mut self,
        id: UserGroupId,
        name: &str,
        comment: &str,
    ) -> Result<Response, Rejection> {
        found(&self.user_groups, EntityKind::UserGroup, id)?;
        validate::name("UserGroupName", name)?;
        validate::text("Comment", comment)?;
        let holder = self.user_group_ids_by_name().get(name).copied();
        validate::unique_in(EntityKind::UserGroup, name, Some(id), holder)?;
        if let Some(g) = self.user_groups.get_mut(&id) {
            self.user_group_names.remove(&g.name, id);
            g.name = name.to_string();
            g.comment = comment.to_string();
            self.user_group_names.insert(name, id);
        }
        Ok(Response::Done)
    }

    fn group_members(
        &mut self,
        id: UserGroupId,
        users: &[UserId],
        add: bool,
    ) -> Result<Response, Rejection> {
        found(&self.user_groups, EntityKind::UserGroup, id)?;
        if add {
            validate::all_found(&self.users, EntityKind::User, users)?;
        }
        if let Some(g) = self.user_groups.get_mut(&id) {
            for u in users {
                if add {
                    g.members.insert(*u);
                } else {
                    g.members.remove(u);
                }
            }
        }
        Ok(Response::Done)
    }
}

/// Replaces `field` when the patch carries a value.
pub(super) fn set<T: Clone>(field: &mut T, patch: &Option<T>) {
    if let Some(v) = patch {
        *field = v.clone();
    }
}

pub(super) fn check_user_fields(
    display: &str,
    email: &str,
    mobile: &str,
    comment: &str,
) -> Result<(), Rejection> {
    if !display.is_empty() {
        validate::name("DisplayName", display)?;
    }
    if !email.is_empty() && !email.contains('@') {
        return Err(Rejection::invalid("Email", "not an e-mail address"));
    }
    if mobile.len() > 32 {
        return Err(Rejection::invalid("Mobile", "longer than 32 bytes"));
    }
    validate::text("Comment", comment)
}

/// A user's second-factor choice: TOTP is the only method Portunus delivers, so no other is
/// stored (as if it were on), and `Enable` needs it.
fn check_two_factor(
    status: TwoFactorStatus,
    methods: &BTreeSet<TwoFactorMethod>,
) -> Result<(), Rejection> {
    if methods.iter().any(|m| *m != TwoFactorMethod::Totp) {
        return Err(Rejection::invalid(
            "TwoFactorMethods",
            "only totp is supported (sms, email and dingtalk cannot be delivered)",
        ));
    }
    if status == TwoFactorStatus::Enable && methods.is_empty() {
        return Err(Rejection::invalid(
            "TwoFactorMethods",
            "TwoFactorStatus Enable needs a method: totp",
        ));
    }
    Ok(())
}

fn clear_failures(u: &mut User) {
    u.failed_logins = 0;
    u.failures_since_ms = None;
}
