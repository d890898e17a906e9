//! Applies host, host-account and shared-key commands.

use super::users::set;
use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::common::Protocol;
use crate::host::{CredentialKind, Host, HostAccount, HostAccountPatch, HostPatch, NewHost};
use crate::host::{NewHostAccount, SharedKey};
use crate::ids::{EntityKind, HostAccountId, HostId, SharedKeyId};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::sealed::Sealed;

impl State {
    pub(super) fn apply_hosts(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreateHost(new) => self.create_host(now, new),
            Command::UpdateHost { host_id, patch } => self.update_host(*host_id, patch),
            Command::DeleteHost { host_id } => self.delete_host(*host_id),
            Command::SetHostsPort {
                host_ids,
                protocol,
                port,
            } => self.set_hosts_port(host_ids, *protocol, *port),
            Command::SetHostsActiveAddress {
                host_ids,
                address_type,
            } => self.each_host(host_ids, |h| h.active_address_type = *address_type),
            Command::CreateHostAccount(new) => self.create_host_account(now, new),
            Command::UpdateHostAccount { account_id, patch } => {
                self.update_host_account(*account_id, patch)
            }
            Command::DeleteHostAccount { account_id } => self.delete_host_account(*account_id),
            Command::ResetHostAccountCredential { account_id, kind } => {
                self.reset_credential(*account_id, *kind)
            }
            Command::CreateSharedKey {
                name,
                private_key,
                fingerprint,
                comment,
            } => self.create_shared_key(now, name, private_key, fingerprint, comment),
            Command::UpdateSharedKey {
                key_id,
                name,
                private_key,
                fingerprint,
                comment,
            } => self.update_shared_key(*key_id, name, private_key, fingerprint, comment),
            Command::DeleteSharedKey { key_id } => self.delete_shared_key(*key_id),
            Command::AttachAccountsToSharedKey {
                key_id,
                account_ids,
            } => self.link_shared_key(*key_id, account_ids, true),
            Command::DetachAccountsFromSharedKey {
                key_id,
                account_ids,
            } => self.link_shared_key(*key_id, account_ids, false),
            _ => return None,
        };
        Some(r)
    }

    fn create_host(&mut self, now: u64, new: &NewHost) -> Result<Response, Rejection> {
        validate::name("HostName", &new.name)?;
        check_addresses(&new.private_address, &new.public_address)?;
        validate::text("Comment", &new.comment)?;
        if let Some(fp) = &new.host_key_fingerprint {
            validate::text("HostFingerPrint", fp)?;
        }
        for (proto, port) in &new.ports {
            check_host_port(*proto, *port)?;
        }
        if let Some(d) = new.network_domain_id {
            found(&self.network_domains, EntityKind::NetworkDomain, d)?;
        }
        self.check_asset_project(new.project_id)?;
        let holder = self.host_ids_by_name().get(&new.name).copied();
        validate::unique_in(EntityKind::Host, &new.name, None, holder)?;
        let id = self.alloc_id();
        let host = Host {
            id,
            name: new.name.clone(),
            private_address: new.private_address.clone(),
            public_address: new.public_address.clone(),
            active_address_type: new.active_address_type,
            os: new.os,
            source: new.source,
            source_instance_id: new.source_instance_id.clone(),
            comment: new.comment.clone(),
            ports: new.ports.clone(),
            network_domain_id: new.network_domain_id,
            project_id: new
                .project_id
                .filter(|p| *p != crate::project::DEFAULT_PROJECT),
            created_at_ms: now,
        };
        self.hosts.insert(id, host);
        self.host_names.insert(&new.name, id);
        if let Some(fp) = &new.host_key_fingerprint {
            self.host_key_fingerprints.insert(id, fp.clone());
        }
        Ok(Response::Created { id })
    }

    fn update_host(&mut self, id: HostId, p: &HostPatch) -> Result<Response, Rejection> {
        let cur = found(&self.hosts, EntityKind::Host, id)?;
        let name = p.name.as_deref().unwrap_or(&cur.name);
        validate::name("HostName", name)?;
        check_addresses(
            p.private_address.as_deref().unwrap_or(&cur.private_address),
            p.public_address.as_deref().unwrap_or(&cur.public_address),
        )?;
        validate::text("Comment", p.comment.as_deref().unwrap_or(""))?;
        let holder = self.host_ids_by_name().get(name).copied();
        validate::unique_in(EntityKind::Host, name, Some(id), holder)?;
        if let Some(new_name) = p.name.as_deref().filter(|n| *n != cur.name) {
            let old = cur.name.clone();
            self.host_names.remove(&old, id);
            self.host_names.insert(new_name, id);
        }
        self.each_host(&[id], |h| {
            set(&mut h.name, &p.name);
            set(&mut h.private_address, &p.private_address);
            set(&mut h.public_address, &p.public_address);
            set(&mut h.os, &p.os);
            set(&mut h.comment, &p.comment);
        })
    }

    fn set_hosts_port(
        &mut self,
        ids: &[HostId],
        proto: Protocol,
        port: u16,
    ) -> Result<Response, Rejection> {
        check_host_port(proto, port)?;
        self.each_host(ids, |h| {
            h.ports.insert(proto, port);
        })
    }

    /// Runs `f` on every host of `ids` once all of them are known to exist.
    pub(super) fn each_host(
        &mut self,
        ids: &[HostId],
        mut f: impl FnMut(&mut Host),
    ) -> Result<Response, Rejection> {
        validate::all_found(&self.hosts, EntityKind::Host, ids)?;
        for id in ids {
            if let Some(h) = self.hosts.get_mut(id) {
                f(h);
            }
        }
        Ok(Response::Done)
    }

    fn create_host_account(
        &mut self,
        now: u64,
        new: &NewHostAccount,
    ) -> Result<Response, Rejection> {
        found(&self.hosts, EntityKind::Host, new.host_id)?;
        validate::name("HostAccountName", &new.name)?;
        if !new.protocol.is_host_protocol() {
            return Err(Rejection::invalid("ProtocolName", "must be SSH or RDP"));
        }
        if let Some(k) = new.shared_key_id {
            found(&self.shared_keys, EntityKind::SharedKey, k)?;
        }
        if new.sftp_only && new.protocol != Protocol::Ssh {
            return Err(Rejection::invalid(
                "SftpOnly",
                "only SSH accounts can be limited to SFTP",
            ));
        }
        self.unique_account_name(new.host_id, &new.name, new.protocol, None)?;
        let id = self.alloc_id();
        let account = HostAccount {
            id,
            host_id: new.host_id,
            name: new.name.clone(),
            protocol: new.protocol,
            password: new.password.clone(),
            private_key: new.private_key.clone(),
            shared_key_id: new.shared_key_id,
            sftp_only: new.sftp_only,
            created_at_ms: now,
        };
        self.host_accounts.insert(id, account);
        self.host_account_owners.insert(new.host_id, id);
        Ok(Response::Created { id })
    }

    /// Account names are unique per host and protocol.
    fn unique_account_name(
        &self,
        host: HostId,
        name: &str,
        proto: Protocol,
        except: Option<u64>,
    ) -> Result<(), Rejection> {
        let same = self
            .host_accounts_of(host)
            .filter(|a| a.protocol == proto)
            .map(|a| (a.id, a.name.as_str()));
        validate::unique(EntityKind::HostAccount, name, except, same)
    }

    fn update_host_account(
        &mut self,
        id: HostAccountId,
        p: &HostAccountPatch,
    ) -> Result<Response, Rejection> {
        let cur = found(&self.host_accounts, EntityKind::HostAccount, id)?;
        if let Some(name) = &p.name {
            validate::name("HostAccountName", name)?;
            self.unique_account_name(cur.host_id, name, cur.protocol, Some(id))?;
        }
        if let Some(Some(k)) = p.shared_key_id {
            found(&self.shared_keys, EntityKind::SharedKey, k)?;
        }
        if p.sftp_only == Some(true) && cur.protocol != Protocol::Ssh {
            return Err(Rejection::invalid(
                "SftpOnly",
                "only SSH accounts can be limited to SFTP",
            ));
        }
        if let Some(a) = self.host_accounts.get_mut(&id) {
            set(&mut a.name, &p.name);
            if p.password.is_some() {
                a.password = p.password.clone();
            }
            if p.private_key.is_some() {
                a.private_key = p.private_key.clone();
            }
            set(&mut a.shared_key_id, &p.shared_key_id);
            set(&mut a.sftp_only, &p.sftp_only);
        }
        Ok(Response::Done)
    }

    fn reset_credential(
        &mut self,
        id: HostAccountId,
        kind: CredentialKind,
    ) -> Result<Response, Rejection> {
        let a = self
            .host_accounts
            .get_mut(&id)
            .ok_or(Rejection::not_found(EntityKind::HostAccount, id))?;
        match kind {
            CredentialKind::Password => a.password = None,
            CredentialKind::PrivateKey => a.private_key = None,
        }
        Ok(Response::Done)
    }

    fn create_shared_key(
        &mut self,
        now: u64,
        name: &str,
        key: &Sealed,
        fp: &str,
        comment: &str,
    ) -> Result<Response, Rejection> {
        validate::name("SharedKeyName", name)?;
        validate::name("Fingerprint", fp)?;
        validate::text("Comment", comment)?;
        if key.0.is_empty() {
            return Err(Rejection::invalid("PrivateKey", "must not be empty"));
        }
        let names = self.shared_keys.values().map(|k| (k.id, k.name.as_str()));
        validate::unique(EntityKind::SharedKey, name, None, names)?;
        let id = self.alloc_id();
        let shared = SharedKey {
            id,
            name: name.to_string(),
            private_key: key.clone(),
            fingerprint: fp.to_string(),
            comment: comment.to_string(),
            created_at_ms: now,
        };
        self.shared_keys.insert(id, shared);
        Ok(Response::Created { id })
    }

    fn update_shared_key(
        &mut self,
        id: SharedKeyId,
        name: &Option<String>,
        key: &Option<Sealed>,
        fp: &Option<String>,
        comment: &Option<String>,
    ) -> Result<Response, Rejection> {
        found(&self.shared_keys, EntityKind::SharedKey, id)?;
        if let Some(n) = name {
            validate::name("SharedKeyName", n)?;
            let names = self.shared_keys.values().map(|k| (k.id, k.name.as_str()));
            validate::unique(EntityKind::SharedKey, n, Some(id), names)?;
        }
        if let Some(f) = fp {
            validate::name("Fingerprint", f)?;
        }
        if key.as_ref().is_some_and(|k| k.0.is_empty()) {
            return Err(Rejection::invalid("PrivateKey", "must not be empty"));
        }
        if let Some(k) = self.shared_keys.get_mut(&id) {
            set(&mut k.name, name);
            set(&mut k.private_key, key);
            set(&mut k.fingerprint, fp);
            set(&mut k.comment, comment);
        }
        Ok(Response::Done)
    }

    fn link_shared_key(
        &mut self,
        key: SharedKeyId,
        accounts: &[HostAccountId],
        attach: bool,
    ) -> Result<Response, Rejection> {
        found(&self.shared_keys, EntityKind::SharedKey, key)?;
        validate::all_found(&self.host_accounts, EntityKind::HostAccount, accounts)?;
        for id in accounts {
            if let Some(a) = self.host_accounts.get_mut(id) {
                if attach {
                    a.shared_key_id = Some(key);
                } else if a.shared_key_id == Some(key) {
                    a.shared_key_id = None;
                }
            }
        }
        Ok(Response::Done)
    }
}

fn check_addresses(private: &str, public: &str) -> Result<(), Rejection> {
    if private.trim().is_empty() && public.trim().is_empty() {
        return Err(Rejection::invalid(
            "HostPrivateAddress",
            "a private or public address is required",
        ));
    }
    for (field, addr) in [
        ("HostPrivateAddress", private),
        ("HostPublicAddress", public),
    ] {
        if !addr.is_empty() {
            validate::name(field, addr)?;
        }
    }
    Ok(())
}

fn check_host_port(proto: Protocol, port: u16) -> Result<(), Rejection> {
    if !proto.is_host_protocol() {
        return Err(Rejection::invalid(
            "ProtocolName",
            "hosts take SSH or RDP ports",
        ));
    }
    validate::port("Port", port)
}
