//! Instance settings stored in the replicated state: two-factor authentication (enforced by the
//! SSH gateway) and the LDAP / AD authentication servers that directory users log in against
//! (the service account's password is sealed), with their Verify checks, and the
//! synchronization of users from them (SyncInterval, the IsSync* switches, and the
//! SyncInstanceLDAPUsers / SyncInstanceADUsers extensions that run one now); and OpenID
//! Connect single sign-on of the web pages (Get/ModifyInstanceOIDCAuthServer, extensions).

use crate::api::call::{done, one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, join, opt, req, Action, ParamSpec, Ty};
use portunus_model::{
    Command, DirectorySettings, DirectorySync, OidcSettings, Response, SyncReport, UserSource,
};
use serde_json::json;

/// Sealing purpose of the directory bind password.
pub const DIRECTORY_PASSWORD_PURPOSE: &str = portunus_model::seal_purpose::DIRECTORY_BIND_PASSWORD;

/// A directory server's connection and service account (what the Verify actions check).
const DIR_VERIFY: [ParamSpec; 8] = [
    req("Server", Ty::Str),
    req("Port", Ty::Int),
    req("BaseDN", Ty::Str),
    req("Account", Ty::Str),
    opt("StandbyServer", Ty::Str),
    opt("IsSSL", Ty::Bool),
    opt("Password", Ty::Str).secret(),
    opt("Filter", Ty::Str),
];

/// A directory server's settings.
const DIR: [ParamSpec; 11] = join(&[
    &DIR_VERIFY,
    &[
        opt("NameMapping", Ty::Str),
        opt("EmailMapping", Ty::Str),
        opt("MobileMapping", Ty::Str),
    ],
]);

/// The synchronization settings (SDK names for AD; the same names are Portunus extensions for
/// LDAP, and IsSyncGroupAsUserGroup is one for both).
const SYNC: [ParamSpec; 6] = [
    opt("SyncInterval", Ty::Int),
    opt("IsSyncNameAttr", Ty::Bool),
    opt("IsSyncEmailAttr", Ty::Bool),
    opt("IsSyncMobileAttr", Ty::Bool),
    opt("IsSyncOuAsUserGroup", Ty::Bool),
    opt("IsSyncGroupAsUserGroup", Ty::Bool),
];

/// ModifyInstanceLDAPAuthServer's parameters.
const LDAP_MODIFY: [ParamSpec; 18] = join(&[&DIR, &[opt("LoginNameMapping", Ty::Str)], &SYNC]);
/// ModifyInstanceADAuthServer's parameters.
const AD_MODIFY: [ParamSpec; 21] = join(&[
    &DIR,
    &[
        req("Domain", Ty::Str),
        opt("UserSourceId", Ty::Str),
        opt("ServerName", Ty::Str),
        opt("IsDefault", Ty::Bool),
    ],
    &SYNC,
]);
const AD_VERIFY: [ParamSpec; 9] = join(&[&DIR_VERIFY, &[req("Domain", Ty::Str)]]);

