//! Applies host-group (asset group) commands and trusted target host keys.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::host::HostGroup;
use crate::ids::{DatabaseId, EntityKind, HostGroupId, HostId};
use crate::rejection::Rejection;
use crate::response::Response;

impl State {
    pub(super) fn apply_asset_groups(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreateHostGroup { name, comment } => {
                self.create_host_group(now, name, comment)
            }
            Command::UpdateHostGroup {
                group_id,
                name,
                comment,
            } => self.update_host_group(*group_id, name, comment),
            Command::DeleteHostGroup { group_id } => self.delete_host_group(*group_id),
            Command::AddHostsToGroup { group_id, host_ids } => {
                self.group_hosts(*group_id, host_ids, true)
            }
            Command::RemoveHostsFromGroup { group_id, host_ids } => {
                self.group_hosts(*group_id, host_ids, false)
            }
            Command::AddDatabasesToGroup {
                group_id,
                database_ids,
            } => self.group_databases(*group_id, database_ids, true),
            Command::RemoveDatabasesFromGroup {
                group_id,
                database_ids,
            } => self.group_databases(*group_id, database_ids, false),
            Command::TrustHostKey {
                host_id,
                fingerprint,
            } => self.trust_host_key(*host_id, fingerprint),
            Command::SetHostKey {
                host_id,
                fingerprint,
            } => self.set_host_key(*host_id, fingerprint),
            _ => return None,
        };
        Some(r)
    }

    fn create_host_group(
        &mut self,
        now: u64,
        name: &str,
        comment: &str,
    ) -> Result<Response, Rejection> {
        validate::name("HostGroupName", name)?;
        validate::text("Comment", comment)?;
        let names = self.host_groups.values().map(|g| (g.id, g.name.as_str()));
        validate::unique(EntityKind::HostGroup, name, None, names)?;
        let id = self.alloc_id();
        let group = HostGroup {
            id,
            name: name.to_string(),
            comment: comment.to_string(),
            hosts: Default::default(),
            databases: Default::default(),
            created_at_ms: now,
        };
        self.host_groups.insert(id, group);
        Ok(Response::Created { id })
    }

    fn update_host_group(
        &mut self,
        id: HostGroupId,
        name: &str,
        comment: &str,
    ) -> Result<Response, Rejection> {
        found(&self.host_groups, EntityKind::HostGroup, id)?;
        validate::name("HostGroupName", name)?;
        validate::text("Comment", comment)?;
        let names = self.host_groups.values().map(|g| (g.id, g.name.as_str()));
        validate::unique(EntityKind::HostGroup, name, Some(id), names)?;
        if let Some(g) = self.host_groups.get_mut(&id) {
            g.name = name.to_string();
            g.comment = comment.to_string();
        }
        Ok(Response::Done)
    }

    fn group_hosts(
        &mut self,
        id: HostGroupId,
        hosts: &[HostId],
        add: bool,
    ) -> Result<Response, Rejection> {
        found(&self.host_groups, EntityKind::HostGroup, id)?;
        if add {
            validate::all_found(&self.hosts, EntityKind::Host, hosts)?;
        }
        if let Some(g) = self.host_groups.get_mut(&id) {
            for h in hosts {
                if add {
                    g.hosts.insert(*h);
                } else {
                    g.hosts.remove(h);
                }
            }
        }
        Ok(Response::Done)
    }

    fn group_databases(
        &mut self,
        id: HostGroupId,
        dbs: &[DatabaseId],
        add: bool,
    ) -> Result<Response, Rejection> {
        found(&self.host_groups, EntityKind::HostGroup, id)?;
        if add {
            validate::all_found(&self.databases, EntityKind::Database, dbs)?;
        }
        if let Some(g) = self.host_groups.get_mut(&id) {
            for d in dbs {
                if add {
                    g.databases.insert(*d);
                } else {
                    g.databases.remove(d);
                }
            }
        }
        Ok(Response::Done)
    }

    fn trust_host_key(&mut self, host: HostId, fingerprint: &str) -> Result<Response, Rejection> {
        found(&self.hosts, EntityKind::Host, host)?;
        validate::name("Fingerprint", fingerprint)?;
        match self.host_key_fingerprints.get(&host) {
            Some(known) if known == fingerprint => Ok(Response::Done),
            Some(_) => Err(Rejection::HostKeyMismatch { host_id: host }),
            None => {
                self.host_key_fingerprints
                    .insert(host, fingerprint.to_string());
                Ok(Response::Done)
            }
        }
    }

    fn set_host_key(
        &mut self,
        host: HostId,
        fingerprint: &Option<String>,
    ) -> Result<Response, Rejection> {
        found(&self.hosts, EntityKind::Host, host)?;
        match fingerprint {
            Some(fp) => {
                validate::name("Fingerprint", fp)?;
                self.host_key_fingerprints.insert(host, fp.clone());
            }
            None => {
                self.host_key_fingerprints.remove(&host);
            }
        }
        Ok(Response::Done)
    }
}
