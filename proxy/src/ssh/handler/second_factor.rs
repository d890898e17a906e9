//! The second factor of a login with the user's own password or key: once the gate found the
//! credentials right and a code due (`Principal::second_factor_pending`), the code is asked in
//! a keyboard-interactive prompt ("Verification code: ", which the OpenSSH client shows), a
//! few times at most, each wrong code counted by the door's rate limits as a wrong password
//! is; the last refusal ends the connection with its words in the disconnect message. A client
//! that answers with the password method instead cannot show that prompt: it is told why, the
//! same way, and not let in.

use std::borrow::Cow;

use russh::server::Auth;
use russh::{MethodKind, MethodSet};

use super::ConnHandler;
use crate::gate::{AuditSink, Refusal, RefusalKind, Secret, SessionGate};
use crate::ssh::ratelimit::Limited;

/// Verification codes asked for per connection.
const CODE_TRIES: u32 = 3;

/// What a client that cannot answer a keyboard-interactive prompt is told.
pub(super) const NEEDS_PROMPT: &str = "two-factor authentication is required for this user, and \
     this client logged in without keyboard-interactive authentication, the only way the \
     bastion can ask for the verification code: allow it (OpenSSH: the default; remove \
     KbdInteractiveAuthentication=no, or add keyboard-interactive to PreferredAuthentications) \
     and answer the \"Verification code:\" prompt with your authenticator's code";

/// The keyboard-interactive prompt for a code, after `instructions` (words about the previous
/// attempt, or none).
pub(super) fn code_prompt(instructions: String) -> Auth {
    Auth::Partial {
        name: Cow::Borrowed(""),
        instructions: Cow::Owned(instructions),
        prompts: Cow::Owned(vec![(Cow::Borrowed("Verification code: "), false)]),
    }
}

/// The answer after a first factor that needs a second: partial success; the client goes on
/// with keyboard-interactive (the code), or with a password when it cannot (then it is told
/// why it cannot log in).
pub(super) fn continue_with_code() -> Auth {
    let mut methods = MethodSet::empty();
    methods.push(MethodKind::KeyboardInteractive);
    methods.push(MethodKind::Password);
    Auth::Reject {
        proceed_with_methods: Some(methods),
        partial_success: true,
    }
}

impl<G: SessionGate, A: AuditSink> ConnHandler<G, A> {
    /// Whether a second factor is due for this login name; a login under another name drops
    /// the principal that waited for one.
    pub(super) fn pending_for(&mut self, user: &str) -> bool {
        match &self.pending {
            Some((login, _)) if login == user => true,
            Some(_) => {
                self.pending = None;
                false
            }
            None => false,
        }
    }

    /// The login cannot be completed by this client (it cannot show the code prompt).
    pub(super) fn cannot_prompt(&mut self) -> Auth {
        tracing::info!(client = %self.client, "ssh: login refused: a second factor is due and the client does not speak keyboard-interactive");
        self.end_with(Refusal {
            kind: RefusalKind::SecondFactorRequired,
            message: NEEDS_PROMPT.into(),
        })
    }

    /// Ends the login with `refusal`'s words: accepted only to carry them in the disconnect
    /// message (as other refusals after matching credentials are), with nothing served. A
    /// rejection would not end it: OpenSSH answers an empty list of methods with its own
    /// preferred ones, and would ask for the password again.
    fn end_with(&mut self, refusal: Refusal) -> Auth {
        self.pending = None;
        self.code_tries = CODE_TRIES;
        self.refused = Some(refusal);
        Auth::Accept
    }

    /// An answer to the code prompt (`None`: an answer without one, which ends the login).
    pub(super) async fn check_code(&mut self, answer: Option<String>) -> Auth {
        let (Some(answer), true) = (answer, self.code_tries < CODE_TRIES) else {
            self.pending = None;
            return Auth::reject();
        };
        let Some((login, mut principal)) = self.pending.take() else {
            return Auth::reject();
        };
        let limiter = &self.shared.limiter;
        let attempt = match limiter.begin(self.client.ip(), &principal.user_name) {
            Ok(a) => a,
            Err(which) => {
                tracing::warn!(user = %principal.user_name, client = %self.client, limit = ?which, "ssh: verification code refused: rate limited");
                let why = match which {
                    Limited::Address => "too many failed logins from your address",
                    Limited::User => "too many failed logins for this user",
                };
                return self.end_with(Refusal {
                    kind: RefusalKind::RateLimited,
                    message: format!("{why}; try again later"),
                });
            }
        };
        let gate = &self.shared.gate;
        let checked = gate.second_factor(&mut principal, Secret(answer)).await;
        match checked {
            Ok(()) if !principal.second_factor_pending => {
                tracing::info!(user = %principal.user_name, client = %self.client, "ssh: login accepted (second factor)");
                self.authenticated = Some(principal);
                Auth::Accept
            }
            Ok(()) => Auth::reject(),
            Err(refusal) => {
                if refusal.kind == RefusalKind::BadCredentials {
                    attempt.failed();
                }
                tracing::info!(user = %principal.user_name, client = %self.client, kind = ?refusal.kind, "ssh: verification code refused");
                self.code_tries += 1;
                if refusal.kind == RefusalKind::BadCredentials && self.code_tries < CODE_TRIES {
                    self.pending = Some((login, principal));
                    return code_prompt(format!("Access denied: {}", refusal.message));
                }
                self.end_with(refusal)
            }
        }
    }
}
