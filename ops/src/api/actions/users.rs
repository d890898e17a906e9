//! User actions: Create/Get/List/Modify/DeleteUser and LockUsers/UnlockUsers.

use crate::api::call::{batch_entry, done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{page_of, Params};
use crate::api::table::{action, opt, req, Action, Ty};
use crate::api::views::{self, parse_user_source};
use portunus_model::{
    Command, EntityKind, NewUser, TwoFactorMethod, TwoFactorStatus, UiLanguage, UserPatch,
    UserSource, Validity,
};
use std::collections::BTreeSet;

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateUser",
        Write,
        create,
        "Adds a user.",
        [
            req("UserName", Ty::Str),
            req("Source", Ty::Str),
            opt("Password", Ty::Str).secret(),
            opt("DisplayName", Ty::Str),
            opt("Email", Ty::Str),
            opt("Mobile", Ty::Str),
            opt("MobileCountryCode", Ty::Str),
            opt("Comment", Ty::Str),
            opt("SourceUserId", Ty::Str),
            opt("EffectiveStartTime", Ty::Int),
            opt("EffectiveEndTime", Ty::Int),
            opt("TwoFactorMethods", Ty::Json),
            opt("TwoFactorStatus", Ty::Str),
            opt("NeedResetPassword", Ty::Bool),
            opt("Language", Ty::Str),
            opt("LanguageStatus", Ty::Str),
        ]
    ),
    action!(
        "GetUser",
        Read,
        get,
        "Queries a user.",
        [req("UserId", Ty::Id)]
    ),
    action!(
        "ListUsers",
        Read,
        list,
        "Lists users.",
        [
            opt("UserName", Ty::Str),
            opt("DisplayName", Ty::Str),
            opt("Mobile", Ty::Str),
            opt("Source", Ty::Str),
            opt("SourceUserId", Ty::Str),
            opt("UserGroupId", Ty::Id),
            opt("UserState", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyUser",
        Write,
        modify,
        "Changes a user.",
        [
            req("UserId", Ty::Id),
            opt("Password", Ty::Str).secret(),
            opt("DisplayName", Ty::Str),
            opt("Email", Ty::Str),
            opt("Mobile", Ty::Str),
            opt("Comment", Ty::Str),
            opt("EffectiveStartTime", Ty::Int),
            opt("EffectiveEndTime", Ty::Int),
            opt("TwoFactorMethods", Ty::Json),
            opt("TwoFactorStatus", Ty::Str),
            opt("MobileCountryCode", Ty::Str),
            opt("NeedResetPassword", Ty::Bool),
            opt("Language", Ty::Str),
            opt("LanguageStatus", Ty::Str),
        ]
    ),
    action!(
        "DeleteUser",
        Write,
        delete,
        "Deletes a user.",
        [req("UserId", Ty::Id)]
    ),
    action!(
        "LockUsers",
        Write,
        lock,
        "Locks users.",
        [req("UserIds", Ty::IdList)]
    ),
    action!(
        "UnlockUsers",
        Write,
        unlock,
        "Unlocks users.",
        [req("UserIds", Ty::IdList)]
    ),
];

/// The API spelling of a second factor.
pub fn method_name(m: TwoFactorMethod) -> &'static str {
    match m {
        TwoFactorMethod::Sms => "sms",
        TwoFactorMethod::Email => "email",
        TwoFactorMethod::DingTalk => "dingtalk",
        TwoFactorMethod::Totp => "totp",
    }
}

/// Parses `TwoFactorMethods` (`["totp"]`); `None` when absent. Portunus delivers TOTP only:
/// the SDK's other methods (sms, email, dingtalk, gmusbkey) are refused as not supported, never
/// stored as if they were on.
pub fn two_factor(p: &Params) -> Result<Option<BTreeSet<TwoFactorMethod>>, ApiError> {
    if p.opt("TwoFactorMethods").is_none() {
        return Ok(None);
    }
    let mut out = BTreeSet::new();
    for m in p.str_list("TwoFactorMethods")? {
        match m.to_ascii_lowercase().as_str() {
            "totp" => out.insert(TwoFactorMethod::Totp),
            "sms" | "email" | "dingtalk" | "gmusbkey" => {
                return Err(ApiError::NotSupported(UNDELIVERABLE))
            }
            _ => return Err(ApiError::invalid("TwoFactorMethods", "expected totp")),
        };
    }
    Ok(Some(out))
}

