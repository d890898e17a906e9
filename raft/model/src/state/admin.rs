//! Applies settings, SSH host key, access key, instance, tag and directory commands.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::ids::EntityKind;
use crate::rejection::Rejection;
use crate::response::Response;
use crate::sealed::Sealed;
use crate::settings::{AccessKey, ClusterSettings, ResourceRef, Role, TwoFactorSettings};
use std::collections::BTreeMap;

/// Most tags one resource may carry.
pub(crate) const MAX_TAGS_PER_RESOURCE: usize = 20;

impl State {
    pub(super) fn apply_admin(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::UpdateSettings(s) => self.update_settings(s),
            Command::SetSshHostKey {
                key,
                only_if_absent,
            } => self.set_ssh_host_key(key, *only_if_absent),
            Command::CreateAccessKey {
                access_key_id,
                secret,
                role,
                user_id,
                comment,
            } => {
                let key = AccessKey {
                    access_key_id: access_key_id.clone(),
                    secret: secret.clone(),
                    role: *role,
                    user_id: *user_id,
                    comment: comment.clone(),
                    created_at_ms: now,
                    enabled: true,
                };
                self.create_access_key(key)
            }
            Command::SetAccessKeyEnabled {
                access_key_id,
                enabled,
            } => self.access_key_mut(access_key_id).map(|k| {
                k.enabled = *enabled;
                Response::Done
            }),
            Command::DeleteAccessKey { access_key_id } => self
                .access_keys
                .remove(access_key_id)
                .map(|_| Response::Done)
                .ok_or_else(|| Rejection::AccessKeyNotFound {
                    access_key_id: access_key_id.clone(),
                }),
            Command::TagResources { resources, tags } => self.tag(resources, tags),
            Command::UntagResources {
                resources,
                keys,
                all,
            } => self.untag(resources, keys, *all),
            Command::SetInstanceDescription(d) => {
                self.instance.description = d.clone();
                Ok(Response::Done)
            }
            Command::SetInstanceEndpoints { internet, intranet } => {
                self.set_endpoints(internet, intranet)
            }
            Command::SetPublicAccess(on) => {
                self.instance.public_access = *on;
                Ok(Response::Done)
            }
            Command::SetPublicWhiteList(entries) => crate::settings::validate_white_list(entries)
                .map(|()| {
                    self.instance.public_white_list = entries.clone();
                    Response::Done
                })
                .map_err(|reason| Rejection::invalid("WhiteList", reason)),
            Command::SetLdapSettings(_) | Command::SetAdSettings(_) => Ok(self.store_plain(cmd)),
            Command::SetTwoFactorSettings(s) => self.set_two_factor(s),
            Command::SetOidcSettings(s) => match s.as_ref().and_then(|s| s.invalid()) {
                Some((field, why)) => Err(Rejection::invalid(field, why)),
                None => {
                    self.oidc = s.clone();
                    Ok(Response::Done)
                }
            },
            _ => return None,
        };
        Some(r)
    }

    /// Settings kept as plain data for other components; nothing to validate.
    fn store_plain(&mut self, cmd: &Command) -> Response {
        match cmd {
            Command::SetLdapSettings(s) => self.ldap = s.clone(),
            Command::SetAdSettings(s) => self.ad = s.clone(),
            _ => {}
        }
        Response::Done
    }

    /// The instance's two-factor setting: TOTP is the only method Portunus delivers, so no
    /// other is stored (as if it were on), and enabling needs it.
    fn set_two_factor(&mut self, s: &TwoFactorSettings) -> Result<Response, Rejection> {
        if s.methods.iter().any(|m| m != "totp") {
            return Err(Rejection::invalid(
                "TwoFactorMethods",
                "only totp is supported (sms, email, dingtalk and gmusbkey cannot be delivered)",
            ));
        }
        if s.enabled && s.methods.is_empty() {
            return Err(Rejection::invalid(
                "TwoFactorMethods",
                "enabling two-factor authentication needs a method: totp",
            ));
        }
        if s.skip_secs > crate::second_factor::MAX_SKIP_SECS {
            return Err(Rejection::invalid("SkipTwoFactorTime", "at most 168 hours"));
        }
        self.two_factor = s.clone();
        Ok(Response::Done)
    }

    fn update_settings(&mut self, s: &ClusterSettings) -> Result<Response, Rejection> {
        if s.token_validity_secs == 0 {
            return Err(Rejection::invalid(
                "token_validity_secs",
                "must be positive",
            ));
        }
        if s.token_renew_secs == 0 {
            return Err(Rejection::invalid("token_renew_secs", "must be positive"));
        }
        if s.login_lock_threshold > 0 {
            for (name, v) in [
                ("login_lock_window_secs", s.login_lock_window_secs),
                ("login_lock_secs", s.login_lock_secs),
            ] {
                if v == 0 {
                    return Err(Rejection::invalid(name, "must be positive"));
                }
            }
            if s.login_lock_max_secs < s.login_lock_secs {
                return Err(Rejection::invalid(
                    "login_lock_max_secs",
                    "must be at least login_lock_secs",
                ));
            }
        }
        if !(10..=86_400).contains(&s.command_approval_wait_secs) {
            return Err(Rejection::invalid(
                "command_approval_wait_secs",
                "must be between 10 seconds and one day (86400)",
            ));
        }
        self.settings = s.clone();
        Ok(Response::Done)
    }

    fn set_ssh_host_key(
        &mut self,
        key: &Sealed,
        only_if_absent: bool,
    ) -> Result<Response, Rejection> {
        if key.0.is_empty() {
            return Err(Rejection::invalid("ssh_host_key", "must not be empty"));
        }
        if !(only_if_absent && self.ssh_host_key.is_some()) {
            self.ssh_host_key = Some(key.clone());
        }
        Ok(Response::Done)
    }

    fn create_access_key(&mut self, key: AccessKey) -> Result<Response, Rejection> {
        validate::name("AccessKeyId", &key.access_key_id)?;
        validate::text("Comment", &key.comment)?;
        if key.secret.0.is_empty() {
            return Err(Rejection::invalid("AccessKeySecret", "must not be empty"));
        }
        match key.user_id {
            Some(u) => {
                found(&self.users, EntityKind::User, u)?;
            }
            None if key.role == Role::Operator => {
                return Err(Rejection::invalid(
                    "UserId",
                    "an Operator key acts as a user",
                ));
            }
            None => {}
        }
        if self.access_keys.contains_key(&key.access_key_id) {
            return Err(Rejection::AlreadyExists {
                kind: EntityKind::AccessKey,
                name: key.access_key_id,
            });
        }
        self.access_keys.insert(key.access_key_id.clone(), key);
        Ok(Response::Done)
    }

    fn access_key_mut(&mut self, id: &str) -> Result<&mut AccessKey, Rejection> {
        self.access_keys
            .get_mut(id)
            .ok_or_else(|| Rejection::AccessKeyNotFound {
                access_key_id: id.to_string(),
            })
    }

    fn check_resource(&self, r: ResourceRef) -> Result<(), Rejection> {
        match r {
            ResourceRef::Instance => Ok(()),
            ResourceRef::User(id) => found(&self.users, EntityKind::User, id).map(|_| ()),
            ResourceRef::UserGroup(id) => {
                found(&self.user_groups, EntityKind::UserGroup, id).map(|_| ())
            }
            ResourceRef::Host(id) => found(&self.hosts, EntityKind::Host, id).map(|_| ()),
            ResourceRef::HostGroup(id) => {
                found(&self.host_groups, EntityKind::HostGroup, id).map(|_| ())
            }
            ResourceRef::Database(id) => {
                found(&self.databases, EntityKind::Database, id).map(|_| ())
            }
        }
    }

    fn tag(
        &mut self,
        resources: &[ResourceRef],
        tags: &BTreeMap<String, String>,
    ) -> Result<Response, Rejection> {
        for (k, v) in tags {
            validate::name("Tag.Key", k)?;
            if v.len() > validate::MAX_NAME_LEN {
                return Err(Rejection::invalid("Tag.Value", "longer than 128 bytes"));
            }
        }
        for r in resources {
            self.check_resource(*r)?;
            let mut merged = self.tags.get(r).cloned().unwrap_or_default();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > MAX_TAGS_PER_RESOURCE {
                return Err(Rejection::invalid(
                    "Tag",
                    format!("a resource carries at most {MAX_TAGS_PER_RESOURCE} tags"),
                ));
            }
        }
        for r in resources {
            let entry = self.tags.entry(*r).or_default();
            entry.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        Ok(Response::Done)
    }

    fn untag(
        &mut self,
        resources: &[ResourceRef],
        keys: &[String],
        all: bool,
    ) -> Result<Response, Rejection> {
        for r in resources {
            if all {
                self.tags.remove(r);
            } else if let Some(t) = self.tags.get_mut(r) {
                for k in keys {
                    t.remove(k);
                }
                if t.is_empty() {
                    self.tags.remove(r);
                }
            }
        }
        Ok(Response::Done)
    }
}

impl State {
    fn set_endpoints(&mut self, internet: &str, intranet: &str) -> Result<Response, Rejection> {
        for (field, value) in [
            ("InternetEndpoint", internet),
            ("IntranetEndpoint", intranet),
        ] {
            if let Some(why) = crate::settings::endpoint_invalid(value) {
                return Err(Rejection::invalid(field, why));
            }
        }
        self.instance.internet_endpoint = internet.to_string();
        self.instance.intranet_endpoint = intranet.to_string();
        Ok(Response::Done)
    }
}
