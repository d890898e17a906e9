//! O&M tokens: GenerateAssetOperationToken (the token is random, returned once, stored only as
//! its SHA-256) and RenewAssetOperationToken. Tokens act as the AccessKey's user; an Admin key
//! with no user may name one with the Portunus extension parameter `UserId`.

use crate::api::call::{done, one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, opt, req, Action, Ty};
use crate::api::views::parse_protocol;
use aws_lc_rs::digest;
use portunus_model::{AssetRef, Command, NewToken, Protocol, Response, Role, State, TokenAccount};
use serde_json::json;

/// Sealing purpose of a custom account's password carried by a token.
pub const CUSTOM_PASSWORD_PURPOSE: &str = "token custom account password";

pub static ACTIONS: &[Action] = &[
    action!(
        "GenerateAssetOperationToken",
        Token,
        generate,
        "Applies for an O&M token.",
        [
            req("AssetType", Ty::Str),
            req("AssetId", Ty::Id),
            opt("AssetAccountId", Ty::Id),
            opt("AssetAccountName", Ty::Str),
            opt("AssetAccountPassword", Ty::Str),
            opt("AssetAccountProtocolName", Ty::Str),
            opt("DatabaseSchema", Ty::Str),
            opt("LoginAttribute", Ty::Str),
            opt("OperationMode", Ty::Str),
            opt("OperationNote", Ty::Str),
            opt("SsoClient", Ty::Str),
            opt("UserId", Ty::Id),
        ]
    ),
    action!(
        "RenewAssetOperationToken",
        Token,
        renew,
        "Renews an O&M token.",
        [req("TokenId", Ty::Id), opt("Token", Ty::Str),]
    ),
];

/// The user the token is for.
pub fn acting_user(c: &Call) -> Result<u64, ApiError> {
    match (c.caller.role, c.caller.user_id, c.p.opt_id("UserId")?) {
        (Role::Admin, _, Some(u)) => Ok(u),
        (_, Some(u), _) => Ok(u),
        _ => Err(ApiError::Forbidden(
            "this AccessKey acts as no user; Admin keys may pass UserId".to_string(),
        )),
    }
}

/// A fresh random token (64 hex characters) and its SHA-256.
pub fn new_token() -> Result<(String, [u8; 32]), ApiError> {
    let mut raw = [0u8; 32];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| ApiError::Internal)?;
    let token = hex::encode(raw);
    Ok((token.clone(), token_hash(&token)))
}

/// The stored form of a token: SHA-256 of its text.
pub fn token_hash(token: &str) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Resolves the account: hosted by id, hosted by name, or a custom account.
fn account(
    c: &Call,
    s: &State,
    asset: AssetRef,
) -> Result<(TokenAccount, Option<Protocol>), ApiError> {
    let p = &c.p;
    if let Some(id) = p.opt_id("AssetAccountId")? {
        let proto = match asset {
            AssetRef::Host(_) => s.host_account(id).map(|a| a.protocol),
            AssetRef::Database(d) => s.database(d).map(|d| d.engine.protocol()),
        };
        return Ok((TokenAccount::Hosted(id), proto));
    }
    let name = p
        .opt("AssetAccountName")
        .ok_or(ApiError::MissingParameter("AssetAccountId"))?;
    let hosted = match asset {
        AssetRef::Host(h) => s
            .host_accounts_of(h)
            .find(|a| a.name == name)
            .map(|a| (a.id, a.protocol)),
        AssetRef::Database(d) => s
            .database_accounts_of(d)
            .find(|a| a.name == name)
            .and_then(|a| s.database(d).map(|db| (a.id, db.engine.protocol()))),
    };
    if let Some((id, proto)) = hosted {
        return Ok((TokenAccount::Hosted(id), Some(proto)));
    }
    let password = p
        .opt("AssetAccountPassword")
        .map(|pw| c.seal(CUSTOM_PASSWORD_PURPOSE, pw))
        .transpose()?;
    let custom = TokenAccount::Custom {
        name: name.to_string(),
        password,
    };
    let proto = match asset {
        AssetRef::Database(d) => s.database(d).map(|db| db.engine.protocol()),
        AssetRef::Host(_) => None,
    };
    Ok((custom, proto))
}

async fn generate(c: &Call) -> ApiResult {
    let user_id = acting_user(c)?;
    let asset_id = c.p.id("AssetId")?;
    let asset = match c.p.req("AssetType")?.to_ascii_lowercase().as_str() {
        "host" => AssetRef::Host(asset_id),
        "database" => AssetRef::Database(asset_id),
        _ => return Err(ApiError::invalid("AssetType", "expected Host or Database")),
    };
    let (account, proto) = c.read(|s| account(c, s, asset)).await??;
    let asked = c.p.opt("AssetAccountProtocolName");
    let protocol = match (asked, proto) {
        (Some(v), _) => parse_protocol("AssetAccountProtocolName", v)?,
        (None, Some(p)) => p,
        (None, None) => Protocol::Ssh,
    };
    let (token, token_hash) = new_token()?;
    let new = NewToken {
        token_hash,
        user_id,
        asset,
        account,
        protocol,
        validity_secs: None,
        use_count: None,
    };
    let receipt = match c.propose(Command::IssueToken(new)).await? {
        Response::TokenIssued(r) => r,
        _ => return Err(ApiError::Internal),
    };
    let body = json!({
        "CountLeft": receipt.count_left,
        "ExpireTime": receipt.expire_at_ms / 1000,
        "HasCountLimit": receipt.has_count_limit,
        "MaxRenewCount": receipt.max_renew_count,
        "RenewCount": receipt.renew_count,
        "SsoUrl": "",
        "Token": token,
        "TokenId": receipt.token_id.to_string(),
    });
    Ok(one("AssetOperationToken", body))
}

async fn renew(c: &Call) -> ApiResult {
    let token_id = c.p.id("TokenId")?;
    let user_id = match c.caller.role {
        Role::Admin => None,
        _ => Some(acting_user(c)?),
    };
    if let Some(token) = c.p.opt("Token") {
        let hash = token_hash(token);
        let matches = c
            .read(|s| s.token_by_hash(&hash).is_some_and(|t| t.id == token_id))
            .await?;
        if !matches {
            return Err(ApiError::invalid("Token", "does not match TokenId"));
        }
    }
    c.propose(Command::RenewToken { token_id, user_id }).await?;
    Ok(done())
}
