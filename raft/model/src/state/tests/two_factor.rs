//! TOTP enrolment and use: a step and a recovery code are accepted once, wrong codes lock as
//! wrong passwords do, only TOTP is stored as a method, and a reset starts over.

use super::Fx;
use crate::command::Command;
use crate::sealed::Sealed;
use crate::second_factor::TwoFactorStatus;
use crate::settings::TwoFactorSettings;
use crate::user::{NewUser, TwoFactorMethod, UserPatch};
use crate::{Rejection, Response};

fn enrolled(fx: &mut Fx, name: &str) -> u64 {
    let user_id = fx.user(name);
    fx.done(Command::EnrollTotp {
        user_id,
        secret: Sealed(vec![1, 2, 3]),
        recovery_codes: vec![[1; 32], [2; 32]],
    });
    user_id
}

fn step(user_id: u64, step: u64) -> Command {
    Command::UseTotpStep {
        user_id,
        secret: Sealed(vec![1, 2, 3]),
        step,
    }
}

#[test]
fn a_pending_enrolment_asks_nothing_until_its_first_code_confirms_it() {
    let mut fx = Fx::new();
    let u = enrolled(&mut fx, "alice");
    assert!(fx.st.user(u).unwrap().active_totp().is_none());
    assert_eq!(fx.reject(step(u, 100)), Rejection::TotpNotEnrolled);
    let wrong_secret = Command::ConfirmTotp {
        user_id: u,
        secret: Sealed(vec![9]),
        step: 100,
    };
    assert!(matches!(
        fx.reject(wrong_secret),
        Rejection::InvalidParameter { .. }
    ));
    fx.done(Command::ConfirmTotp {
        user_id: u,
        secret: Sealed(vec![1, 2, 3]),
        step: 100,
    });
    let t = fx.st.user(u).unwrap().active_totp().unwrap();
    assert_eq!((t.last_step, t.passed_at_ms), (100, Some(fx.now)));
    // Active: a new enrolment waits for an administrator's reset.
    let again = Command::EnrollTotp {
        user_id: u,
        secret: Sealed(vec![4]),
        recovery_codes: vec![],
    };
    assert_eq!(fx.reject(again.clone()), Rejection::TotpAlreadyEnrolled);
    fx.done(Command::ResetTotp { user_id: u });
    assert!(fx.st.user(u).unwrap().totp.is_none());
    fx.done(again);
}

#[test]
fn each_step_is_accepted_once_and_only_above_the_last_one() {
    let mut fx = Fx::new();
    let u = enrolled(&mut fx, "alice");
    fx.done(Command::ConfirmTotp {
        user_id: u,
        secret: Sealed(vec![1, 2, 3]),
        step: 100,
    });
    assert_eq!(fx.reject(step(u, 100)), Rejection::TotpCodeUsed);
    assert_eq!(fx.reject(step(u, 99)), Rejection::TotpCodeUsed);
    fx.done(step(u, 101));
    assert_eq!(fx.reject(step(u, 101)), Rejection::TotpCodeUsed);
    let other_secret = Command::UseTotpStep {
        user_id: u,
        secret: Sealed(vec![7]),
        step: 105,
    };
    assert!(matches!(
        fx.reject(other_secret),
        Rejection::InvalidParameter { .. }
    ));
}

#[test]
fn a_recovery_code_works_once() {
    let mut fx = Fx::new();
    let u = enrolled(&mut fx, "alice");
    let use_code = |code| Command::UseRecoveryCode {
        user_id: u,
        code_hash: code,
    };
    assert_eq!(fx.reject(use_code([1; 32])), Rejection::TotpNotEnrolled);
    fx.done(Command::ConfirmTotp {
        user_id: u,
        secret: Sealed(vec![1, 2, 3]),
        step: 100,
    });
    fx.done(use_code([1; 32]));
    assert_eq!(fx.reject(use_code([1; 32])), Rejection::RecoveryCodeUnknown);
    assert_eq!(fx.reject(use_code([3; 32])), Rejection::RecoveryCodeUnknown);
    fx.done(use_code([2; 32]));
    let left = &fx.st.user(u).unwrap().active_totp().unwrap().recovery_codes;
    assert!(left.is_empty());
}

