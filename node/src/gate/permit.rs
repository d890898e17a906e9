//! Building a [`Permit`] from an opened session: where the target is, and the hosted
//! credential, unsealed only here and only for the data path.

use crate::seal::{purpose, Sealer};
use portunus_model::{AssetRef, DbEngine, Protocol, SessionAccount, SessionGrant, State};
use portunus_proxy::gate::{AssetKind, Permit, Secret, Target, TargetCredential, TargetProtocol};

fn unseal(sealer: &Sealer, purpose: &str, sealed: &portunus_model::Sealed) -> Option<Secret> {
    let plain = sealer.open(purpose, sealed).ok()?;
    String::from_utf8(plain).ok().map(Secret)
}

fn host_port(h: &portunus_model::Host) -> u16 {
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
        kind: AssetKind::Host,
        address: String::new(),
        port: 0,
        protocol: TargetProtocol::Ssh,
        account_name: String::new(),
        credential: TargetCredential::None,
        sftp_only: false,
        host_key_fingerprint: None,
    };
    match grant.asset {
        AssetRef::Host(id) => {
            let h = s.host(id)?;
            permit.asset_id = id;
            permit.asset_name = h.name.clone();
            permit.address = h.active_address().to_string();
            permit.port = host_port(h);
            permit.host_key_fingerprint = s.host_key_fingerprint(id).map(str::to_string);
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

fn host_credential(
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
            let t = menu
                .iter()
                .find(|t| &t.address == host && t.port == *port)?;
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
