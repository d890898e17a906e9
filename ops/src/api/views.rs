//! Entities rendered with the exact field names and types the SDK models read, and the API
//! spellings of model enums (both directions).

use super::error::ApiError;
use portunus_model::{
    AddressType, AssetSource, Database, DbEngine, Host, HostAccount, OsType, Protocol, State, User,
    UserSource,
};
use serde_json::{json, Value};

/// Optional id as the SDK's string (empty when absent).
pub fn id_str(id: Option<u64>) -> String {
    id.map(|i| i.to_string()).unwrap_or_default()
}

pub fn os_name(os: OsType) -> &'static str {
    match os {
        OsType::Linux => "Linux",
        OsType::Windows => "Windows",
    }
}

pub fn parse_os(name: &str, v: &str) -> Result<OsType, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "linux" => Ok(OsType::Linux),
        "windows" => Ok(OsType::Windows),
        _ => Err(ApiError::invalid(name, "expected Linux or Windows")),
    }
}

pub fn address_name(a: AddressType) -> &'static str {
    match a {
        AddressType::Private => "Private",
        AddressType::Public => "Public",
    }
}

pub fn parse_address(name: &str, v: &str) -> Result<AddressType, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "private" => Ok(AddressType::Private),
        "public" => Ok(AddressType::Public),
        _ => Err(ApiError::invalid(name, "expected Private or Public")),
    }
}

pub fn source_name(s: AssetSource) -> &'static str {
    match s {
        AssetSource::Local => "Local",
        AssetSource::Ecs => "Ecs",
        AssetSource::Rds => "Rds",
        AssetSource::PolarDb => "PolarDB",
        AssetSource::Other => "Other",
    }
}

/// Why `SourceInstanceState` is refused as a filter: assets answer it empty.
pub const NO_INSTANCE_STATE: &str = "SourceInstanceState: Portunus tracks no cloud instance \
     state (hosts and databases are registered, never released by a cloud), so it filters \
     nothing; leave it out";

/// Why `InstanceMemberId` is refused: the cloud imports assets of member accounts.
pub const NO_MEMBER_ACCOUNT: &str = "InstanceMemberId: resource-directory member accounts are \
     Alibaba Cloud accounts whose assets the cloud service imports, and a self-hosted cluster \
     has none; leave it out";

/// Why a cloud region of an asset's source instance is refused.
pub const NO_SOURCE_REGION: &str = "InstanceRegionId and SourceInstanceRegionId: Portunus \
     imports nothing from cloud regions and keeps no region of an asset's source instance; \
     register the asset by its address and leave them out";

pub fn parse_source(name: &str, v: &str) -> Result<AssetSource, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "local" => Ok(AssetSource::Local),
        "ecs" => Ok(AssetSource::Ecs),
        "rds" => Ok(AssetSource::Rds),
        "polardb" => Ok(AssetSource::PolarDb),
        "other" => Ok(AssetSource::Other),
        _ => Err(ApiError::invalid(
            name,
            "expected Local, Ecs, Rds or PolarDB",
        )),
    }
}

pub fn user_source_name(s: UserSource) -> &'static str {
    match s {
        UserSource::Local => "Local",
        UserSource::Ram => "Ram",
        UserSource::Ad => "AD",
        UserSource::Ldap => "LDAP",
        UserSource::Idaas => "IDaaS",
    }
}

pub fn parse_user_source(name: &str, v: &str) -> Result<UserSource, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "local" => Ok(UserSource::Local),
        "ram" => Ok(UserSource::Ram),
        "ad" => Ok(UserSource::Ad),
        "ldap" => Ok(UserSource::Ldap),
        "idaas" => Ok(UserSource::Idaas),
        _ => Err(ApiError::invalid(
            name,
            "expected Local, Ram, AD, LDAP or IDaaS",
        )),
    }
}

pub fn parse_protocol(name: &str, v: &str) -> Result<Protocol, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "ssh" => Ok(Protocol::Ssh),
        "rdp" => Ok(Protocol::Rdp),
        "mysql" => Ok(Protocol::MySql),
        "postgresql" => Ok(Protocol::PostgreSql),
        "sqlserver" => Ok(Protocol::SqlServer),
        "oracle" => Ok(Protocol::Oracle),
        _ => Err(ApiError::invalid(name, "unknown protocol")),
    }
}

pub fn parse_engine(name: &str, v: &str) -> Result<DbEngine, ApiError> {
    match parse_protocol(name, v)? {
        Protocol::MySql => Ok(DbEngine::MySql),
        Protocol::PostgreSql => Ok(DbEngine::PostgreSql),
        Protocol::SqlServer => Ok(DbEngine::SqlServer),
        Protocol::Oracle => Ok(DbEngine::Oracle),
        _ => Err(ApiError::invalid(
            name,
            "expected MySQL, PostgreSQL, SQLServer or Oracle",
        )),
    }
}