pub static ACTIONS: &[Action] = &[
    action!(
        "GetHostKeyPolicy",
        Read,
        get_host_key_policy,
        "Queries whether hosts' SSH keys must be pinned before the bastion logs in to them \
         (Portunus extension; Bastionhost has no such setting). RequirePinnedHostKeys false: \
         the first key a host presents is trusted and pinned.",
        []
    ),
    action!(
        "ModifyHostKeyPolicy",
        Write,
        set_host_key_policy,
        "Requires (true) or not (false, the default) that a host's SSH key be pinned \
         (CreateHost HostFingerPrint, ModifyHostFingerPrint) before the bastion sends it a \
         credential; logins to and VerifyHostAccount of an unpinned host are then refused \
         (Portunus extension; Bastionhost has no such setting).",
        [req("RequirePinnedHostKeys", Ty::Bool)]
    ),
    action!(
        "GetInstanceTwoFactor",
        Read,
        get_2fa,
        "Queries two-factor settings: EnableTwoFactor, TwoFactorMethods (totp is the only \
         method Portunus delivers) and SkipTwoFactorTime (hours).",
        []
    ),
    action!(
        "ModifyInstanceTwoFactor",
        Write,
        set_2fa,
        "Changes two-factor settings. Users whose TwoFactorStatus is Global are then asked, at \
         SSH logins with their password or key, for a TOTP code (RFC 6238) after it. \
         TwoFactorMethods other than totp (sms, email, dingtalk, gmusbkey) are refused with \
         OperationNotSupported. SkipTwoFactorTime: hours (0 to 168) during which a user who \
         passed the second factor is not asked again.",
        [
            opt("EnableTwoFactor", Ty::Bool),
            opt("TwoFactorMethods", Ty::Json),
            opt("SkipTwoFactorTime", Ty::Int),
        ]
    ),
    action!(
        "GetInstanceLDAPAuthServer",
        Read,
        get_ldap,
        "Queries LDAP settings.",
        []
    ),
    action!(
        "ModifyInstanceLDAPAuthServer",
        Write,
        set_ldap,
        "Stores LDAP settings: users whose source is LDAP then log in against the directory \
         (search-then-bind over LDAPS or StartTLS; see README). The synchronization \
         parameters are Portunus extensions here, named as ModifyInstanceADAuthServer's. \
         Parameters left out keep their stored value (Password too). Synchronization (README, \
         Directory synchronization): SyncInterval hours between automatic runs (0 = only on \
         demand, or 4 to 168); IsSyncNameAttr, IsSyncEmailAttr, IsSyncMobileAttr (default \
         true) take the display name, e-mail and mobile from the directory; \
         IsSyncOuAsUserGroup makes a user's organizational unit a user group, \
         IsSyncGroupAsUserGroup (extension) the directory groups the user is a member of.",
        params: &LDAP_MODIFY
    ),
    action!(
        "VerifyInstanceLDAPAuthServer",
        Write,
        verify_ldap,
        "Checks LDAP settings against the server before they are saved: it answers over TLS \
         (LDAPS when IsSSL, else StartTLS), the service account binds (Password, or the stored \
         one when omitted and the account is the stored one), BaseDN can be searched. Fails \
         with VerificationFailed saying why; Message (an addition) says what was found.",
        params: &DIR_VERIFY
    ),
    action!(
        "VerifyInstanceADAuthServer",
        Write,
        verify_ad,
        "Checks AD settings against the server, as VerifyInstanceLDAPAuthServer does.",
        params: &AD_VERIFY
    ),
    action!(
        "GetInstanceADAuthServer",
        Read,
        get_ad,
        "Queries AD settings.",
        [opt("UserSourceId", Ty::Str)]
    ),
    action!(
        "ModifyInstanceADAuthServer",
        Write,
        set_ad,
        "Stores AD settings: users whose source is AD then log in against the directory. \
         Parameters left out keep their stored value (Password too). SyncInterval (hours, 0 \
         or 4 to 168) and the IsSync switches set the synchronization of users from the \
         directory, as for LDAP; IsSyncGroupAsUserGroup is a Portunus extension.",
        params: &AD_MODIFY
    ),
    action!(
        "SyncInstanceLDAPUsers",
        Write,
        sync_ldap,
        "Synchronizes users from the LDAP directory now (Portunus extension): every entry the \
         Filter matches under BaseDN becomes a user of source LDAP (enabled entries are \
         created, profiles taken as the IsSync switches say), users of source LDAP disabled \
         in or gone from the directory are locked and enabled ones unlocked, directory groups \
         follow the directory. Local users holding a directory login name are left alone and \
         listed. Answers Report; a directory that cannot be read answers VerificationFailed \
         and changes nothing.",
        []
    ),
    action!(
        "SyncInstanceADUsers",
        Write,
        sync_ad,
        "Synchronizes users from the AD directory now (Portunus extension), as \
         SyncInstanceLDAPUsers does for LDAP.",
        []
    ),
    action!(
        "GetInstanceOIDCAuthServer",
        Read,
        get_oidc,
        "Queries the OpenID Connect single sign-on of the web console and portal (Portunus \
         extension); the client secret is never shown (HasClientSecret).",
        []
    ),
    action!(
        "ModifyInstanceOIDCAuthServer",
        Write,
        set_oidc,
        "Stores the OpenID Connect single sign-on of the web console and portal (Portunus \
         extension): Issuer (the provider's https:// URL; its discovery document is read), \
         ClientId and ClientSecret (sealed; leave it out for a public client, PKCE is always \
         used) registered there with the redirect URI \
         https://<the bastion's address>/web/api/oidc/callback, UserClaim (the ID token claim \
         naming the bastion user, default preferred_username), Scopes asked besides openid \
         (default \"profile email\"), AutoCreateUser (a user the claim names who does not exist \
         is created, source IDaaS, without password; default false), DisplayName (the login \
         button's text), Enabled. Parameters left out keep their stored value; Enabled false \
         takes the button off the login page and refuses callbacks.",
        [
            opt("Enabled", Ty::Bool),
            opt("Issuer", Ty::Str),
            opt("ClientId", Ty::Str),
            opt("ClientSecret", Ty::Str).secret(),
            opt("UserClaim", Ty::Str),
            opt("Scopes", Ty::Str),
            opt("AutoCreateUser", Ty::Bool),
            opt("DisplayName", Ty::Str),
        ]
    ),
];

