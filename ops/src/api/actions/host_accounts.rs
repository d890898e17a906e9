//! Host account actions: Create/Get/List/Modify/DeleteHostAccount and
//! ResetHostAccountCredential. Passwords and private keys are sealed before they are proposed.
//! VerifyHostAccount (a Portunus extension) checks an account from the bastion.

use crate::api::call::{done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use crate::api::views::{self, parse_protocol};
use portunus_model::{Command, CredentialKind, EntityKind, HostAccountPatch, NewHostAccount};

/// Sealing purposes of host account credentials.
pub const PASSWORD_PURPOSE: &str = portunus_model::seal_purpose::HOST_PASSWORD;
pub const PRIVATE_KEY_PURPOSE: &str = portunus_model::seal_purpose::HOST_PRIVATE_KEY;

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateHostAccount",
        Write,
        create,
        "Adds an account to a host. Extension: SftpOnly=true limits the account to SFTP (no \
         shell, exec or forwarding through the bastion; SSH accounts only).",
        [
            req("HostId", Ty::Id),
            req("HostAccountName", Ty::Str),
            req("ProtocolName", Ty::Str),
            opt("Password", Ty::Str).secret(),
            opt("PrivateKey", Ty::Str).secret(),
            opt("PassPhrase", Ty::Str).secret(),
            opt("HostShareKeyId", Ty::Id),
            opt("PrivilegeType", Ty::Str),
            opt("RotationMode", Ty::Str),
            opt("SftpOnly", Ty::Bool),
        ]
    ),
    action!(
        "VerifyHostAccount",
        Write,
        verify,
        "Checks an SSH host account from the bastion as a login would (Portunus extension): \
         connects to its host, compares the host key with the pinned fingerprint (trusting no \
         new key, and sending no credential to a host that does not match), then tries the \
         hosted credential. Result: OK, Unreachable, HostKeyMismatch, HostKeyNotPinned, \
         NoCredential, CredentialUnusable or AuthRefused, with a Message saying why.",
        [req("HostAccountId", Ty::Id)]
    ),
    action!(
        "GetHostAccount",
        Read,
        get,
        "Queries a host account.",
        [req("HostAccountId", Ty::Id)]
    ),
    action!(
        "ListHostAccounts",
        Read,
        list,
        "Lists host accounts.",
        [
            opt("HostId", Ty::Id),
            opt("HostIds", Ty::IdList),
            opt("HostAccountName", Ty::Str),
            opt("ProtocolName", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyHostAccount",
        Write,
        modify,
        "Changes a host account. Extension: SftpOnly (true/false) limits the account to SFTP \
         or lifts the limit.",
        [
            req("HostAccountId", Ty::Id),
            opt("HostAccountName", Ty::Str),
            opt("Password", Ty::Str).secret(),
            opt("PrivateKey", Ty::Str).secret(),
            opt("PassPhrase", Ty::Str).secret(),
            opt("HostShareKeyId", Ty::Str),
            opt("PrivilegeType", Ty::Str),
            opt("RotationMode", Ty::Str),
            opt("SftpOnly", Ty::Bool),
        ]
    ),
    action!(
        "DeleteHostAccount",
        Write,
        delete,
        "Deletes a host account.",
        [req("HostAccountId", Ty::Id),]
    ),
    action!(
        "ResetHostAccountCredential",
        Write,
        reset,
        "Erases a stored credential.",
        [req("HostAccountId", Ty::Id), req("CredentialType", Ty::Str),]
    ),
];

/// Why a privileged account type is refused.
const NO_PRIVILEGE_TYPE: &str = "PrivilegeType: Portunus keeps no privileged host accounts (it \
     changes no host passwords, for which the cloud service uses them); leave it out or give \
     Normal";

/// Why a rotation mode other than Self is refused.
const NO_ROTATION: &str = "RotationMode: Portunus does not change host account passwords, so \
     no account changes another's; leave it out or give Self";

/// `PrivilegeType` and `RotationMode` may only ask for what every account is.
fn ordinary_account(c: &Call) -> Result<(), ApiError> {
    c.p.only("PrivilegeType", &["Normal"], NO_PRIVILEGE_TYPE)?;
    c.p.only("RotationMode", &["Self"], NO_ROTATION)
}

fn no_passphrase(c: &Call) -> Result<(), ApiError> {
    match c.p.opt("PassPhrase") {
        Some(_) => Err(ApiError::invalid(
            "PassPhrase",
            "encrypted private keys are not supported yet; send the key unencrypted",
        )),
        None => Ok(()),
    }
}

async fn create(c: &Call) -> ApiResult {
    no_passphrase(c)?;
    ordinary_account(c)?;
    let p = &c.p;
    let new = NewHostAccount {
        host_id: p.id("HostId")?,
        name: p.req("HostAccountName")?.to_string(),
        protocol: parse_protocol("ProtocolName", p.req("ProtocolName")?)?,
        password: p
            .opt("Password")
            .map(|v| c.seal(PASSWORD_PURPOSE, v))
            .transpose()?,
        private_key: p
            .opt("PrivateKey")
            .map(|v| c.seal(PRIVATE_KEY_PURPOSE, v))
            .transpose()?,
        shared_key_id: p.opt_id("HostShareKeyId")?,
        sftp_only: p.bool("SftpOnly")?.unwrap_or(false),
    };
    let id = c.create(Command::CreateHostAccount(new)).await?;
    Ok(one("HostAccountId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("HostAccountId")?;
    let v = c
        .read(|s| s.host_account(id).map(|a| views::host_account(s, a)))
        .await?;
    Ok(one("HostAccount", found(v, EntityKind::HostAccount, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let p = &c.p;
    let mut hosts: Vec<u64> = p.opt_id("HostId")?.into_iter().collect();
    if p.opt("HostIds").is_some() {
        hosts.extend(p.id_list("HostIds")?);
    }
    let name = p.opt("HostAccountName").map(str::to_lowercase);
    let proto = p
        .opt("ProtocolName")
        .map(|v| parse_protocol("ProtocolName", v))
        .transpose()?;
    let paging = p.page()?;
    let rows = c
        .read(|s| {
            let all: Vec<_> = if hosts.is_empty() {
                s.hosts().flat_map(|h| s.host_accounts_of(h.id)).collect()
            } else {
                hosts.iter().flat_map(|h| s.host_accounts_of(*h)).collect()
            };
            all.into_iter()
                .filter(|a| {
                    name.as_ref()
                        .is_none_or(|n| a.name.to_lowercase().contains(n))
                })
                .filter(|a| proto.is_none_or(|p| a.protocol == p))
                .map(|a| views::host_account(s, a))
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("HostAccounts", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    no_passphrase(c)?;
    ordinary_account(c)?;
    let p = &c.p;
    let account_id = p.id("HostAccountId")?;
    let shared_key_id = match p.get("HostShareKeyId") {
        None => None,
        Some("") => Some(None),
        Some(_) => Some(p.opt_id("HostShareKeyId")?),
    };
    let patch = HostAccountPatch {
        name: p.opt("HostAccountName").map(str::to_string),
        password: p
            .opt("Password")
            .map(|v| c.seal(PASSWORD_PURPOSE, v))
            .transpose()?,
        private_key: p
            .opt("PrivateKey")
            .map(|v| c.seal(PRIVATE_KEY_PURPOSE, v))
            .transpose()?,
        shared_key_id,
        sftp_only: p.bool("SftpOnly")?,
    };
    c.propose(Command::UpdateHostAccount { account_id, patch })
        .await?;
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let account_id = c.p.id("HostAccountId")?;
    c.propose(Command::DeleteHostAccount { account_id }).await?;
    Ok(done())
}

async fn reset(c: &Call) -> ApiResult {
    let account_id = c.p.id("HostAccountId")?;
    let kind = match c.p.req("CredentialType")?.to_ascii_lowercase().as_str() {
        "password" => CredentialKind::Password,
        "privatekey" => CredentialKind::PrivateKey,
        _ => {
            return Err(ApiError::invalid(
                "CredentialType",
                "expected Password or PrivateKey",
            ))
        }
    };
    c.propose(Command::ResetHostAccountCredential { account_id, kind })
        .await?;
    Ok(done())
}

async fn verify(c: &Call) -> ApiResult {
    let id = c.p.id("HostAccountId")?;
    let check = c.backend.verify_host_account(id).await?;
    let mut m = one("HostAccountId", id.to_string());
    m.insert("Result".into(), check.result.into());
    m.insert("Message".into(), check.message.into());
    m.insert(
        "PinnedHostFingerPrint".into(),
        check.pinned_fingerprint.unwrap_or_default().into(),
    );
    m.insert(
        "HostFingerPrint".into(),
        check.seen_fingerprint.unwrap_or_default().into(),
    );
    Ok(m)
}