/// A host as ListHosts returns it.
pub fn host_row(s: &State, h: &Host) -> Value {
    json!({
        "ActiveAddressType": address_name(h.active_address_type),
        "Comment": h.comment,
        "HostAccountCount": s.host_accounts_of(h.id).count(),
        "HostId": h.id.to_string(),
        "HostName": h.name,
        "HostPrivateAddress": h.private_address,
        "HostPublicAddress": h.public_address,
        "OSType": os_name(h.os),
        "Source": source_name(h.source),
        "SourceInstanceId": h.source_instance_id,
        "SourceInstanceState": "",
        "NetworkDomainId": id_str(h.network_domain_id),
    })
}

/// A host as GetHost returns it (with protocols and ports).
pub fn host_detail(s: &State, h: &Host) -> Value {
    let mut v = host_row(s, h);
    let protocols: Vec<Value> = [Protocol::Ssh, Protocol::Rdp]
        .iter()
        .filter(|p| (**p == Protocol::Rdp) == (h.os == OsType::Windows) || h.ports.contains_key(p))
        .map(|p| {
            json!({
                "ProtocolName": p.api_name(),
                "Port": h.port(*p),
                "HostFingerPrint": s.host_key_fingerprint(h.id).unwrap_or_default(),
            })
        })
        .collect();
    v["Protocols"] = Value::Array(protocols);
    v["PrefKex"] = "".into();
    v
}

/// A host account (GetHostAccount / ListHostAccounts).
pub fn host_account(s: &State, a: &HostAccount) -> Value {
    let key = a.shared_key_id.and_then(|k| s.shared_key(k));
    json!({
        "HasPassword": a.password.is_some(),
        // A Portunus extension: whether a private key of its own is hosted (never the key).
        "HasPrivateKey": a.private_key.is_some(),
        "HostAccountId": a.id.to_string(),
        "HostAccountName": a.name,
        "HostId": a.host_id.to_string(),
        "HostShareKeyId": id_str(a.shared_key_id),
        "HostShareKeyName": key.map(|k| k.name.clone()).unwrap_or_default(),
        "PrivateKeyFingerprint": "",
        "PrivilegeType": "Normal",
        "ProtocolName": a.protocol.api_name(),
        "RotationMode": "",
        // A Portunus extension: the account is limited to SFTP.
        "SftpOnly": a.sftp_only,
    })
}

/// A user (GetUser / ListUsers).
/// A user's `UserState`: a temporary lockout after wrong passwords shows as Locked too
/// (UnlockUsers ends it).
pub fn user_state(u: &User, now_ms: u64) -> &'static str {
    if u.password_locked(now_ms) {
        "Locked"
    } else if !u.validity.contains(now_ms) {
        "Expired"
    } else {
        "Normal"
    }
}

pub fn user(u: &User, now_ms: u64) -> Value {
    let methods: Vec<&str> = u
        .two_factor
        .iter()
        .map(|m| super::actions::users::method_name(*m))
        .collect();
    let state = user_state(u, now_ms);
    json!({
        "Comment": u.comment,
        "DisplayName": u.display_name,
        "EffectiveEndTime": u.validity.end_ms.map(|m| m / 1000).unwrap_or(0),
        "EffectiveStartTime": u.validity.start_ms.map(|m| m / 1000).unwrap_or(0),
        "Email": u.email,
        "Language": u.language.map_or("", |l| l.api_name()),
        "LanguageStatus": if u.language.is_some() { "Custom" } else { "Global" },
        "Mobile": u.mobile,
        "MobileCountryCode": "",
        "NeedResetPassword": false,
        "Source": user_source_name(u.source),
        "SourceUserId": u.source_user_id,
        "TwoFactorMethods": methods,
        "TwoFactorStatus": super::actions::users::status_name(u.two_factor_status),
        // Portunus extension: the user's TOTP authenticator (None, Pending, Active).
        "TotpState": match &u.totp {
            None => "None",
            Some(t) if t.active => "Active",
            Some(_) => "Pending",
        },
        "TotpRecoveryCodesLeft": u.totp.as_ref().map_or(0, |t| t.recovery_codes.len()),
        "UserId": u.id.to_string(),
        "UserName": u.name,
        "UserState": [state],
        // Portunus extension: the lock was set by a directory synchronization (the user is
        // disabled in or gone from the directory); the next one that finds the user enabled
        // lifts it.
        "LockedByDirectory": u.locked && u.directory_locked,
    })
}

/// A database (GetDatabase / ListDatabases).
pub fn database(d: &Database) -> Value {
    json!({
        "ActiveAddressType": "Private",
        "Comment": d.comment,
        "DatabaseId": d.id.to_string(),
        "DatabaseName": d.name,
        "DatabasePort": d.port,
        "DatabasePrivateAddress": d.address,
        "DatabasePublicAddress": "",
        "DatabaseType": d.engine.protocol().api_name(),
        "NetworkDomainId": id_str(d.network_domain_id),
        "Source": source_name(d.source),
        "SourceInstanceId": d.source_instance_id,
        "SourceInstanceRegionId": "",
        "SourceInstanceState": "",
    })
}