/// What a refused two-factor method is told.
pub const UNDELIVERABLE: &str = "two-factor authentication by sms, email, dingtalk or gmusbkey \
     (Portunus delivers totp only, the codes of an authenticator app)";

/// Parses `TwoFactorStatus` (Global, Disable, Enable); `None` when absent.
pub fn two_factor_status(p: &Params) -> Result<Option<TwoFactorStatus>, ApiError> {
    let Some(v) = p.opt("TwoFactorStatus") else {
        return Ok(None);
    };
    Ok(Some(match v {
        "Global" => TwoFactorStatus::Global,
        "Disable" => TwoFactorStatus::Disable,
        "Enable" => TwoFactorStatus::Enable,
        _ => {
            return Err(ApiError::invalid(
                "TwoFactorStatus",
                "expected Global, Disable or Enable",
            ))
        }
    }))
}

/// The API spelling of a user's two-factor status.
pub fn status_name(s: TwoFactorStatus) -> &'static str {
    match s {
        TwoFactorStatus::Global => "Global",
        TwoFactorStatus::Disable => "Disable",
        TwoFactorStatus::Enable => "Enable",
    }
}

/// `EffectiveStartTime`/`EffectiveEndTime` (unix seconds); `None` when both are absent.
fn validity(p: &Params) -> Result<Option<Validity>, ApiError> {
    let start: Option<u64> = p.num("EffectiveStartTime")?;
    let end: Option<u64> = p.num("EffectiveEndTime")?;
    if start.is_none() && end.is_none() {
        return Ok(None);
    }
    let v = Validity {
        start_ms: start.filter(|s| *s > 0).map(|s| s.saturating_mul(1000)),
        end_ms: end.filter(|e| *e > 0).map(|e| e.saturating_mul(1000)),
    };
    if !v.is_well_formed() {
        return Err(ApiError::invalid(
            "EffectiveEndTime",
            "must be after EffectiveStartTime",
        ));
    }
    Ok(Some(v))
}

/// Why a mobile country code is refused.
const NO_COUNTRY_CODE: &str = "MobileCountryCode: Portunus sends no SMS and keeps the mobile \
     number exactly as given; write the country calling code into Mobile (+86 ...) and leave \
     it out";

/// A user's web page language from `LanguageStatus` (`Global`: the instance's default, the
/// browser's language; `Custom`: `Language`) and `Language` (`en` or `zh-cn`; alone it means
/// Custom). None when neither is given.
fn language(p: &Params) -> Result<Option<Option<UiLanguage>>, ApiError> {
    let lang = match p.opt("Language") {
        Some(v) => Some(
            UiLanguage::parse(v)
                .ok_or_else(|| ApiError::invalid("Language", "expected en or zh-cn"))?,
        ),
        None => None,
    };
    match p.opt("LanguageStatus") {
        None => Ok(lang.map(Some)),
        Some(s) if s.eq_ignore_ascii_case("Global") => match lang {
            Some(_) => Err(ApiError::invalid(
                "Language",
                "LanguageStatus Global follows the instance's language: leave Language out, \
                 or give LanguageStatus Custom",
            )),
            None => Ok(Some(None)),
        },
        Some(s) if s.eq_ignore_ascii_case("Custom") => match lang {
            Some(l) => Ok(Some(Some(l))),
            None => Err(ApiError::MissingParameter("Language")),
        },
        Some(_) => Err(ApiError::invalid(
            "LanguageStatus",
            "expected Global or Custom",
        )),
    }
}

/// Why a forced password change is refused.
const NO_FORCED_RESET: &str = "NeedResetPassword: Portunus has no password-change-at-next-logon \
     step; set a new password with ModifyUser Password instead, or leave it out or false";

/// Refuses what the SDK's user settings ask that Portunus keeps nowhere: a mobile country
/// code, a password change at the next logon.
fn no_unkept_settings(p: &Params) -> Result<(), ApiError> {
    p.only("MobileCountryCode", &[], NO_COUNTRY_CODE)?;
    if p.bool("NeedResetPassword")? == Some(true) {
        return Err(ApiError::Inapplicable(NO_FORCED_RESET));
    }
    Ok(())
}

/// Users of a directory log in with the directory's password: one given here is refused
/// rather than kept unused.
const DIRECTORY_PASSWORD: &str =
    "users from LDAP or AD log in with their directory password; leave Password out";

fn from_directory(source: UserSource) -> bool {
    matches!(source, UserSource::Ldap | UserSource::Ad)
}