async fn get_oidc(c: &Call) -> ApiResult {
    let o = c
        .read(|s| s.oidc_settings().cloned())
        .await?
        .unwrap_or_default();
    Ok(one(
        "OIDC",
        json!({
            "Enabled": o.enabled, "Issuer": o.issuer, "ClientId": o.client_id,
            "HasClientSecret": o.client_secret.is_some(), "UserClaim": o.claim(),
            "Scopes": o.scopes, "AutoCreateUser": o.auto_create, "DisplayName": o.display_name,
            "RedirectPath": "/web/api/oidc/callback",
        }),
    ))
}

async fn set_oidc(c: &Call) -> ApiResult {
    let p = &c.p;
    let mut o = c
        .read(|s| s.oidc_settings().cloned())
        .await?
        .unwrap_or_else(|| OidcSettings {
            scopes: "profile email".into(),
            ..Default::default()
        });
    if let Some(on) = p.bool("Enabled")? {
        o.enabled = on;
    }
    if let Some(issuer) = p.string("Issuer") {
        // As the provider names itself (a trailing slash included): ID tokens must match it.
        o.issuer = issuer.trim().to_string();
    }
    if let Some(id) = p.string("ClientId") {
        o.client_id = id;
    }
    if let Some(secret) = p.opt("ClientSecret") {
        o.client_secret = if secret.is_empty() {
            None
        } else {
            Some(c.seal(portunus_model::seal_purpose::OIDC_CLIENT_SECRET, secret)?)
        };
    }
    if let Some(claim) = p.string("UserClaim") {
        o.user_claim = claim;
    }
    if let Some(scopes) = p.string("Scopes") {
        if scopes.split_whitespace().any(|s| {
            !s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
        }) {
            return Err(ApiError::invalid(
                "Scopes",
                "scope names separated by spaces",
            ));
        }
        o.scopes = scopes;
    }
    if let Some(on) = p.bool("AutoCreateUser")? {
        o.auto_create = on;
    }
    if let Some(name) = p.string("DisplayName") {
        o.display_name = name;
    }
    c.propose(Command::SetOidcSettings(Some(o))).await?;
    Ok(done())
}

/// Why a second AD server, or a name for the one, is refused.
const ONE_AD_SERVER: &str = "UserSourceId, ServerName and IsDefault: Portunus keeps one AD \
     server (with its standby), unnamed, so there is none to choose or make the default; leave \
     them out (IsDefault false)";

