//! A user's second factor: whether one is asked for ([`TwoFactorStatus`]) and the TOTP
//! enrolment (RFC 6238) it is checked against.
//!
//! The model never sees a code or a secret in the clear: the secret arrives sealed, recovery
//! codes as SHA-256 digests, and a code as the time-step the node found it valid for. What the
//! model decides is what must hold cluster-wide: a step is accepted once (only above the last
//! one used), a recovery code once, and wrong codes are counted and lock like wrong passwords.

use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Whether a user is asked for a second factor (Bastionhost's `TwoFactorStatus`).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub enum TwoFactorStatus {
    /// The instance's setting decides (`ModifyInstanceTwoFactor`).
    #[default]
    Global,
    /// Never for this user.
    Disable,
    /// Always for this user, with the user's own methods.
    Enable,
}

/// A run of wrong second-factor codes, counted and locked as wrong passwords are (the
/// cluster's `login_lock_*` settings) but apart from them: a guesser of passwords cannot block
/// the second factor of a key login, and a guesser of codes has already passed a first factor.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRun {
    /// Wrong codes in the current window.
    pub failed: u32,
    /// When the current window began.
    pub since_ms: Option<u64>,
    /// Lockouts in a row (each twice as long as the one before, up to the maximum).
    pub lockouts: u32,
    /// Codes are refused unchecked until then.
    pub locked_until_ms: Option<u64>,
}

impl FailureRun {
    /// Are codes refused at `now_ms`?
    pub fn locked(&self, now_ms: u64) -> bool {
        self.locked_until_ms.is_some_and(|t| now_ms < t)
    }
}

/// A user's TOTP authenticator (RFC 6238: HMAC-SHA-1, 6 digits, 30-second steps).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// The shared secret, sealed (purpose [`crate::seal_purpose::TOTP_SECRET`]).
    pub secret: Sealed,
    /// Confirmed by a first valid code: from then on logins ask for codes. Until then the
    /// enrolment is pending and asks for nothing.
    pub active: bool,
    /// The last time-step whose code was accepted (0: none yet). A code is accepted only for a
    /// later step, so each code works once, on whichever node.
    pub last_step: u64,
    /// SHA-256 of each recovery code not used yet.
    pub recovery_codes: BTreeSet<[u8; 32]>,
    pub enrolled_at_ms: u64,
    /// When the second factor was last passed (code or recovery code), by the leader's clock;
    /// the instance's `SkipTwoFactorTime` counts from it.
    pub passed_at_ms: Option<u64>,
    /// Wrong codes.
    pub failures: FailureRun,
}

/// Recovery codes given at enrolment.
pub const RECOVERY_CODES: usize = 10;

/// The longest `SkipTwoFactorTime` the API documents: 168 hours.
pub const MAX_SKIP_SECS: u64 = 168 * 3600;
