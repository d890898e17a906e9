//! The second factor of logins with a user's own password or key: whether one is due (the
//! user's and the instance's settings, a recent pass within `SkipTwoFactorTime`), and the check
//! of a TOTP code or a recovery code. A code is found valid here, against the unsealed secret
//! and this node's clock (one step of skew either way), and then accepted by the replicated
//! state, once cluster-wide: a step at or below the last one used is refused on every node.
//! Wrong codes are counted in the replicated state and lock codes as wrong passwords lock the
//! password. O&M tokens ask for none (see README, "Two-factor authentication").

use super::refusal::{from_replica, refusal};
use super::{now_ms, Gate};
use portunus_model::{Command, Rejection};
use portunus_ops::totp;
use portunus_proxy::gate::{Principal, Refusal, RefusalKind};
use portunus_raft::ReplicaError;

/// Words for a code that is wrong, already used, or given while codes are locked: the same
/// for all three, as for passwords.
fn wrong_code() -> Refusal {
    refusal(
        RefusalKind::BadCredentials,
        "wrong or already used verification code",
    )
}

impl Gate {
    /// Whether `user_id` must give a second factor to complete a login with its own
    /// credentials; a refusal when one is required and none is enrolled.
    pub(super) fn second_factor_due(&self, user_id: u64) -> Result<bool, Refusal> {
        let now = now_ms();
        let due = self.replica.view().read(|s| {
            let u = s.user(user_id)?;
            if !s.second_factor_required(u) || s.second_factor_fresh(u, now) {
                return Some(false);
            }
            u.active_totp().map(|_| true)
        });
        due.ok_or_else(|| {
            tracing::info!(
                user_id,
                "ssh: logon refused: two-factor required, none enrolled"
            );
            refusal(
                RefusalKind::SecondFactorRequired,
                "two-factor authentication is required for your account and no authenticator is \
                 enrolled: enroll one (portunus admin user totp enroll, with your AccessKey) or \
                 ask an administrator",
            )
        })
    }

    /// Checks `code` for a principal whose credentials matched: six digits are a TOTP code,
    /// anything else a recovery code.
    pub(super) async fn check_second_factor(
        &self,
        principal: &mut Principal,
        code: &str,
    ) -> Result<(), Refusal> {
        let user_id = principal.user_id;
        let now = now_ms();
        let enrolment = self.replica.view().read(|s| {
            let t = s.user(user_id)?.active_totp()?;
            Some((t.secret.clone(), t.last_step, t.failures.locked(now)))
        });
        let Some((sealed, last_step, locked)) = enrolment else {
            return Err(refusal(
                RefusalKind::SecondFactorRequired,
                "your authenticator was reset meanwhile; log in again",
            ));
        };
        if locked {
            // Not even checked, and not counted: guesses cannot lengthen the lockout.
            tracing::info!(user_id, "ssh: verification code refused: codes are locked");
            return Err(wrong_code());
        }
        let code = code.trim();
        let command = if totp::is_code_shaped(code) {
            let secret = self
                .shared
                .sealer
                .open(portunus_model::seal_purpose::TOTP_SECRET, &sealed)
                .map_err(|e| {
                    tracing::warn!(user_id, error = %e, "ssh: the TOTP secret does not open");
                    refusal(RefusalKind::Internal, "the second factor cannot be checked")
                })?;
            match totp::matching_step(&secret, code, now, last_step) {
                Some(step) => Command::UseTotpStep {
                    user_id,
                    secret: sealed,
                    step,
                },
                None => return Err(self.count_wrong_code(user_id).await),
            }
        } else {
            Command::UseRecoveryCode {
                user_id,
                code_hash: totp::recovery_digest(code),
            }
        };
        let recovery = matches!(command, Command::UseRecoveryCode { .. });
        match self.replica.propose(command).await {
            Ok(_) => {
                if recovery {
                    tracing::info!(user_id, "ssh: a recovery code was used");
                }
                principal.second_factor_pending = false;
                Ok(())
            }
            Err(ReplicaError::Rejected(
                Rejection::TotpCodeUsed | Rejection::RecoveryCodeUnknown,
            )) => Err(self.count_wrong_code(user_id).await),
            Err(ReplicaError::Rejected(Rejection::SecondFactorLocked)) => Err(wrong_code()),
            Err(e) => Err(from_replica(&e)),
        }
    }

    /// Counts a wrong code in the replicated state (it may lock codes for a while).
    async fn count_wrong_code(&self, user_id: u64) -> Refusal {
        let recorded = self
            .replica
            .propose(Command::RecordSecondFactorFailure { user_id })
            .await;
        if let Ok(portunus_model::Response::LoginRecorded {
            locked_until_ms: Some(until),
            ..
        }) = recorded
        {
            tracing::warn!(
                user_id,
                locked_until_ms = until,
                "ssh: verification codes locked after wrong codes"
            );
        }
        wrong_code()
    }
}