async fn create(c: &Call) -> ApiResult {
    let p = &c.p;
    no_unkept_settings(p)?;
    let source = parse_user_source("Source", p.req("Source")?)?;
    if from_directory(source) && p.opt("Password").is_some() {
        return Err(ApiError::invalid("Password", DIRECTORY_PASSWORD));
    }
    let new = NewUser {
        name: p.req("UserName")?.to_string(),
        display_name: p.string("DisplayName").unwrap_or_default(),
        email: p.string("Email").unwrap_or_default(),
        mobile: p.string("Mobile").unwrap_or_default(),
        comment: p.string("Comment").unwrap_or_default(),
        source,
        source_user_id: p.string("SourceUserId").unwrap_or_default(),
        password_hash: p.opt("Password").map(|pw| c.backend.hash_password(pw)),
        two_factor: two_factor(p)?.unwrap_or_default(),
        two_factor_status: two_factor_status(p)?.unwrap_or_default(),
        validity: validity(p)?.unwrap_or_default(),
        language: language(p)?.flatten(),
    };
    let id = c.create(Command::CreateUser(new)).await?;
    Ok(one("UserId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("UserId")?;
    let now = c.now_ms;
    let v = c.read(|s| s.user(id).map(|u| views::user(u, now))).await?;
    Ok(one("User", found(v, EntityKind::User, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let p = &c.p;
    let name = p.opt("UserName").map(str::to_lowercase);
    let display = p.opt("DisplayName").map(str::to_lowercase);
    let mobile = p.opt("Mobile");
    let source = p
        .opt("Source")
        .map(|v| parse_user_source("Source", v))
        .transpose()?;
    let source_id = p.opt("SourceUserId");
    let group = p.opt_id("UserGroupId")?;
    let state = p.opt("UserState");
    let (now, paging) = (c.now_ms, p.page()?);
    let (items, total) = c
        .read(|s| {
            let members = group.map(|g| {
                s.user_group(g)
                    .map(|g| g.members.clone())
                    .unwrap_or_default()
            });
            let users = s
                .users()
                .filter(|u| {
                    name.as_ref()
                        .is_none_or(|n| u.name.to_lowercase().contains(n))
                })
                .filter(|u| {
                    display
                        .as_ref()
                        .is_none_or(|n| u.display_name.to_lowercase().contains(n))
                })
                .filter(|u| mobile.is_none_or(|m| u.mobile.contains(m)))
                .filter(|u| source.is_none_or(|x| u.source == x))
                .filter(|u| source_id.is_none_or(|x| u.source_user_id == x))
                .filter(|u| members.as_ref().is_none_or(|m| m.contains(&u.id)))
                .filter(|u| state.is_none_or(|st| views::user_state(u, now) == st));
            page_of(users, paging, |u| views::user(u, now))
        })
        .await?;
    Ok(page("Users", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    let p = &c.p;
    let user_id = p.id("UserId")?;
    no_unkept_settings(p)?;
    if p.opt("Password").is_some() {
        let source = c.read(|s| s.user(user_id).map(|u| u.source)).await?;
        if source.is_some_and(from_directory) {
            return Err(ApiError::invalid("Password", DIRECTORY_PASSWORD));
        }
    }
    let patch = UserPatch {
        display_name: p.string("DisplayName"),
        email: p.string("Email"),
        mobile: p.string("Mobile"),
        comment: p.string("Comment"),
        two_factor: two_factor(p)?,
        two_factor_status: two_factor_status(p)?,
        validity: validity(p)?,
        language: language(p)?,
    };
    c.propose(Command::UpdateUser { user_id, patch }).await?;
    if let Some(pw) = p.opt("Password") {
        let password_hash = Some(c.backend.hash_password(pw));
        c.propose(Command::SetUserPassword {
            user_id,
            password_hash,
        })
        .await?;
    }
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let user_id = c.p.id("UserId")?;
    c.propose(Command::DeleteUser { user_id }).await?;
    Ok(done())
}

async fn set_locked(c: &Call, locked: bool) -> ApiResult {
    let mut results = Vec::new();
    for id in c.p.id_list("UserIds")? {
        let user_ids = vec![id];
        let cmd = if locked {
            Command::LockUsers { user_ids }
        } else {
            Command::UnlockUsers { user_ids }
        };
        results.push(batch_entry(&c.propose(cmd).await, &[("UserId", id)]));
    }
    Ok(one("Results", results))
}

async fn lock(c: &Call) -> ApiResult {
    set_locked(c, true).await
}

async fn unlock(c: &Call) -> ApiResult {
    set_locked(c, false).await
}
