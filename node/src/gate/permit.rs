//! Building a [`Permit`] from an opened session: where the target is, and the hosted
//! credential, unsealed only here and only for the data path.

use crate::seal::{purpose, Sealer};
use portunus_model::{AssetRef, DatabaseTargetTls, DbEngine, DomainKind, Protocol, SessionAccount};
use portunus_model::{SessionGrant, State};
use portunus_proxy::db::tls::TargetTlsMode;
use portunus_proxy::gate::{AssetKind, Permit, Secret, Target, TargetCredential, TargetProtocol};
use portunus_proxy::route::{ProxyHop, ProxyKind, Route};

/// The hosted secret in the clear, for the data path only. A value this node cannot open is
/// logged (why, never the value) and the session goes on without it.
fn unseal(sealer: &Sealer, purpose: &str, sealed: &portunus_model::Sealed) -> Option<Secret> {
    match sealer.open(purpose, sealed) {
        Ok(plain) => String::from_utf8(plain).ok().map(Secret),
        Err(e) => {
            tracing::error!(purpose, error = %e, "a hosted credential cannot be opened");
            None
        }
    }
}

/// How to reach an asset of network domain `domain`: through the domain's proxies (the
/// Master first) when it is a Proxy domain, else straight. A proxy whose password this node
/// cannot open is left out (logged by `unseal`), so the next one is tried; a Proxy domain with
/// no usable proxy never falls back to a direct leg (its route fails with the domain's name).
pub(crate) fn route(s: &State, sealer: &Sealer, domain: Option<u64>) -> Route {
    let Some(d) = domain.and_then(|id| s.network_domain(id)) else {
        return Route::direct();
    };
    if d.spec.kind != DomainKind::Proxy {
        return Route::direct();
    }
    let mut proxies: Vec<ProxyHop> = d
        .spec
        .proxies
        .iter()
        .filter_map(|p| {
            let password = match &p.password {
                Some(sealed) => Some(unseal(sealer, purpose::NETWORK_PROXY_PASSWORD, sealed)?),
                None => None,
            };
            Some(ProxyHop {
                kind: ProxyKind::from_name(&p.proxy_type)?,
                node_type: p.node_type.clone(),
                address: p.address.clone(),
                port: p.port,
                user: p.user.clone(),
                password,
                host_key: p.host_key_fingerprint.clone(),
            })
        })
        .collect();
    proxies.sort_by_key(|p| p.node_type != "Master");
    if proxies.is_empty() {
        tracing::error!(domain = %d.spec.name, "network domain has no usable proxy");
    }
    Route {
        domain_id: Some(d.id),
        domain_name: d.spec.name.clone(),
        proxies,
    }
}

pub(crate) fn host_port(h: &portunus_model::Host) -> u16 {
    h.ports.get(&Protocol::Ssh).copied().unwrap_or(22)
}

fn engine_protocol(e: DbEngine) -> TargetProtocol {
    match e {
        DbEngine::MySql => TargetProtocol::MySql,
        DbEngine::PostgreSql => TargetProtocol::PostgreSql,
        _ => TargetProtocol::Other,
    }
}

/// The permit for a session the state machine just opened; None if its asset vanished.
pub(crate) fn from_grant(
    s: &State,
    sealer: &Sealer,
    grant: &SessionGrant,
    user_name: &str,
) -> Option<Permit> {
    let mut permit = Permit {
        session_id: grant.session_id,
        user_name: user_name.to_string(),
        asset_id: 0,
        asset_name: String::new(),
        account_id: match &grant.account {
            SessionAccount::Hosted(a) => Some(*a),
            SessionAccount::Custom(_) => None,
        },
        kind: AssetKind::Host,
        address: String::new(),
        port: 0,
        protocol: TargetProtocol::Ssh,
        account_name: String::new(),
        credential: TargetCredential::None,
        sftp_only: false,
        host_key_fingerprint: None,
        sql_rules: Vec::new(),
        sql_allow_unreadable: false,
        default_database: None,
        database_tls: Default::default(),
        controls: Default::default(),
        route: Default::default(),
    };
    match grant.asset {
        AssetRef::Host(id) => {
            let h = s.host(id)?;
            permit.asset_id = id;
            permit.asset_name = h.name.clone();
            permit.address = h.active_address().to_string();
            permit.port = host_port(h);
            permit.host_key_fingerprint = s.host_key_fingerprint(id).map(str::to_string);
            permit.route = route(s, sealer, h.network_domain_id);
            if let SessionAccount::Hosted(a) = &grant.account {
                let acc = s.host_account(*a)?;
                permit.account_name = acc.name.clone();
                permit.sftp_only = acc.sftp_only;
                permit.credential = host_credential(s, sealer, acc);
            }
        }
        AssetRef::Database(id) => {
            let d = s.database(id)?;
            permit.asset_id = id;
            permit.asset_name = d.name.clone();
            permit.kind = AssetKind::Database;
            permit.address = d.address.clone();
            permit.port = d.port;
            permit.protocol = engine_protocol(d.engine);
            permit.route = route(s, sealer, d.network_domain_id);
            permit.sql_rules = s
                .sql_rules_for(id, grant.user_id)
                .into_iter()
                .map(sql_rule)
                .collect();
            permit.sql_allow_unreadable = s.settings().sql_allow_unreadable;
            permit.database_tls = match s.settings().database_target_tls {
                DatabaseTargetTls::Off => TargetTlsMode::Off,
                DatabaseTargetTls::Prefer => TargetTlsMode::Prefer,
                DatabaseTargetTls::Require => TargetTlsMode::Require,
                DatabaseTargetTls::Verify => TargetTlsMode::Verify,
            };
            if let SessionAccount::Hosted(a) = &grant.account {
                let acc = s.database_account(*a)?;
                permit.account_name = acc.name.clone();
                if let Some(p) = acc
                    .password
                    .as_ref()
                    .and_then(|p| unseal(sealer, purpose::DATABASE_PASSWORD, p))
                {
                    permit.credential = TargetCredential::Password(p);
                }
            }
        }
    }
    let policy = super::policy::governing(
        s,
        grant.user_id,
        grant.asset,
        super::policy::hosted(&grant.account),
    );
    permit.controls = super::policy::controls(policy);
    if let Some(t) = grant.token_id.and_then(|t| s.token(t)) {
        permit.default_database = t.database_schema.clone();
    }
    if let SessionAccount::Custom(name) = &grant.account {
        permit.account_name = name.clone();
        let token = grant.token_id.and_then(|t| s.token(t));
        if let Some(portunus_model::TokenAccount::Custom {
            password: Some(p), ..
        }) = token.map(|t| &t.account)
        {
            if let Some(p) = unseal(sealer, purpose::TOKEN_ACCOUNT_PASSWORD, p) {
                permit.credential = TargetCredential::Password(p);
            }
        }
    }
    Some(permit)
}

