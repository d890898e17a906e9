//! O&M tokens: GenerateAssetOperationToken (the token is random, returned once, stored only as
//! its SHA-256) and RenewAssetOperationToken. Tokens act as the AccessKey's user (what the
//! official SDK relies on: its request has no user field); an Admin key may name another user
//! with the Portunus extension parameter `UserId`, and must when it belongs to no user (keys made
//! with `portunus cluster create-access-key`). ListAssetOperationTokens (a Portunus extension)
//! lists a user's tokens, never their text.

use crate::api::call::{done, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, opt, req, Action, Ty};
use crate::api::views::parse_protocol;
use aws_lc_rs::digest;
use portunus_model::{
    AssetRef, Command, NewToken, Protocol, Response, Role, ScramVerifier, State, TokenAccount,
    TokenIssuer,
};
use serde_json::json;

/// Sealing purpose of a custom account's password carried by a token.
pub const CUSTOM_PASSWORD_PURPOSE: &str = portunus_model::seal_purpose::TOKEN_ACCOUNT_PASSWORD;

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
            opt("AssetAccountPassword", Ty::Str).secret(),
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
        [req("TokenId", Ty::Id), opt("Token", Ty::Str).secret(),]
    ),
    action!(
        "ListAssetOperationTokens",
        ForUser,
        list,
        "Lists a user's O&M tokens (Portunus extension; never the token text).",
        [
            req("UserId", Ty::Id),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
];

/// The user the token is for.
pub fn acting_user(c: &Call) -> Result<u64, ApiError> {
    match (c.caller.role, c.caller.user_id, c.p.opt_id("UserId")?) {
        (Role::Admin, _, Some(u)) => Ok(u),
        (_, Some(u), _) => Ok(u),
        _ => Err(ApiError::Forbidden(
            "this AccessKey acts as no user: an Admin key must name the token's user with the \
             UserId parameter"
                .to_string(),
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

/// Whom and what a new O&M token is for.
pub struct TokenTarget<'a> {
    pub user_id: u64,
    /// The user's name (a PostgreSQL token's SCRAM verifier is salted with it).
    pub user_name: &'a str,
    pub asset: AssetRef,
    pub account: TokenAccount,
    pub protocol: Protocol,
}

/// A fresh O&M token's text and the `NewToken` that issues it (`Command::IssueToken`) with the
/// cluster's default validity and uses: stored as its SHA-256, with SHA1(SHA1(token)) for a
/// MySQL token and a SCRAM verifier for a PostgreSQL one, so that the native database ports can
/// check it. What the API and the web portal both issue. None when no random bytes could be had.
pub fn new_token_for(
    target: TokenTarget<'_>,
    issued_by: Option<TokenIssuer>,
) -> Option<(String, NewToken)> {
    let (token, token_hash) = new_token().ok()?;
    let pg_scram = (target.protocol == Protocol::PostgreSql).then(|| {
        let v = portunus_db::pg::scram::token_verifier(target.user_name, &token);
        ScramVerifier {
            stored_key: v.stored_key,
            server_key: v.server_key,
        }
    });
    let new = NewToken {
        database_schema: None,
        mysql_native: (target.protocol == Protocol::MySql).then(|| mysql_native_hash(&token)),
        pg_scram,
        issued_by,
        token_hash,
        user_id: target.user_id,
        asset: target.asset,
        account: target.account,
        protocol: target.protocol,
        validity_secs: None,
        use_count: None,
    };
    Some((token, new))
}

/// SHA1(SHA1(token)): what a MySQL server stores to check `mysql_native_password` answers,
/// kept on MySQL tokens so that the gateway's native MySQL port can check a token it never sees.
pub fn mysql_native_hash(token: &str) -> [u8; 20] {
    let sha1 = |b: &[u8]| digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, b);
    let mut out = [0u8; 20];
    out.copy_from_slice(sha1(sha1(token.as_bytes()).as_ref()).as_ref());
    out
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

/// Why a logon by a local client (`OperationMode` Sso) is refused.
const NO_SSO: &str = "OperationMode Sso and SsoClient: Portunus opens no local client from the \
     console; the engineer's own ssh, sftp, mysql or psql logs on through the gateway with the \
     O&M token (OperationMode WebToken, the default)";

/// Why an Oracle logon attribute is refused.
const NO_LOGIN_ATTRIBUTE: &str = "LoginAttribute: it chooses an Oracle SERVICE_NAME or SID \
     logon, and the database gateway serves MySQL and PostgreSQL only; leave it out";

/// Why a logon note is refused.
const NO_NOTE: &str = "OperationNote: no control policy of Portunus asks for a logon note and \
     an O&M token keeps none; leave it out (the session itself is recorded)";

/// Refuses the logon options Portunus does not offer.
fn web_token_only(c: &Call) -> Result<(), ApiError> {
    c.p.only("OperationMode", &["WebToken"], NO_SSO)?;
    c.p.only("SsoClient", &[], NO_SSO)?;
    c.p.only("LoginAttribute", &[], NO_LOGIN_ATTRIBUTE)?;
    c.p.only("OperationNote", &[], NO_NOTE)
}

async fn generate(c: &Call) -> ApiResult {
    let user_id = acting_user(c)?;
    web_token_only(c)?;
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
    let user_name = c
        .read(move |s| s.user(user_id).map(|u| u.name.clone()))
        .await?;
    // An unknown user is refused by the model, except where its name is needed first.
    let user_name = match (user_name, protocol) {
        (Some(name), _) => name,
        (None, Protocol::PostgreSql) => {
            return Err(ApiError::invalid("UserId", "the user does not exist"))
        }
        (None, _) => String::new(),
    };
    let issued_by = Some(TokenIssuer {
        access_key_id: c.caller.access_key_id.clone(),
        user_id: c.caller.user_id,
    });
    let target = TokenTarget {
        user_id,
        user_name: &user_name,
        asset,
        account,
        protocol,
    };
    let (token, mut new) = new_token_for(target, issued_by).ok_or(ApiError::Internal)?;
    new.database_schema = c.p.string("DatabaseSchema").filter(|s| !s.is_empty());
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

async fn list(c: &Call) -> ApiResult {
    let user_id = c.p.id("UserId")?;
    let paging = c.p.page()?;
    let now = c.now_ms;
    let rows = c
        .read(|s| {
            s.tokens_of_user(user_id)
                .map(|t| token_row(s, t, now))
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = crate::api::params::paginate(rows, paging);
    Ok(page("Tokens", items, total))
}

fn token_row(s: &State, t: &portunus_model::Token, now_ms: u64) -> serde_json::Value {
    let (asset_type, asset_id, asset_name) = match t.asset {
        AssetRef::Host(h) => ("Host", h, s.host(h).map(|h| h.name.clone())),
        AssetRef::Database(d) => ("Database", d, s.database(d).map(|d| d.name.clone())),
    };
    let (account_id, account_name) = match &t.account {
        TokenAccount::Hosted(id) => {
            let name = match t.asset {
                AssetRef::Host(_) => s.host_account(*id).map(|a| a.name.clone()),
                AssetRef::Database(_) => s.database_account(*id).map(|a| a.name.clone()),
            };
            (id.to_string(), name.unwrap_or_default())
        }
        TokenAccount::Custom { name, .. } => (String::new(), name.clone()),
    };
    let state = if t.revoked {
        "Revoked"
    } else if now_ms >= t.expire_at_ms {
        "Expired"
    } else if t.has_count_limit && t.count_left == 0 {
        "UsedUp"
    } else {
        "Normal"
    };
    json!({
        "TokenId": t.id.to_string(),
        "UserId": t.user_id.to_string(),
        "AssetType": asset_type,
        "AssetId": asset_id.to_string(),
        "AssetName": asset_name.unwrap_or_default(),
        "AssetAccountId": account_id,
        "AssetAccountName": account_name,
        "ProtocolName": t.protocol.api_name(),
        "CreateTime": t.created_at_ms / 1000,
        "ExpireTime": t.expire_at_ms / 1000,
        "HasCountLimit": t.has_count_limit,
        "CountLeft": t.count_left,
        "RenewCount": t.renew_count,
        "MaxRenewCount": t.max_renew_count,
        "Uses": t.uses,
        "State": state,
        "IssuedByAccessKeyId": t.issued_by.as_ref().map(|i| i.access_key_id.clone()).unwrap_or_default(),
        "IssuedByUserId": t.issued_by.as_ref().and_then(|i| i.user_id).map(|u| u.to_string()).unwrap_or_default(),
    })
}
