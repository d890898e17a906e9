//! A user's TOTP authenticator (Portunus extensions; Bastionhost binds one in its console):
//! EnrollUserTotp and ConfirmUserTotp by the user (an Operator key acting as its user, or an
//! Admin key naming the user), ResetUserTotp by an administrator. The secret and the recovery
//! codes are shown once, in the enrolment's answer; the state keeps the secret sealed and the
//! recovery codes as digests.

use crate::api::call::{done, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, opt, req, Action, Ty};
use crate::totp;
use portunus_model::{seal_purpose, Command, EntityKind, Rejection};
use serde_json::json;

/// The issuer authenticator apps show beside the account.
pub const ISSUER: &str = "Portunus";

pub static ACTIONS: &[Action] = &[
    action!(
        "EnrollUserTotp",
        Token,
        enroll,
        "Starts a TOTP enrolment (Portunus extension): answers the secret (base32), its \
         otpauth:// URI (for an authenticator app, as text or QR code) and ten recovery codes, \
         each shown this once. The enrolment asks for nothing until ConfirmUserTotp gives a \
         first valid code. Refused while an authenticator is active (ResetUserTotp first). An \
         Operator key enrolls its own user; an Admin key names the user with UserId.",
        [opt("UserId", Ty::Id)]
    ),
    action!(
        "ConfirmUserTotp",
        Token,
        confirm,
        "Activates a pending TOTP enrolment with the authenticator's current code (Portunus \
         extension); from then on the user's SSH logins with a password or key ask for a code \
         whenever two-factor authentication applies to the user.",
        [req("Code", Ty::Str).secret(), opt("UserId", Ty::Id)]
    ),
    action!(
        "ResetUserTotp",
        Write,
        reset,
        "Removes a user's TOTP authenticator, active or pending, with its recovery codes \
         (Portunus extension), for a lost device: the user enrolls again.",
        [req("UserId", Ty::Id)]
    ),
];

/// The user enrolling: an Operator key's own (it may not name another), or the user an Admin
/// key names.
fn enrolling_user(c: &Call) -> Result<u64, ApiError> {
    let user_id = super::tokens::acting_user(c)?;
    match c.p.opt_id("UserId")? {
        Some(named) if named != user_id => Err(ApiError::Forbidden(
            "an Operator key enrolls its own user only".to_string(),
        )),
        _ => Ok(user_id),
    }
}

async fn enroll(c: &Call) -> ApiResult {
    let user_id = enrolling_user(c)?;
    let name = c
        .read(|s| s.user(user_id).map(|u| u.name.clone()))
        .await?
        .ok_or(ApiError::Rejected(Rejection::not_found(
            EntityKind::User,
            user_id,
        )))?;
    let secret = totp::new_secret().ok_or(ApiError::Internal)?;
    let codes = totp::new_recovery_codes().ok_or(ApiError::Internal)?;
    let sealed = c.backend.seal(seal_purpose::TOTP_SECRET, &secret)?;
    c.propose(Command::EnrollTotp {
        user_id,
        secret: sealed,
        recovery_codes: codes
            .iter()
            .map(|code| totp::recovery_digest(code))
            .collect(),
    })
    .await?;
    let mut body = done();
    body.insert("UserId".into(), user_id.to_string().into());
    body.insert("Secret".into(), totp::base32(&secret).into());
    body.insert(
        "OtpauthUri".into(),
        totp::uri(ISSUER, &name, &secret).into(),
    );
    body.insert("RecoveryCodes".into(), json!(codes));
    Ok(body)
}

async fn confirm(c: &Call) -> ApiResult {
    let user_id = enrolling_user(c)?;
    let code = c.p.req("Code")?.trim().to_string();
    let pending = c
        .read(|s| {
            s.user(user_id)
                .and_then(|u| u.totp.as_ref())
                .filter(|t| !t.active)
                .map(|t| (t.secret.clone(), t.last_step))
        })
        .await?;
    let Some((sealed, last_step)) = pending else {
        return Err(ApiError::invalid(
            "Code",
            "no pending TOTP enrolment for this user: EnrollUserTotp first",
        ));
    };
    let secret = c.backend.unseal(seal_purpose::TOTP_SECRET, &sealed)?;
    let Some(step) = totp::matching_step(&secret, &code, c.now_ms, last_step) else {
        return Err(ApiError::invalid(
            "Code",
            "not the authenticator's current code (six digits; check the device's clock)",
        ));
    };
    c.propose(Command::ConfirmTotp {
        user_id,
        secret: sealed,
        step,
    })
    .await?;
    Ok(done())
}

async fn reset(c: &Call) -> ApiResult {
    let user_id = c.p.id("UserId")?;
    c.propose(Command::ResetTotp { user_id }).await?;
    Ok(done())
}
