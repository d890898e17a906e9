//! Applies database, database-account and network-domain commands.

use super::users::set;
use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::database::{Database, DatabaseAccount, DatabaseAccountPatch, DatabasePatch};
use crate::database::{
    DomainKind, NetworkDomain, NetworkDomainSpec, NewDatabase, NewDatabaseAccount,
};
use crate::database::{PROXY_NODE_TYPES, PROXY_TYPES};
use crate::ids::{DatabaseAccountId, DatabaseId, EntityKind, NetworkDomainId};
use crate::rejection::Rejection;
use crate::response::Response;

impl State {
    pub(super) fn apply_databases(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreateDatabase(new) => self.create_database(now, new),
            Command::UpdateDatabase { database_id, patch } => {
                self.update_database(*database_id, patch)
            }
            Command::DeleteDatabase { database_id } => self.delete_database(*database_id),
            Command::CreateDatabaseAccount(new) => self.create_database_account(now, new),
            Command::UpdateDatabaseAccount { account_id, patch } => {
                self.update_database_account(*account_id, patch)
            }
            Command::DeleteDatabaseAccount { account_id } => {
                self.delete_database_account(*account_id)
            }
            Command::CreateNetworkDomain(spec) => self.create_domain(now, spec),
            Command::UpdateNetworkDomain {
                domain_id,
                spec,
                forget_host_keys,
            } => self.update_domain(*domain_id, spec, forget_host_keys),
            Command::DeleteNetworkDomain { domain_id } => self.delete_domain(*domain_id),
            Command::TrustProxyHostKey {
                domain_id,
                node_type,
                address,
                port,
                fingerprint,
            } => self.trust_proxy_key(*domain_id, node_type, (address, *port), fingerprint),
            Command::MoveHostsToNetworkDomain {
                domain_id,
                host_ids,
            } => self
                .check_domain(*domain_id)
                .and_then(|_| self.each_host(host_ids, |h| h.network_domain_id = *domain_id)),
            Command::MoveDatabasesToNetworkDomain {
                domain_id,
                database_ids,
            } => self.move_databases(*domain_id, database_ids),
            _ => return None,
        };
        Some(r)
    }

    fn create_database(&mut self, now: u64, new: &NewDatabase) -> Result<Response, Rejection> {
        validate::name("DatabaseName", &new.name)?;
        validate::name("DatabaseAddress", &new.address)?;
        validate::port("DatabasePort", new.port)?;
        validate::text("Comment", &new.comment)?;
        self.check_domain(new.network_domain_id)?;
        self.check_asset_project(new.project_id)?;
        let holder = self.database_ids_by_name().get(&new.name).copied();
        validate::unique_in(EntityKind::Database, &new.name, None, holder)?;
        let id = self.alloc_id();
        let db = Database {
            id,
            name: new.name.clone(),
            engine: new.engine,
            address: new.address.clone(),
            port: new.port,
            source: new.source,
            source_instance_id: new.source_instance_id.clone(),
            comment: new.comment.clone(),
            network_domain_id: new.network_domain_id,
            project_id: new
                .project_id
                .filter(|p| *p != crate::project::DEFAULT_PROJECT),
            created_at_ms: now,
        };
        self.databases.insert(id, db);
        self.database_names.insert(&new.name, id);
        Ok(Response::Created { id })
    }

    fn update_database(
        &mut self,
        id: DatabaseId,
        p: &DatabasePatch,
    ) -> Result<Response, Rejection> {
        let cur = found(&self.databases, EntityKind::Database, id)?;
        let name = p.name.as_deref().unwrap_or(&cur.name);
        validate::name("DatabaseName", name)?;
        validate::name(
            "DatabaseAddress",
            p.address.as_deref().unwrap_or(&cur.address),
        )?;
        validate::port("DatabasePort", p.port.unwrap_or(cur.port))?;
        validate::text("Comment", p.comment.as_deref().unwrap_or(""))?;
        let holder = self.database_ids_by_name().get(name).copied();
        validate::unique_in(EntityKind::Database, name, Some(id), holder)?;
        if let Some(new_name) = p.name.as_deref().filter(|n| *n != cur.name) {
            let old = cur.name.clone();
            self.database_names.remove(&old, id);
            self.database_names.insert(new_name, id);
        }
        if let Some(d) = self.databases.get_mut(&id) {
            set(&mut d.name, &p.name);
            set(&mut d.address, &p.address);
            set(&mut d.port, &p.port);
            set(&mut d.comment, &p.comment);
        }
        Ok(Response::Done)
    }

    fn create_database_account(
        &mut self,
        now: u64,
        new: &NewDatabaseAccount,
    ) -> Result<Response, Rejection> {
        found(&self.databases, EntityKind::Database, new.database_id)?;
        validate::name("DatabaseAccountName", &new.name)?;
        validate::text("Comment", &new.comment)?;
        self.unique_db_account(new.database_id, &new.name, None)?;
        let id = self.alloc_id();
        let account = DatabaseAccount {
            id,
            database_id: new.database_id,
            name: new.name.clone(),
            password: new.password.clone(),
            comment: new.comment.clone(),
            created_at_ms: now,
        };
        self.database_accounts.insert(id, account);
        self.database_account_owners.insert(new.database_id, id);
        Ok(Response::Created { id })
    }

    fn unique_db_account(
        &self,
        db: DatabaseId,
        name: &str,
        except: Option<u64>,
    ) -> Result<(), Rejection> {
        let same = self
            .database_accounts_of(db)
            .map(|a| (a.id, a.name.as_str()));
        validate::unique(EntityKind::DatabaseAccount, name, except, same)
    }

    fn update_database_account(
        &mut self,
        id: DatabaseAccountId,
        p: &DatabaseAccountPatch,
    ) -> Result<Response, Rejection> {
        let cur = found(&self.database_accounts, EntityKind::DatabaseAccount, id)?;
        if let Some(name) = &p.name {
            validate::name("DatabaseAccountName", name)?;
            self.unique_db_account(cur.database_id, name, Some(id))?;
        }
        validate::text("Comment", p.comment.as_deref().unwrap_or(""))?;
        if let Some(a) = self.database_accounts.get_mut(&id) {
            set(&mut a.name, &p.name);
            set(&mut a.password, &p.password);
            set(&mut a.comment, &p.comment);
        }
        Ok(Response::Done)
    }

    fn check_domain(&self, id: Option<NetworkDomainId>) -> Result<(), Rejection> {
        match id {
            Some(d) => found(&self.network_domains, EntityKind::NetworkDomain, d).map(|_| ()),
            None => Ok(()),
        }
    }

    fn check_domain_spec(
        &self,
        spec: &NetworkDomainSpec,
        except: Option<u64>,
    ) -> Result<(), Rejection> {
        validate::name("NetworkDomainName", &spec.name)?;
        validate::text("Comment", &spec.comment)?;
        for (i, p) in spec.proxies.iter().enumerate() {
            validate::name("ProxyAddress", &p.address)?;
            validate::port("ProxyPort", p.port)?;
            if !PROXY_TYPES.contains(&p.proxy_type.as_str()) {
                let why = format!("expected one of {}", PROXY_TYPES.join(", "));
                return Err(Rejection::invalid("ProxyType", why));
            }
            if !PROXY_NODE_TYPES.contains(&p.node_type.as_str()) {
                let why = format!("expected one of {}", PROXY_NODE_TYPES.join(", "));
                return Err(Rejection::invalid("NodeType", why));
            }
            if spec.proxies[..i].iter().any(|q| q.node_type == p.node_type) {
                let why = format!("a domain has at most one {} proxy", p.node_type);
                return Err(Rejection::invalid("NodeType", why));
            }
            if p.proxy_type == "SSHProxy" && (p.user.trim().is_empty() || p.password.is_none()) {
                let why = "an SSH proxy needs the user and password the bastion logs in with";
                return Err(Rejection::invalid("Proxies", why));
            }
            if p.password.is_some() && p.user.trim().is_empty() {
                return Err(Rejection::invalid("User", "a proxy password needs a user"));
            }
            if let Some(fp) = &p.host_key_fingerprint {
                validate::name("HostKeyFingerprint", fp)?;
            }
        }
        if spec.kind == DomainKind::Proxy && !spec.proxies.iter().any(|p| p.node_type == "Master") {
            let why = "a Proxy domain needs a Master proxy (the Slave is tried after it)";
            return Err(Rejection::invalid("Proxies", why));
        }
        let names = self
            .network_domains
            .values()
            .map(|d| (d.id, d.spec.name.as_str()));
        validate::unique(EntityKind::NetworkDomain, &spec.name, except, names)
    }

    fn create_domain(&mut self, now: u64, spec: &NetworkDomainSpec) -> Result<Response, Rejection> {
        self.check_domain_spec(spec, None)?;
        let id = self.alloc_id();
        let domain = NetworkDomain {
            id,
            spec: spec.clone(),
            created_at_ms: now,
        };
        self.network_domains.insert(id, domain);
        Ok(Response::Created { id })
    }

    fn update_domain(
        &mut self,
        id: NetworkDomainId,
        spec: &NetworkDomainSpec,
        forget: &[String],
    ) -> Result<Response, Rejection> {
        let current = found(&self.network_domains, EntityKind::NetworkDomain, id)?;
        self.check_domain_spec(spec, Some(id))?;
        let mut spec = spec.clone();
        for p in &mut spec.proxies {
            if p.host_key_fingerprint.is_some() || forget.contains(&p.node_type) {
                continue;
            }
            let same = current.spec.proxies.iter().find(|q| {
                (&q.node_type, &q.proxy_type, &q.address, q.port)
                    == (&p.node_type, &p.proxy_type, &p.address, p.port)
            });
            p.host_key_fingerprint = same.and_then(|q| q.host_key_fingerprint.clone());
        }
        if let Some(d) = self.network_domains.get_mut(&id) {
            d.spec = spec;
        }
        Ok(Response::Done)
    }

    fn trust_proxy_key(
        &mut self,
        id: NetworkDomainId,
        node_type: &str,
        (address, port): (&str, u16),
        fingerprint: &str,
    ) -> Result<Response, Rejection> {
        validate::name("Fingerprint", fingerprint)?;
        let domain = self
            .network_domains
            .get_mut(&id)
            .ok_or_else(|| Rejection::not_found(EntityKind::NetworkDomain, id))?;
        let proxy = domain
            .spec
            .proxies
            .iter_mut()
            .find(|p| {
                p.proxy_type == "SSHProxy"
                    && p.node_type == node_type
                    && p.address == address
                    && p.port == port
            })
            .ok_or_else(|| {
                let why =
                    format!("the domain has no {node_type} SSH proxy at {address}:{port} now");
                Rejection::invalid("NodeType", why)
            })?;
        match &proxy.host_key_fingerprint {
            Some(known) if known == fingerprint => Ok(Response::Done),
            Some(_) => Err(Rejection::invalid(
                "Fingerprint",
                format!("the {node_type} proxy of the domain has another trusted host key"),
            )),
            None => {
                proxy.host_key_fingerprint = Some(fingerprint.to_string());
                Ok(Response::Done)
            }
        }
    }

    fn delete_domain(&mut self, id: NetworkDomainId) -> Result<Response, Rejection> {
        let domain = found(&self.network_domains, EntityKind::NetworkDomain, id)?;
        if domain.spec.kind == DomainKind::Proxy {
            let hosts = self
                .hosts
                .values()
                .filter(|h| h.network_domain_id == Some(id))
                .count();
            let dbs = (self.databases.values())
                .filter(|d| d.network_domain_id == Some(id))
                .count();
            if hosts + dbs > 0 {
                let why = format!(
                    "the domain still reaches {hosts} host(s) and {dbs} database(s) through its \
                     proxies; move them to another domain first (MoveHostsToNetworkDomain, \
                     MoveDatabasesToNetworkDomain), so that none is reached directly by surprise"
                );
                return Err(Rejection::invalid("NetworkDomainId", why));
            }
        }
        self.network_domains.remove(&id);
        let reached: Vec<crate::ids::HostId> = self
            .hosts
            .values()
            .filter(|h| h.network_domain_id == Some(id))
            .map(|h| h.id)
            .collect();
        for h in reached {
            if let Some(h) = self.hosts.get_mut(&h) {
                h.network_domain_id = None;
            }
        }
        for d in self.databases.values_mut() {
            if d.network_domain_id == Some(id) {
                d.network_domain_id = None;
            }
        }
        Ok(Response::Done)
    }

    fn move_databases(
        &mut self,
        domain: Option<NetworkDomainId>,
        ids: &[DatabaseId],
    ) -> Result<Response, Rejection> {
        self.check_domain(domain)?;
        validate::all_found(&self.databases, EntityKind::Database, ids)?;
        for id in ids {
            if let Some(d) = self.databases.get_mut(id) {
                d.network_domain_id = domain;
            }
        }
        Ok(Response::Done)
    }
}
