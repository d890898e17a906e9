//! Applies the TOTP second-factor commands: enrolment and its confirmation, a login's code or
//! recovery code (each accepted once, cluster-wide), wrong codes, an administrator's reset;
//! and answers whether a user is asked for a second factor.

use super::validate::found;
use super::{Handled, State};
use crate::command::Command;
use crate::ids::{EntityKind, UserId};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::sealed::Sealed;
use crate::second_factor::{FailureRun, TotpEnrolment, TwoFactorStatus, RECOVERY_CODES};
use crate::settings::ClusterSettings;
use crate::user::{TwoFactorMethod, User};

impl State {
    pub(super) fn apply_two_factor(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::EnrollTotp {
                user_id,
                secret,
                recovery_codes,
            } => self.enroll_totp(now, *user_id, secret, recovery_codes),
            Command::ConfirmTotp {
                user_id,
                secret,
                step,
            } => self.use_step(now, *user_id, secret, *step, true),
            Command::UseTotpStep {
                user_id,
                secret,
                step,
            } => self.use_step(now, *user_id, secret, *step, false),
            Command::UseRecoveryCode { user_id, code_hash } => {
                self.use_recovery_code(now, *user_id, code_hash)
            }
            Command::RecordSecondFactorFailure { user_id } => {
                self.second_factor_failure(now, *user_id)
            }
            Command::ResetTotp { user_id } => match self.users.get_mut(user_id) {
                Some(u) => {
                    u.totp = None;
                    Ok(Response::Done)
                }
                None => Err(Rejection::not_found(EntityKind::User, *user_id)),
            },
            _ => return None,
        };
        Some(r)
    }

    /// Whether `user` must pass a second factor to log in with its own credentials: its own
    /// status says so, or it follows the instance's setting and that is on.
    pub fn second_factor_required(&self, user: &User) -> bool {
        match user.two_factor_status {
            TwoFactorStatus::Disable => false,
            TwoFactorStatus::Enable => user.two_factor.contains(&TwoFactorMethod::Totp),
            TwoFactorStatus::Global => {
                self.two_factor.enabled && self.two_factor.methods.iter().any(|m| m == "totp")
            }
        }
    }

    /// Whether `user` passed its second factor recently enough, at `now_ms`, to be spared it
    /// (the instance's `SkipTwoFactorTime`; never when that is 0).
    pub fn second_factor_fresh(&self, user: &User, now_ms: u64) -> bool {
        let skip_ms = self.two_factor.skip_secs.saturating_mul(1000);
        skip_ms > 0
            && user
                .active_totp()
                .and_then(|t| t.passed_at_ms)
                .is_some_and(|at| now_ms.saturating_sub(at) < skip_ms && at <= now_ms)
    }

    fn enroll_totp(
        &mut self,
        now: u64,
        user_id: UserId,
        secret: &Sealed,
        recovery_codes: &[[u8; 32]],
    ) -> Result<Response, Rejection> {
        let user = found(&self.users, EntityKind::User, user_id)?;
        if user.active_totp().is_some() {
            return Err(Rejection::TotpAlreadyEnrolled);
        }
        if secret.0.is_empty() {
            return Err(Rejection::invalid("Secret", "empty"));
        }
        if recovery_codes.len() > RECOVERY_CODES {
            return Err(Rejection::invalid("RecoveryCodes", "too many"));
        }
        let enrolment = TotpEnrolment {
            secret: secret.clone(),
            active: false,
            last_step: 0,
            recovery_codes: recovery_codes.iter().copied().collect(),
            enrolled_at_ms: now,
            passed_at_ms: None,
            failures: FailureRun::default(),
        };
        if let Some(u) = self.users.get_mut(&user_id) {
            u.totp = Some(enrolment);
        }
        Ok(Response::Done)
    }

    /// A code the node found valid for `step` against `secret`. `confirm`: the first code of a
    /// pending enrolment, which activates it; otherwise a login's code on an active one. Either
    /// way only a step above the last one used is accepted.
    fn use_step(
        &mut self,
        now: u64,
        user_id: UserId,
        secret: &Sealed,
        step: u64,
        confirm: bool,
    ) -> Result<Response, Rejection> {
        let user = found(&self.users, EntityKind::User, user_id)?;
        let Some(t) = user.totp.as_ref().filter(|t| t.active != confirm) else {
            return Err(if confirm {
                Rejection::invalid("Code", "no pending TOTP enrolment: enroll first")
            } else {
                Rejection::TotpNotEnrolled
            });
        };
        if t.secret != *secret {
            return Err(Rejection::invalid(
                "Code",
                "the TOTP enrolment changed meanwhile",
            ));
        }
        if !confirm && t.failures.locked(now) {
            return Err(Rejection::SecondFactorLocked);
        }
        if step <= t.last_step {
            return Err(Rejection::TotpCodeUsed);
        }
        if let Some(t) = self.users.get_mut(&user_id).and_then(|u| u.totp.as_mut()) {
            t.active = true;
            t.last_step = step;
            t.passed_at_ms = Some(now);
            t.failures = FailureRun::default();
        }
        Ok(Response::Done)
    }

    fn use_recovery_code(
        &mut self,
        now: u64,
        user_id: UserId,
        code_hash: &[u8; 32],
    ) -> Result<Response, Rejection> {
        let user = found(&self.users, EntityKind::User, user_id)?;
        let t = user.active_totp().ok_or(Rejection::TotpNotEnrolled)?;
        if t.failures.locked(now) {
            return Err(Rejection::SecondFactorLocked);
        }
        if !t.recovery_codes.contains(code_hash) {
            return Err(Rejection::RecoveryCodeUnknown);
        }
        if let Some(t) = self.users.get_mut(&user_id).and_then(|u| u.totp.as_mut()) {
            t.recovery_codes.remove(code_hash);
            t.passed_at_ms = Some(now);
            t.failures = FailureRun::default();
        }
        Ok(Response::Done)
    }

    /// A wrong code, counted like a wrong password (the same settings, a run of its own).
    /// Codes given while locked are not counted: the gate does not check them then.
    fn second_factor_failure(&mut self, now: u64, user_id: UserId) -> Result<Response, Rejection> {
        let settings = self.settings.clone();
        let user = self
            .users
            .get_mut(&user_id)
            .ok_or(Rejection::not_found(EntityKind::User, user_id))?;
        let t = user.totp.as_mut().ok_or(Rejection::TotpNotEnrolled)?;
        count_failure(&mut t.failures, now, &settings);
        Ok(Response::LoginRecorded {
            user_id,
            failed_logins: t.failures.failed,
            locked_until_ms: t.failures.locked_until_ms.filter(|at| now < *at),
        })
    }
}

/// Counts one failure in `run` (a window from its first failure); the threshold-th locks for
/// `login_lock_secs`, doubled for each lockout in a row, up to `login_lock_max_secs`.
fn count_failure(run: &mut FailureRun, now: u64, s: &ClusterSettings) {
    if run.locked(now) {
        return;
    }
    let window_ms = s.login_lock_window_secs.saturating_mul(1000);
    if run
        .since_ms
        .is_none_or(|t| now.saturating_sub(t) >= window_ms)
    {
        run.failed = 0;
        run.since_ms = Some(now);
    }
    run.failed = run.failed.saturating_add(1);
    if s.login_lock_threshold > 0 && run.failed >= s.login_lock_threshold {
        let base_ms = s.login_lock_secs.saturating_mul(1000);
        let doubled = base_ms.saturating_mul(1u64 << run.lockouts.min(32));
        let max_ms = s.login_lock_max_secs.saturating_mul(1000);
        run.locked_until_ms = Some(now.saturating_add(doubled.min(max_ms)));
        run.lockouts = run.lockouts.saturating_add(1);
        run.failed = 0;
        run.since_ms = None;
    }
}