/// Refuses what the SDK's AD settings ask that Portunus does not do.
fn one_ad_server(c: &Call) -> Result<(), ApiError> {
    c.p.only("UserSourceId", &[], ONE_AD_SERVER)?;
    c.p.only("ServerName", &[], ONE_AD_SERVER)?;
    c.p.only("IsDefault", &["false"], ONE_AD_SERVER)
}

/// The synchronization settings: those given, the stored ones for the rest.
fn sync_settings(c: &Call, previous: Option<&DirectorySync>) -> Result<DirectorySync, ApiError> {
    let p = &c.p;
    let mut sync = previous.cloned().unwrap_or_default();
    if let Some(hours) = p.num::<u32>("SyncInterval")? {
        if hours != 0 && !DirectorySync::INTERVAL_HOURS.contains(&hours) {
            return Err(ApiError::invalid(
                "SyncInterval",
                "hours between automatic synchronizations: 0 (only on demand), or 4 to 168",
            ));
        }
        sync.interval_hours = hours;
    }
    for (name, field) in [
        ("IsSyncNameAttr", &mut sync.name),
        ("IsSyncEmailAttr", &mut sync.email),
        ("IsSyncMobileAttr", &mut sync.mobile),
        ("IsSyncOuAsUserGroup", &mut sync.ou_as_group),
        ("IsSyncGroupAsUserGroup", &mut sync.groups_as_groups),
    ] {
        if let Some(v) = p.bool(name)? {
            *field = v;
        }
    }
    Ok(sync)
}

/// The settings' synchronization part and the last synchronization, as Get answers them.
fn sync_json(v: &mut serde_json::Value, d: &DirectorySettings, last: Option<&SyncReport>) {
    v["SyncInterval"] = d.sync.interval_hours.into();
    v["IsSyncNameAttr"] = d.sync.name.into();
    v["IsSyncEmailAttr"] = d.sync.email.into();
    v["IsSyncMobileAttr"] = d.sync.mobile.into();
    v["IsSyncOuAsUserGroup"] = d.sync.ou_as_group.into();
    v["IsSyncGroupAsUserGroup"] = d.sync.groups_as_groups.into();
    // LatestSyncTime: the last synchronization that read the directory, in unix seconds.
    if let Some(r) = last.filter(|r| r.error.is_none()) {
        v["LatestSyncTime"] = (r.at_ms / 1000).into();
    }
    if let Some(r) = last {
        v["LatestSync"] = report_json(r);
    }
}

/// A synchronization's report (Portunus extension).
fn report_json(r: &SyncReport) -> serde_json::Value {
    json!({
        "Time": r.at_ms / 1000,
        "Error": r.error,
        "Entries": r.entries,
        "Created": r.created,
        "Updated": r.updated,
        "Locked": r.locked,
        "Unlocked": r.unlocked,
        "GroupsCreated": r.groups_created,
        "MembershipChanges": r.membership_changes,
        "UserConflicts": r.user_conflicts,
        "UserConflictCount": r.user_conflict_count,
        "GroupConflicts": r.group_conflicts,
        "GroupConflictCount": r.group_conflict_count,
        "Invalid": r.invalid,
        "InvalidCount": r.invalid_count,
    })
}

async fn sync_ldap(c: &Call) -> ApiResult {
    sync_users(c, UserSource::Ldap).await
}

async fn sync_ad(c: &Call) -> ApiResult {
    sync_users(c, UserSource::Ad).await
}

/// Reads the directory from this node and applies what it holds.
async fn sync_users(c: &Call, source: UserSource) -> ApiResult {
    let ad = source == UserSource::Ad;
    let (stored, name) = if ad {
        (c.read(|s| s.ad_settings().cloned()).await?, "AD")
    } else {
        (c.read(|s| s.ldap_settings().cloned()).await?, "LDAP")
    };
    let Some(mut settings) = stored else {
        return Err(ApiError::CheckFailed(format!(
            "no {name} server settings are stored: set them with ModifyInstance{name}AuthServer first"
        )));
    };
    let password = match settings.password.take() {
        Some(sealed) => {
            let plain = c.backend.unseal(DIRECTORY_PASSWORD_PURPOSE, &sealed)?;
            Some(String::from_utf8(plain).map_err(|_| ApiError::Internal)?)
        }
        None => None,
    };
    match c.backend.read_directory(ad, settings, password).await {
        Ok(entries) => match c
            .propose(Command::SyncDirectory { source, entries })
            .await?
        {
            Response::DirectorySynced(r) => Ok(one("Report", report_json(&r))),
            _ => Err(ApiError::Internal),
        },
        Err(why) => {
            let failed = Command::DirectorySyncFailed {
                source,
                error: why.clone(),
            };
            c.propose(failed).await?;
            Err(ApiError::CheckFailed(why))
        }
    }
}

