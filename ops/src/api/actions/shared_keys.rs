//! Shared keys: Create/Get/List/Modify/DeleteHostShareKey, Attach/DetachHostAccountsTo/From
//! HostShareKey, ListHostAccountsForHostShareKey. Private keys are sealed before proposing.

use crate::api::call::{batch_entry, done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use aws_lc_rs::digest;
use base64::Engine;
use portunus_model::{Command, EntityKind, HostAccount, SharedKey, State};
use serde_json::{json, Value};

/// Sealing purpose of shared private keys.
pub const PURPOSE: &str = portunus_model::seal_purpose::SHARED_KEY;

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateHostShareKey",
        Write,
        create,
        "Adds a shared private key.",
        [
            req("HostShareKeyName", Ty::Str),
            req("PrivateKey", Ty::Str).secret(),
            opt("PassPhrase", Ty::Str).secret(),
        ]
    ),
    action!(
        "GetHostShareKey",
        Read,
        get,
        "Queries a shared key.",
        [req("HostShareKeyId", Ty::Id)]
    ),
    action!(
        "ListHostShareKeys",
        Read,
        list,
        "Lists shared keys.",
        [opt("PageNumber", Ty::Int), opt("PageSize", Ty::Int),]
    ),
    action!(
        "ModifyHostShareKey",
        Write,
        modify,
        "Changes a shared key.",
        [
            req("HostShareKeyId", Ty::Id),
            opt("HostShareKeyName", Ty::Str),
            opt("PrivateKey", Ty::Str).secret(),
            opt("PassPhrase", Ty::Str).secret(),
        ]
    ),
    action!(
        "DeleteHostShareKey",
        Write,
        delete,
        "Deletes a shared key.",
        [req("HostShareKeyId", Ty::Id)]
    ),
    action!(
        "AttachHostAccountsToHostShareKey",
        Write,
        attach,
        "Uses the key for accounts.",
        [
            req("HostShareKeyId", Ty::Id),
            req("HostAccountIds", Ty::IdList),
        ]
    ),
    action!(
        "DetachHostAccountsFromHostShareKey",
        Write,
        detach,
        "Stops using the key.",
        [
            req("HostShareKeyId", Ty::Id),
            req("HostAccountIds", Ty::IdList),
        ]
    ),
    action!(
        "ListHostAccountsForHostShareKey",
        Read,
        accounts,
        "Accounts using the key.",
        [
            req("HostShareKeyId", Ty::Id),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
];

/// OpenSSH `SHA256:` fingerprint of an `openssh-key-v1` private key (read from its public
/// part, which is stored unencrypted).
pub fn private_key_fingerprint(pem: &str) -> Result<String, ApiError> {
    let fp = fingerprint_or_empty(pem);
    if fp.is_empty() {
        return Err(ApiError::invalid(
            "PrivateKey",
            "expected an unencrypted OpenSSH private key (BEGIN OPENSSH PRIVATE KEY)",
        ));
    }
    Ok(fp)
}

fn fingerprint_or_empty(pem: &str) -> String {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else {
        return String::new();
    };
    let Some(rest) = raw.strip_prefix(b"openssh-key-v1\0".as_slice()) else {
        return String::new();
    };
    let public = public_blob(rest);
    match public {
        Some(blob) => {
            let d = digest::digest(&digest::SHA256, &blob);
            format!(
                "SHA256:{}",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(d.as_ref())
            )
        }
        None => String::new(),
    }
}

/// Reads one SSH wire `string` (u32 length + bytes) and returns it with the rest.
fn ssh_string(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?) as usize;
    let body = buf.get(4..4 + len)?;
    Some((body, buf.get(4 + len..)?))
}

/// The first public key blob of an `openssh-key-v1` body (after the magic).
fn public_blob(buf: &[u8]) -> Option<Vec<u8>> {
    let (_cipher, rest) = ssh_string(buf)?;
    let (_kdf, rest) = ssh_string(rest)?;
    let (_kdf_options, rest) = ssh_string(rest)?;
    let rest = rest.get(4..)?; // number of keys
    ssh_string(rest).map(|(blob, _)| blob.to_vec())
}

fn users_of(s: &State, key: u64) -> Vec<HostAccount> {
    s.hosts()
        .flat_map(|h| s.host_accounts_of(h.id))
        .filter(|a| a.shared_key_id == Some(key))
        .cloned()
        .collect()
}