/// A stored SQL rule as the gateway takes it.
fn sql_rule(r: &portunus_model::SqlRule) -> portunus_proxy::db::RuleSpec {
    use portunus_model::SqlMatcher as M;
    use portunus_proxy::db::Matcher;
    portunus_proxy::db::RuleSpec {
        name: r.spec.name.clone(),
        matcher: match &r.spec.matcher {
            M::Verbs(v) => Matcher::Verbs(v.clone()),
            M::WithoutWhere => Matcher::WithoutWhere,
            M::Tables(t) => Matcher::Tables(t.clone()),
            M::Regex(x) => Matcher::Regex(x.clone()),
        },
    }
}

pub(crate) fn host_credential(
    s: &State,
    sealer: &Sealer,
    acc: &portunus_model::HostAccount,
) -> TargetCredential {
    if let Some(p) = acc
        .password
        .as_ref()
        .and_then(|p| unseal(sealer, purpose::HOST_PASSWORD, p))
    {
        return TargetCredential::Password(p);
    }
    if let Some(k) = acc
        .private_key
        .as_ref()
        .and_then(|k| unseal(sealer, purpose::HOST_PRIVATE_KEY, k))
    {
        return TargetCredential::PrivateKey(k);
    }
    let shared = acc.shared_key_id.and_then(|id| s.shared_key(id));
    if let Some(k) = shared.and_then(|k| unseal(sealer, purpose::SHARED_KEY, &k.private_key)) {
        return TargetCredential::PrivateKey(k);
    }
    TargetCredential::None
}

/// The menu: every host and database the user may reach now, with the accounts.
pub(crate) fn targets(s: &State, user_id: u64, now_ms: u64) -> Vec<Target> {
    let mut out = Vec::new();
    for (host_id, accounts) in s.authorized_hosts(user_id, now_ms) {
        let Some(h) = s.host(host_id) else { continue };
        let accounts = accounts
            .iter()
            .filter_map(|a| s.host_account(*a).map(|acc| (*a, acc.name.clone())))
            .collect();
        out.push(Target {
            asset_id: host_id,
            asset_name: h.name.clone(),
            address: h.active_address().to_string(),
            port: host_port(h),
            protocol: TargetProtocol::Ssh,
            accounts,
        });
    }
    for (db_id, accounts) in s.authorized_databases(user_id, now_ms) {
        let Some(d) = s.database(db_id) else { continue };
        let accounts = accounts
            .iter()
            .filter_map(|a| s.database_account(*a).map(|acc| (*a, acc.name.clone())))
            .collect();
        out.push(Target {
            asset_id: db_id,
            asset_name: d.name.clone(),
            address: d.address.clone(),
            port: d.port,
            protocol: engine_protocol(d.engine),
            accounts,
        });
    }
    out
}