#[test]
fn wrong_codes_lock_codes_like_wrong_passwords_lock_passwords() {
    let mut fx = Fx::new();
    fx.settings(|s| {
        s.login_lock_threshold = 3;
        s.login_lock_secs = 60;
    });
    let u = enrolled(&mut fx, "alice");
    fx.done(Command::ConfirmTotp {
        user_id: u,
        secret: Sealed(vec![1, 2, 3]),
        step: 100,
    });
    for n in 1..=3 {
        let r = fx.run(Command::RecordSecondFactorFailure { user_id: u });
        let Response::LoginRecorded {
            locked_until_ms, ..
        } = r
        else {
            panic!("{r:?}")
        };
        assert_eq!(locked_until_ms.is_some(), n == 3, "after {n} wrong codes");
    }
    // The password is not locked by wrong codes: a run of its own.
    assert!(!fx.st.user(u).unwrap().password_locked(fx.now));
    assert_eq!(fx.reject(step(u, 101)), Rejection::SecondFactorLocked);
    let recovery = Command::UseRecoveryCode {
        user_id: u,
        code_hash: [1; 32],
    };
    assert_eq!(fx.reject(recovery), Rejection::SecondFactorLocked);
    fx.now += 60_000;
    fx.done(step(u, 101));
    // An administrator's unlock ends a lockout early.
    for _ in 0..3 {
        fx.run(Command::RecordSecondFactorFailure { user_id: u });
    }
    assert_eq!(fx.reject(step(u, 102)), Rejection::SecondFactorLocked);
    fx.done(Command::UnlockUsers { user_ids: vec![u] });
    fx.done(step(u, 102));
}

#[test]
fn only_totp_is_stored_and_the_requirement_follows_status_and_instance() {
    let mut fx = Fx::new();
    let sms = Command::CreateUser(NewUser {
        name: "bob".into(),
        two_factor: [TwoFactorMethod::Sms].into(),
        ..Default::default()
    });
    assert!(matches!(fx.reject(sms), Rejection::InvalidParameter { .. }));
    let enable_without_method = Command::CreateUser(NewUser {
        name: "bob".into(),
        two_factor_status: TwoFactorStatus::Enable,
        ..Default::default()
    });
    assert!(matches!(
        fx.reject(enable_without_method),
        Rejection::InvalidParameter { .. }
    ));
    let u = fx.user("alice");
    assert!(!fx.st.second_factor_required(fx.st.user(u).unwrap()));
    for methods in [vec!["sms".to_string()], vec![]] {
        let on = Command::SetTwoFactorSettings(TwoFactorSettings {
            enabled: true,
            methods,
            skip_secs: 0,
        });
        assert!(matches!(fx.reject(on), Rejection::InvalidParameter { .. }));
    }
    fx.done(Command::SetTwoFactorSettings(TwoFactorSettings {
        enabled: true,
        methods: vec!["totp".into()],
        skip_secs: 3600,
    }));
    assert!(fx.st.second_factor_required(fx.st.user(u).unwrap()));
    let disable = UserPatch {
        two_factor_status: Some(TwoFactorStatus::Disable),
        ..Default::default()
    };
    fx.done(Command::UpdateUser {
        user_id: u,
        patch: disable,
    });
    assert!(!fx.st.second_factor_required(fx.st.user(u).unwrap()));
    let email = UserPatch {
        two_factor: Some([TwoFactorMethod::Email].into()),
        ..Default::default()
    };
    let refused = fx.reject(Command::UpdateUser {
        user_id: u,
        patch: email,
    });
    assert!(matches!(refused, Rejection::InvalidParameter { .. }));
}

#[test]
fn a_recent_pass_spares_the_second_factor_for_the_skip_time_only() {
    let mut fx = Fx::new();
    let u = enrolled(&mut fx, "alice");
    fx.done(Command::ConfirmTotp {
        user_id: u,
        secret: Sealed(vec![1, 2, 3]),
        step: 100,
    });
    let fresh = |fx: &Fx| fx.st.second_factor_fresh(fx.st.user(u).unwrap(), fx.now);
    assert!(!fresh(&fx), "no skip time: always asked");
    fx.done(Command::SetTwoFactorSettings(TwoFactorSettings {
        enabled: true,
        methods: vec!["totp".into()],
        skip_secs: 3600,
    }));
    assert!(fresh(&fx));
    fx.now += 3_600_000;
    assert!(!fresh(&fx));
}
