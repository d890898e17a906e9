//! User public keys: CreateUserPublicKey, ListUserPublicKeys, ModifyUserPublicKey,
//! DeleteUserPublicKey. The fingerprint is OpenSSH's `SHA256:<base64 of the key blob>`.

use crate::api::call::{done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use aws_lc_rs::digest;
use base64::Engine;
use portunus_model::{Command, EntityKind};
use serde_json::json;

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateUserPublicKey",
        Write,
        create,
        "Adds an SSH public key to a user.",
        [
            req("UserId", Ty::Id),
            req("PublicKey", Ty::Str),
            req("PublicKeyName", Ty::Str),
            opt("Comment", Ty::Str),
        ]
    ),
    action!(
        "ListUserPublicKeys",
        ForUser,
        list,
        "Lists a user's public keys.",
        [
            req("UserId", Ty::Id),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyUserPublicKey",
        Write,
        modify,
        "Renames or re-describes a public key.",
        [
            req("PublicKeyId", Ty::Id),
            opt("PublicKeyName", Ty::Str),
            opt("Comment", Ty::Str),
            opt("PublicKey", Ty::Str),
        ]
    ),
    action!(
        "DeleteUserPublicKey",
        Write,
        delete,
        "Removes a public key.",
        [req("PublicKeyId", Ty::Id)]
    ),
];

/// `SHA256:...` fingerprint of an OpenSSH public key line (`type base64 [comment]`).
pub fn fingerprint(key: &str) -> Result<String, ApiError> {
    let invalid = || ApiError::invalid("PublicKey", "expected an OpenSSH public key line");
    let blob = key.split_whitespace().nth(1).ok_or_else(invalid)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(blob)
        .map_err(|_| invalid())?;
    let d = digest::digest(&digest::SHA256, &raw);
    let b64 = base64::engine::general_purpose::STANDARD_NO_PAD.encode(d.as_ref());
    Ok(format!("SHA256:{b64}"))
}

async fn create(c: &Call) -> ApiResult {
    let key = c.p.req("PublicKey")?.trim().to_string();
    let cmd = Command::AddUserPublicKey {
        user_id: c.p.id("UserId")?,
        name: c.p.req("PublicKeyName")?.to_string(),
        fingerprint: fingerprint(&key)?,
        public_key: key,
        comment: c.p.string("Comment").unwrap_or_default(),
    };
    let id = c.create(cmd).await?;
    Ok(one("PublicKeyId", id.to_string()))
}

async fn list(c: &Call) -> ApiResult {
    let user = c.p.id("UserId")?;
    let paging = c.p.page()?;
    let rows = c
        .read(|s| {
            s.user(user).map(|u| {
                u.public_keys
                    .values()
                    .map(|k| {
                        json!({"Comment": k.comment, "FingerPrint": k.fingerprint,
                               "PublicKeyId": k.id.to_string(), "PublicKeyName": k.name,
                               "UserId": user.to_string()})
                    })
                    .collect::<Vec<_>>()
            })
        })
        .await?;
    let (items, total) = paginate(found(rows, EntityKind::User, user)?, paging);
    Ok(page("PublicKeys", items, total))
}

/// The user owning a public key.
async fn owner(c: &Call, key_id: u64) -> Result<u64, ApiError> {
    let owner = c
        .read(|s| {
            s.users()
                .find(|u| u.public_keys.contains_key(&key_id))
                .map(|u| u.id)
        })
        .await?;
    found(owner, EntityKind::PublicKey, key_id)
}

async fn modify(c: &Call) -> ApiResult {
    let key_id = c.p.id("PublicKeyId")?;
    if c.p.opt("PublicKey").is_some() {
        return Err(ApiError::invalid(
            "PublicKey",
            "the key material cannot be changed; delete and re-create the key",
        ));
    }
    let user_id = owner(c, key_id).await?;
    let cmd = Command::UpdateUserPublicKey {
        user_id,
        key_id,
        name: c.p.opt("PublicKeyName").map(str::to_string),
        comment: c.p.string("Comment"),
    };
    c.propose(cmd).await?;
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let key_id = c.p.id("PublicKeyId")?;
    let user_id = owner(c, key_id).await?;
    c.propose(Command::RemoveUserPublicKey { user_id, key_id })
        .await?;
    Ok(done())
}