/// Settings as a Verify call sends them, with the service password in clear: the one given,
/// else the stored one (when the stored settings name the same account).
fn to_verify(
    c: &Call,
    stored: Option<DirectorySettings>,
) -> Result<(DirectorySettings, Option<String>), ApiError> {
    let mut d = directory(c, None)?;
    d.password = None;
    let password = match c.p.opt("Password").filter(|p| !p.is_empty()) {
        Some(pw) => Some(pw.to_string()),
        None => match stored
            .filter(|s| s.account == d.account)
            .and_then(|s| s.password)
        {
            Some(sealed) => {
                let plain = c.backend.unseal(DIRECTORY_PASSWORD_PURPOSE, &sealed)?;
                Some(String::from_utf8(plain).map_err(|_| ApiError::Internal)?)
            }
            None => None,
        },
    };
    Ok((d, password))
}

async fn verify_ldap(c: &Call) -> ApiResult {
    let stored = c.read(|s| s.ldap_settings().cloned()).await?;
    let (d, password) = to_verify(c, stored)?;
    let found = c.backend.verify_directory(false, d, password).await;
    let said = found.map_err(ApiError::CheckFailed)?;
    Ok(one("Message", said))
}

async fn verify_ad(c: &Call) -> ApiResult {
    let stored = c.read(|s| s.ad_settings().cloned()).await?;
    let (d, password) = to_verify(c, stored)?;
    let found = c.backend.verify_directory(true, d, password).await;
    let said = found.map_err(ApiError::CheckFailed)?;
    Ok(one("Message", said))
}

async fn get_host_key_policy(c: &Call) -> ApiResult {
    let required = c.read(|s| s.settings().require_host_key_pins).await?;
    Ok(one("Policy", json!({ "RequirePinnedHostKeys": required })))
}

async fn set_host_key_policy(c: &Call) -> ApiResult {
    let Some(required) = c.p.bool("RequirePinnedHostKeys")? else {
        return Err(ApiError::invalid(
            "RequirePinnedHostKeys",
            "expected true or false",
        ));
    };
    let mut settings = c.read(|s| s.settings().clone()).await?;
    settings.require_host_key_pins = required;
    c.propose(Command::UpdateSettings(settings)).await?;
    Ok(done())
}

async fn get_2fa(c: &Call) -> ApiResult {
    let t = c.read(|s| s.two_factor_settings().clone()).await?;
    let cfg = json!({
        "EnableTwoFactor": t.enabled,
        "SkipTwoFactorTime": t.skip_secs / 3600,
        "TwoFactorMethods": t.methods,
    });
    Ok(one("Config", cfg))
}

/// `EnableTwoFactor`, `TwoFactorMethods` (only `totp` can be delivered: the others are refused
/// as not supported, never stored) and `SkipTwoFactorTime` (hours, 0 to 168). Parameters left
/// out keep their stored value.
async fn set_2fa(c: &Call) -> ApiResult {
    let mut settings = c.read(|s| s.two_factor_settings().clone()).await?;
    if let Some(enabled) = c.p.bool("EnableTwoFactor")? {
        settings.enabled = enabled;
    }
    if let Some(methods) = super::users::two_factor(&c.p)? {
        settings.methods = methods
            .into_iter()
            .map(|m| super::users::method_name(m).to_string())
            .collect();
    }
    if let Some(hours) = c.p.num::<u64>("SkipTwoFactorTime")? {
        if hours > 168 {
            return Err(ApiError::invalid(
                "SkipTwoFactorTime",
                "hours, from 0 to 168",
            ));
        }
        settings.skip_secs = hours * 3600;
    }
    if settings.enabled && settings.methods.is_empty() {
        return Err(ApiError::invalid(
            "TwoFactorMethods",
            "EnableTwoFactor true needs a method: [\"totp\"]",
        ));
    }
    c.propose(Command::SetTwoFactorSettings(settings)).await?;
    Ok(done())
}