fn row(s: &State, k: &SharedKey) -> Value {
    json!({
        "HostShareKeyId": k.id.to_string(), "HostShareKeyName": k.name,
        "LastModifyKeyAt": k.created_at_ms / 1000, "PrivateKeyFingerPrint": k.fingerprint,
        "HostAccountCount": users_of(s, k.id).len(),
    })
}

fn no_passphrase(c: &Call) -> Result<(), ApiError> {
    match c.p.opt("PassPhrase") {
        Some(_) => Err(ApiError::invalid(
            "PassPhrase",
            "encrypted private keys are not supported yet",
        )),
        None => Ok(()),
    }
}

async fn create(c: &Call) -> ApiResult {
    no_passphrase(c)?;
    let key = c.p.req("PrivateKey")?;
    let cmd = Command::CreateSharedKey {
        name: c.p.req("HostShareKeyName")?.to_string(),
        fingerprint: private_key_fingerprint(key)?,
        private_key: c.seal(PURPOSE, key)?,
        comment: String::new(),
    };
    let id = c.create(cmd).await?;
    Ok(one("HostShareKeyId", id))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("HostShareKeyId")?;
    let v = c.read(|s| s.shared_key(id).map(|k| row(s, k))).await?;
    Ok(one("HostShareKey", found(v, EntityKind::SharedKey, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let paging = c.p.page()?;
    let rows = c
        .read(|s| s.shared_keys().map(|k| row(s, k)).collect())
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("HostShareKeys", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    no_passphrase(c)?;
    let key = c.p.opt("PrivateKey");
    let cmd = Command::UpdateSharedKey {
        key_id: c.p.id("HostShareKeyId")?,
        name: c.p.opt("HostShareKeyName").map(str::to_string),
        private_key: key.map(|k| c.seal(PURPOSE, k)).transpose()?,
        fingerprint: key.map(private_key_fingerprint).transpose()?,
        comment: None,
    };
    c.propose(cmd).await?;
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let key_id = c.p.id("HostShareKeyId")?;
    c.propose(Command::DeleteSharedKey { key_id }).await?;
    Ok(done())
}

async fn link(c: &Call, attach: bool) -> ApiResult {
    let key_id = c.p.id("HostShareKeyId")?;
    let mut results = Vec::new();
    for id in c.p.id_list("HostAccountIds")? {
        let account_ids = vec![id];
        let cmd = if attach {
            Command::AttachAccountsToSharedKey {
                key_id,
                account_ids,
            }
        } else {
            Command::DetachAccountsFromSharedKey {
                key_id,
                account_ids,
            }
        };
        let outcome = c.propose(cmd).await;
        results.push(batch_entry(
            &outcome,
            &[("HostAccountId", id), ("HostShareKeyId", key_id)],
        ));
    }
    Ok(one("Results", results))
}

async fn attach(c: &Call) -> ApiResult {
    link(c, true).await
}

async fn detach(c: &Call) -> ApiResult {
    link(c, false).await
}

async fn accounts(c: &Call) -> ApiResult {
    let key = c.p.id("HostShareKeyId")?;
    let paging = c.p.page()?;
    let rows = c
        .read(|s| {
            users_of(s, key)
                .iter()
                .map(|a| {
                    json!({"HostAccountName": a.name, "HostId": a.host_id.to_string(),
                           "HostsAccountId": a.id.to_string(), "ProtocolName": a.protocol.api_name()})
                })
                .collect()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("HostAccounts", items, total))
}

#[cfg(test)]
mod tests {
    /// A throwaway ed25519 key generated for this test; `ssh-keygen -l` prints the fingerprint.
    const TEST_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCy/vpB32tv/TUNeVKEaC26PT6s9EL/mf066LidraOQIwAAAIgh7TRoIe00
aAAAAAtzc2gtZWQyNTUxOQAAACCy/vpB32tv/TUNeVKEaC26PT6s9EL/mf066LidraOQIw
AAAECHkhDdtEwyVAN5aIOotFZKgLq7kR/ClYxro5GnVgqJirL++kHfa2/9NQ15UoRoLbo9
Pqz0Qv+Z/TrouJ2to5AjAAAABXNtb2tl
-----END OPENSSH PRIVATE KEY-----";

    #[test]
    fn fingerprint_matches_ssh_keygen() {
        let fp = super::private_key_fingerprint(TEST_KEY).expect("openssh key");
        assert_eq!(fp, "SHA256:Gcs0PZjdHm0enO5a6ULmM+es1//FKZpj8eS9TutHOsQ");
        assert!(super::private_key_fingerprint("not a key").is_err());
    }
}
