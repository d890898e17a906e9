//! Users, their public keys and two-factor choices, and user groups.

use crate::common::Validity;
use crate::ids::{PublicKeyId, UserGroupId, UserId};
use crate::second_factor::{TotpEnrolment, TwoFactorStatus};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Where a user comes from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum UserSource {
    #[default]
    Local,
    Ram,
    Ad,
    Ldap,
    Idaas,
}

/// A second factor a user may be asked for. Portunus delivers TOTP only; the others are the
/// API's names, refused when given (never stored as if on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TwoFactorMethod {
    Sms,
    Email,
    DingTalk,
    Totp,
}

/// An OpenSSH public key a user logs on with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicKey {
    pub id: PublicKeyId,
    pub name: String,
    /// OpenSSH text form (`ssh-ed25519 AAAA... comment`).
    pub public_key: String,
    /// Fingerprint computed by the caller (e.g. `SHA256:...`).
    pub fingerprint: String,
    pub comment: String,
    pub created_at_ms: u64,
}

/// A bastion user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub mobile: String,
    pub comment: String,
    pub source: UserSource,
    /// Id of the user in its source directory (RAM, AD, ...); empty for local users.
    pub source_user_id: String,
    /// Argon2 PHC string computed outside the model; `None` means no password logon.
    pub password_hash: Option<String>,
    /// Locked by an administrator (LockUsers), or by a directory synchronization: no logon of
    /// any kind until unlocked.
    pub locked: bool,
    /// The lock was set by a directory synchronization (the user is disabled in, or gone from,
    /// the directory): the next synchronization that finds the user enabled lifts it. An
    /// administrator's LockUsers or UnlockUsers takes the lock over.
    pub directory_locked: bool,
    /// Wrong passwords counted in the current window (see [`crate::ClusterSettings`]).
    pub failed_logins: u32,
    /// When the current window of counted failures began.
    pub failures_since_ms: Option<u64>,
    /// Automatic lockouts in a row (each lasts twice the one before, up to the maximum);
    /// reset by a successful logon or an administrator's unlock.
    pub lockouts: u32,
    /// Password logons are refused until then (automatic lockout). Public keys and O&M
    /// tokens are not affected: a lockout guards the password alone.
    pub password_locked_until_ms: Option<u64>,
    pub last_login_ms: Option<u64>,
    pub public_keys: BTreeMap<PublicKeyId, PublicKey>,
    /// The user's own second-factor methods (used when `two_factor_status` is `Enable`).
    pub two_factor: BTreeSet<TwoFactorMethod>,
    /// Whether the user is asked for a second factor.
    pub two_factor_status: TwoFactorStatus,
    /// The user's TOTP authenticator, pending or active.
    pub totp: Option<TotpEnrolment>,
    /// The user may log on only inside this window.
    pub validity: Validity,
    pub created_at_ms: u64,
    /// The language of the web pages for this user; None: the instance's default (the
    /// browser's language).
    pub language: Option<UiLanguage>,
}

/// A language the web pages speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UiLanguage {
    En,
    ZhCn,
}

impl UiLanguage {
    /// The API's name (`Language` of CreateUser / ModifyUser): `en` or `zh-cn`.
    pub fn api_name(self) -> &'static str {
        match self {
            UiLanguage::En => "en",
            UiLanguage::ZhCn => "zh-cn",
        }
    }

    /// Reads an API name, ignoring case (`zh_CN` too).
    pub fn parse(s: &str) -> Option<UiLanguage> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "en" | "en-us" => Some(UiLanguage::En),
            "zh-cn" | "zh" => Some(UiLanguage::ZhCn),
            _ => None,
        }
    }
}

impl User {
    /// A user as `new` describes it, created at `now`: unlocked, no failures, keys or
    /// authenticator yet.
    pub(crate) fn new(id: UserId, new: &NewUser, now: u64) -> User {
        User {
            id,
            name: new.name.clone(),
            display_name: new.display_name.clone(),
            email: new.email.clone(),
            mobile: new.mobile.clone(),
            comment: new.comment.clone(),
            source: new.source,
            source_user_id: new.source_user_id.clone(),
            password_hash: new.password_hash.clone(),
            locked: false,
            directory_locked: false,
            failed_logins: 0,
            failures_since_ms: None,
            lockouts: 0,
            password_locked_until_ms: None,
            last_login_ms: None,
            public_keys: BTreeMap::new(),
            two_factor: new.two_factor.clone(),
            two_factor_status: new.two_factor_status,
            totp: None,
            validity: new.validity,
            created_at_ms: now,
            language: new.language,
        }
    }
}

/// Fields of a user to create.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewUser {
    pub name: String,
    pub display_name: String,
    pub email: String,
    pub mobile: String,
    pub comment: String,
    pub source: UserSource,
    pub source_user_id: String,
    pub password_hash: Option<String>,
    pub two_factor: BTreeSet<TwoFactorMethod>,
    pub two_factor_status: TwoFactorStatus,
    pub validity: Validity,
    pub language: Option<UiLanguage>,
}

/// Fields of a user to change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPatch {
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub mobile: Option<String>,
    pub comment: Option<String>,
    pub two_factor: Option<BTreeSet<TwoFactorMethod>>,
    pub two_factor_status: Option<TwoFactorStatus>,
    pub validity: Option<Validity>,
    /// Some(None) returns the user to the instance's default language.
    pub language: Option<Option<UiLanguage>>,
}

/// A group of users, authorized as a whole.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserGroup {
    pub id: UserGroupId,
    pub name: String,
    pub comment: String,
    pub members: BTreeSet<UserId>,
    pub created_at_ms: u64,
    /// `Local` for groups made by administrators; `Ldap` or `Ad` for groups a directory
    /// synchronization made, whose directory members it keeps as the directory says.
    pub source: UserSource,
}

impl User {
    /// The user's active TOTP enrolment, if any.
    pub fn active_totp(&self) -> Option<&TotpEnrolment> {
        self.totp.as_ref().filter(|t| t.active)
    }

    /// Is a password logon refused at `now_ms` (administrator's lock or automatic lockout)?
    pub fn password_locked(&self, now_ms: u64) -> bool {
        self.locked || self.password_locked_until_ms.is_some_and(|t| now_ms < t)
    }
}