fn directory(c: &Call, previous: Option<DirectorySettings>) -> Result<DirectorySettings, ApiError> {
    let p = &c.p;
    let port: u16 = p.num("Port")?.ok_or(ApiError::MissingParameter("Port"))?;
    let sync = sync_settings(c, previous.as_ref().map(|d| &d.sync))?;
    let password = match p.opt("Password") {
        Some(pw) => Some(c.seal(DIRECTORY_PASSWORD_PURPOSE, pw)?),
        None => previous.and_then(|d| d.password),
    };
    Ok(DirectorySettings {
        server: p.req("Server")?.to_string(),
        standby_server: p.string("StandbyServer").unwrap_or_default(),
        port,
        is_ssl: p.bool("IsSSL")?.unwrap_or(false),
        base_dn: p.req("BaseDN")?.to_string(),
        domain: p.string("Domain").unwrap_or_default(),
        account: p.req("Account")?.to_string(),
        password,
        filter: p.string("Filter").unwrap_or_default(),
        login_name_mapping: p.string("LoginNameMapping").unwrap_or_default(),
        name_mapping: p.string("NameMapping").unwrap_or_default(),
        email_mapping: p.string("EmailMapping").unwrap_or_default(),
        mobile_mapping: p.string("MobileMapping").unwrap_or_default(),
        sync,
    })
}

fn directory_json(d: &DirectorySettings) -> serde_json::Value {
    json!({
        "Account": d.account, "BaseDN": d.base_dn, "EmailMapping": d.email_mapping,
        "Filter": d.filter, "IsSSL": d.is_ssl, "MobileMapping": d.mobile_mapping,
        "NameMapping": d.name_mapping, "Port": d.port, "Server": d.server,
        "StandbyServer": d.standby_server,
    })
}

async fn get_ldap(c: &Call) -> ApiResult {
    let d = c
        .read(|s| s.ldap_settings().cloned())
        .await?
        .unwrap_or_default();
    let last = c.read_local(|s| s.directory_sync(UserSource::Ldap).cloned())?;
    let mut v = directory_json(&d);
    v["HasPassword"] = d.password.is_some().to_string().into();
    v["LoginNameMapping"] = d.login_name_mapping.clone().into();
    sync_json(&mut v, &d, last.as_ref());
    Ok(one("LDAP", v))
}

async fn set_ldap(c: &Call) -> ApiResult {
    let previous = c.read(|s| s.ldap_settings().cloned()).await?;
    let d = directory(c, previous)?;
    c.propose(Command::SetLdapSettings(Some(d))).await?;
    Ok(done())
}

async fn get_ad(c: &Call) -> ApiResult {
    c.p.only("UserSourceId", &[], ONE_AD_SERVER)?;
    let d = c
        .read(|s| s.ad_settings().cloned())
        .await?
        .unwrap_or_default();
    let last = c.read_local(|s| s.directory_sync(UserSource::Ad).cloned())?;
    let mut v = directory_json(&d);
    v["HasPassword"] = d.password.is_some().into();
    v["Domain"] = d.domain.clone().into();
    v["IsDefault"] = false.into();
    sync_json(&mut v, &d, last.as_ref());
    Ok(one("AD", v))
}

async fn set_ad(c: &Call) -> ApiResult {
    one_ad_server(c)?;
    let previous = c.read(|s| s.ad_settings().cloned()).await?;
    let d = directory(c, previous)?;
    c.propose(Command::SetAdSettings(Some(d))).await?;
    Ok(done())
}