/// Resolve what the engineer named to (asset, account, protocol) among what he may reach.
pub(crate) fn resolve(
    s: &State,
    user_id: u64,
    now_ms: u64,
    spec: &portunus_proxy::gate::TargetSpec,
) -> Option<(AssetRef, u64, Protocol)> {
    use portunus_proxy::gate::TargetSpec as T;
    let menu = targets(s, user_id, now_ms);
    let (target, account) = match spec {
        T::Named { asset, account } => {
            let t = menu.iter().find(|t| &t.asset_name == asset)?;
            (t, t.accounts.iter().find(|(_, n)| n == account)?.0)
        }
        T::Ids {
            asset_id,
            account_id,
        } => {
            let t = menu.iter().find(|t| t.asset_id == *asset_id)?;
            (t, t.accounts.iter().find(|(id, _)| id == account_id)?.0)
        }
        T::Address { host, port } => {
            // Tunnels reach databases: a database at this address wins over a host there.
            let t = menu
                .iter()
                .filter(|t| &t.address == host && t.port == *port)
                .min_by_key(|t| t.protocol == TargetProtocol::Ssh)?;
            (t, t.accounts.first()?.0)
        }
    };
    let (asset, protocol) = match target.protocol {
        TargetProtocol::Ssh => (AssetRef::Host(target.asset_id), Protocol::Ssh),
        TargetProtocol::MySql => (AssetRef::Database(target.asset_id), Protocol::MySql),
        TargetProtocol::PostgreSql => (AssetRef::Database(target.asset_id), Protocol::PostgreSql),
        TargetProtocol::Other => {
            let engine = s.database(target.asset_id)?.engine;
            let p = match engine {
                DbEngine::SqlServer => Protocol::SqlServer,
                _ => Protocol::Oracle,
            };
            (AssetRef::Database(target.asset_id), p)
        }
    };
    Some((asset, account, protocol))
}

#[cfg(test)]
mod tests {
    use super::*;
    use portunus_model::{
        Command, NewDatabase, NewDatabaseAccount, NewHost, NewHostAccount, NewUser, Principal,
        Request, Response,
    };
    use portunus_proxy::gate::TargetSpec;

    fn apply(s: &mut State, command: Command) -> u64 {
        let req = Request {
            now_ms: 1,
            command,
            id: None,
        };
        match s.apply(&req) {
            Response::Created { id } => id,
            other => panic!("expected Created, got {other:?}"),
        }
    }

    /// alice may reach host `web` (SSH on 10.0.0.9:`host_port`) and database `db`
    /// (10.0.0.9:3306); returns her id.
    fn host_and_database(s: &mut State, host_port: u16) -> u64 {
        let user = NewUser {
            name: "alice".into(),
            ..Default::default()
        };
        let user_id = apply(s, Command::CreateUser(user));
        let host = NewHost {
            name: "web".into(),
            private_address: "10.0.0.9".into(),
            ports: [(Protocol::Ssh, host_port)].into(),
            ..Default::default()
        };
        let host_id = apply(s, Command::CreateHost(host));
        let account = NewHostAccount {
            host_id,
            name: "root".into(),
            protocol: Protocol::Ssh,
            password: None,
            private_key: None,
            shared_key_id: None,
            sftp_only: false,
        };
        let account_id = apply(s, Command::CreateHostAccount(account));
        let grant = Command::AttachHostAccounts {
            principal: Principal::User(user_id),
            host_id,
            account_ids: [account_id].into(),
        };
        assert!(matches!(
            s.apply(&Request {
                now_ms: 1,
                command: grant,
                id: None
            }),
            Response::Done
        ));
        let db = NewDatabase {
            name: "db".into(),
            engine: DbEngine::MySql,
            address: "10.0.0.9".into(),
            port: 3306,
            source: Default::default(),
            source_instance_id: String::new(),
            comment: String::new(),
            network_domain_id: None,
            project_id: None,
        };
        let database_id = apply(s, Command::CreateDatabase(db));
        let account = NewDatabaseAccount {
            database_id,
            name: "app".into(),
            password: None,
            comment: String::new(),
        };
        let account_id = apply(s, Command::CreateDatabaseAccount(account));
        let grant = Command::AttachDatabaseAccounts {
            principal: Principal::User(user_id),
            database_id,
            account_ids: [account_id].into(),
        };
        assert!(matches!(
            s.apply(&Request {
                now_ms: 1,
                command: grant,
                id: None
            }),
            Response::Done
        ));
        user_id
    }

    fn at(port: u16) -> TargetSpec {
        TargetSpec::Address {
            host: "10.0.0.9".into(),
            port,
        }
    }

    #[test]
    fn a_tunnel_address_resolves_to_the_database_there_before_a_host() {
        let mut s = State::default();
        // The host's SSH port is the database's port: the database is meant.
        let alice = host_and_database(&mut s, 3306);
        let (asset, _, protocol) = resolve(&s, alice, 2, &at(3306)).expect("resolved");
        assert!(matches!(asset, AssetRef::Database(_)), "{asset:?}");
        assert_eq!(protocol, Protocol::MySql);
        // A host alone at an address resolves to it (and the gate refuses the tunnel).
        let mut s = State::default();
        let alice = host_and_database(&mut s, 22);
        let (asset, _, _) = resolve(&s, alice, 2, &at(22)).expect("resolved");
        assert!(matches!(asset, AssetRef::Host(_)), "{asset:?}");
    }
}
