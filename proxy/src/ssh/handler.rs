//! The russh [`Handler`] of one client connection: authentication through the gate, then it
//! only hands each channel to a task that owns it ([`super::tunnel`], [`super::session`]).

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use russh::server::{
    Auth, ChannelOpenHandle, Handler, Msg, PublicKeyOffer, Response, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelOpenFailure, MethodKind, MethodSet};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::conn::Conn;
use super::error::{HandlerError, SshError};
use super::login::Login;
use super::ratelimit::Limited;
use super::{session, tunnel, Shared};
use crate::gate::{AuditSink, AuthAttempt, Principal, Refusal, RefusalKind, Secret, SessionGate};

mod second_factor;

/// Keyboard-interactive password prompts allowed per connection.
const KBD_TRIES: u32 = 3;

/// One client connection's handler.
pub(crate) struct ConnHandler<G: SessionGate, A: AuditSink> {
    shared: Arc<Shared<G, A>>,
    client: SocketAddr,
    login: Option<Login>,
    authenticated: Option<Principal>,
    /// A refusal to tell the client after its credentials were verified: authentication is
    /// accepted and the connection then closed with the refusal as the disconnect description,
    /// which clients show (the password and public-key methods carry no words), so that the
    /// client neither asks again nor falls back to another method.
    refused: Option<Refusal>,
    kbd_tries: u32,
    /// The last keyboard-interactive answer was refused although its credentials matched.
    kbd_refused: bool,
    /// The refusal's words were already shown in a keyboard-interactive prompt: a later
    /// password attempt (OpenSSH falls back to it) is rejected plainly, not accepted to carry
    /// the words in a disconnect (the client would open its forwards for a moment).
    words_shown: bool,
    conn: Option<Arc<Conn<G, A>>>,
    /// The user's credentials matched and a second factor is due: the principal waits here,
    /// with the login name it was given for, until a code completes it.
    pending: Option<(String, Principal)>,
    /// Verification codes asked for on this connection.
    code_tries: u32,
    /// The client spoke keyboard-interactive on this connection (so it can be asked a code).
    kbd_seen: bool,
    /// This connection's place among those not logged in (see `preauth`), given back at login.
    preauth: Option<crate::preauth::PreAuthSlot>,
    /// Cancelled once the connection has logged in (ends its login grace time).
    logged_in: CancellationToken,
    closed: CancellationToken,
    _close_on_drop: DropGuard,
}

impl<G: SessionGate, A: AuditSink> ConnHandler<G, A> {
    pub fn new(
        shared: Arc<Shared<G, A>>,
        client: SocketAddr,
        preauth: crate::preauth::PreAuthSlot,
        logged_in: CancellationToken,
    ) -> Self {
        let closed = CancellationToken::new();
        Self {
            shared,
            client,
            login: None,
            authenticated: None,
            refused: None,
            kbd_tries: 0,
            kbd_refused: false,
            words_shown: false,
            conn: None,
            pending: None,
            code_tries: 0,
            kbd_seen: false,
            preauth: Some(preauth),
            logged_in,
            _close_on_drop: closed.clone().drop_guard(),
            closed,
        }
    }

    /// Parses the login (once) and asks the gate; refusals come back in words for the user.
    async fn check(
        &mut self,
        user: &str,
        attempt_of: impl FnOnce(String) -> AuthAttempt,
    ) -> Result<(), Refusal> {
        let login = Login::parse(user).map_err(|msg| Refusal {
            kind: RefusalKind::BadCredentials,
            message: msg.into(),
        })?;
        let ip = self.client.ip();
        let attempt = match self.shared.limiter.begin(ip, &login.user) {
            Ok(a) => a,
            Err(which) => {
                let message = match which {
                    Limited::Address => "too many failed logins from your address; try again later",
                    Limited::User => "too many failed logins for this user; try again later",
                };
                tracing::warn!(user = %login.user, client = %self.client, limit = ?which, "ssh: login attempt refused: rate limited");
                return Err(Refusal {
                    kind: RefusalKind::RateLimited,
                    message: message.into(),
                });
            }
        };
        match self
            .shared
            .gate
            .authenticate(attempt_of(login.user.clone()))
            .await
        {
            Ok(principal) if principal.second_factor_pending => {
                tracing::info!(user = %principal.user_name, client = %self.client, "ssh: credentials accepted; a second factor is due");
                self.login = Some(login);
                self.pending = Some((user.to_owned(), principal));
                Ok(())
            }
            Ok(principal) => {
                tracing::info!(user = %principal.user_name, client = %self.client, "ssh: login accepted");
                self.login = Some(login);
                self.authenticated = Some(principal);
                Ok(())
            }
            Err(refusal) => {
                // Only wrong credentials count: a refusal for want of quorum or slots must not
                // lock an address out.
                if refusal.kind == RefusalKind::BadCredentials {
                    attempt.failed();
                }
                tracing::info!(user = %login.user, client = %self.client, kind = ?refusal.kind, "ssh: login refused");
                Err(refusal)
            }
        }
    }

    fn password_prompt(instructions: String) -> Auth {
        Auth::Partial {
            name: Cow::Borrowed(""),
            instructions: Cow::Owned(instructions),
            prompts: Cow::Owned(vec![(Cow::Borrowed("Password: "), false)]),
        }
    }

    /// The answer to a checked attempt (any method). A refusal that comes after the
    /// credentials matched (token expired or used up, account locked, limit reached, no
    /// quorum, ...) says nothing an attacker could not already tell, and is delivered in words
    /// by accepting and then disconnecting; wrong credentials and rate limiting stay a plain
    /// rejection.
    fn answer(&mut self, checked: Result<(), Refusal>) -> Auth {
        match checked {
            Ok(()) => Auth::Accept,
            Err(r)
                if !self.words_shown
                    && !matches!(
                        r.kind,
                        RefusalKind::BadCredentials | RefusalKind::RateLimited
                    ) =>
            {
                self.refused = Some(r);
                Auth::Accept
            }
            Err(_) => Auth::Reject {
                proceed_with_methods: Some(all_methods()),
                partial_success: false,
            },
        }
    }

    fn conn(&self) -> Option<Arc<Conn<G, A>>> {
        self.conn.clone()
    }
}

fn all_methods() -> MethodSet {
    let mut set = MethodSet::empty();
    for kind in [
        MethodKind::PublicKey,
        MethodKind::KeyboardInteractive,
        MethodKind::Password,
    ] {
        set.push(kind);
    }
    set
}

impl<G: SessionGate, A: AuditSink> Handler for ConnHandler<G, A> {
    type Error = HandlerError;

    async fn authentication_banner(&mut self) -> Result<Option<String>, Self::Error> {
        Ok(self.shared.config.settings.login_banner.clone())
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        if self.pending_for(user) {
            // The first factor passed already and the client answers with the password
            // method: it cannot show a keyboard-interactive prompt for the code.
            return Ok(self.cannot_prompt());
        }
        let (client, password) = (self.client, Secret(password.to_owned()));
        let checked = self
            .check(user, |user| AuthAttempt::Password {
                user,
                password,
                client,
            })
            .await;
        if checked.is_ok() && self.pending.is_some() {
            // A client that spoke keyboard-interactive before is asked the code that way;
            // one that never did (a password-only client) is told why it cannot log in.
            return Ok(if self.kbd_seen {
                second_factor::continue_with_code()
            } else {
                self.cannot_prompt()
            });
        }
        Ok(self.answer(checked))
    }

    async fn auth_publickey_offered(
        &mut self,
        _user: &str,
        _offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Let the client sign; the gate decides on the verified key.
        Ok(Auth::Accept)
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.pending_for(user) {
            return Ok(second_factor::continue_with_code());
        }
        let Ok(public_key) = key.public_key.to_openssh() else {
            return Ok(Auth::reject());
        };
        let client = self.client;
        let checked = self
            .check(user, |user| AuthAttempt::PublicKey {
                user,
                public_key,
                client,
            })
            .await;
        if checked.is_ok() && self.pending.is_some() {
            // The key is the first factor: the client goes on with keyboard-interactive for
            // the code (or, unable to, sends a password and is told why it cannot log in).
            return Ok(second_factor::continue_with_code());
        }
        Ok(match self.answer(checked) {
            Auth::Reject { .. } => Auth::reject(),
            accepted => accepted,
        })
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        self.kbd_seen = true;
        if self.pending_for(user) {
            return Ok(match response {
                None => second_factor::code_prompt(String::new()),
                Some(mut response) => {
                    let answer = response
                        .next()
                        .map(|b| String::from_utf8_lossy(&b).into_owned());
                    self.check_code(answer).await
                }
            });
        }
        let Some(mut response) = response else {
            return Ok(Self::password_prompt(String::new()));
        };
        if self.kbd_tries > KBD_TRIES {
            // The reply to the final words (shown with no prompt) carries no answer: it is not
            // an attempt, and must not count as a wrong password. After a refusal of verified
            // credentials no method is offered any more, so the client does not try its
            // password again (another spend) through the password method.
            return Ok(if std::mem::take(&mut self.kbd_refused) {
                Auth::Reject {
                    proceed_with_methods: Some(MethodSet::empty()),
                    partial_success: false,
                }
            } else {
                Auth::reject()
            });
        }
        let answer = response
            .next()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        let (client, password) = (self.client, Secret(answer));
        match self
            .check(user, |user| AuthAttempt::Password {
                user,
                password,
                client,
            })
            .await
        {
            // The password matched and a code is due: asked in the same exchange.
            Ok(()) if self.pending.is_some() => Ok(second_factor::code_prompt(String::new())),
            Ok(()) => Ok(Auth::Accept),
            Err(refusal)
                if !matches!(
                    refusal.kind,
                    RefusalKind::BadCredentials | RefusalKind::RateLimited
                ) =>
            {
                // The credentials matched; asking again would get the same answer: say why,
                // with no prompt, and end (see the top of this method).
                self.kbd_tries = KBD_TRIES + 1;
                self.kbd_refused = true;
                self.words_shown = true;
                Ok(Auth::Partial {
                    name: Cow::Borrowed(""),
                    instructions: Cow::Owned(format!("Access denied: {}", refusal.message)),
                    prompts: Cow::Owned(Vec::new()),
                })
            }
            Err(refusal) => {
                self.kbd_tries += 1;
                let words = format!("Access denied: {}", refusal.message);
                if self.kbd_tries >= KBD_TRIES || refusal.kind == RefusalKind::RateLimited {
                    // Show the words with no prompt; the client's empty reply ends it.
                    self.kbd_tries = KBD_TRIES + 1;
                    return Ok(Auth::Partial {
                        name: Cow::Borrowed(""),
                        instructions: Cow::Owned(words),
                        prompts: Cow::Owned(Vec::new()),
                    });
                }
                Ok(Self::password_prompt(words))
            }
        }
    }

    async fn auth_succeeded(&mut self, session: &mut Session) -> Result<(), Self::Error> {
        if let Some(refusal) = self.refused.take() {
            // No connection state is made: every channel request is refused until the
            // disconnect reaches the client.
            let words = format!("Access denied: {}", refusal.message);
            session.disconnect(russh::Disconnect::ByApplication, &words, "en")?;
            return Ok(());
        }
        let principal = self
            .authenticated
            .take()
            .ok_or(SshError::Client("auth without principal"))?;
        if principal.second_factor_pending {
            // Never reached (a pending principal waits in `pending`); a login whose second
            // factor is due is not complete, whatever path led here.
            session.disconnect(
                russh::Disconnect::ByApplication,
                "Access denied: the second factor was not checked",
                "en",
            )?;
            return Ok(());
        }
        self.preauth = None;
        self.logged_in.cancel();
        let span = tracing::Span::current();
        span.record("user", principal.user_name.as_str());
        if let Some(p) = &principal.token {
            span.record("session", p.session_id());
        }
        let target = self.login.as_ref().and_then(|l| l.target.clone());
        let conn = Arc::new(Conn::new(
            Arc::clone(&self.shared),
            self.client,
            principal,
            target,
            self.closed.clone(),
            session.handle(),
        ));
        if let Some(lease) = &conn.token_lease {
            watch_token_termination(
                lease.termination_token(),
                lease.reason_cell(),
                self.closed.clone(),
                session.handle(),
            );
        }
        self.conn = Some(conn);
        Ok(())
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let Some(conn) = self.conn() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        reply.accept().await;
        tokio::spawn(session::run(conn, channel));
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(conn), Ok(port)) = (self.conn(), u16::try_from(port_to_connect)) else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        tokio::spawn(tunnel::run(
            conn,
            channel,
            host_to_connect.to_owned(),
            port,
            reply,
        ));
        Ok(())
    }
}

/// Disconnects the whole connection when its token session is terminated.
fn watch_token_termination(
    terminated: CancellationToken,
    reason: Arc<std::sync::OnceLock<String>>,
    closed: CancellationToken,
    handle: russh::server::Handle,
) {
    tokio::spawn(async move {
        tokio::select! {
            () = terminated.cancelled() => {
                let _ = handle
                    .disconnect(
                        russh::Disconnect::ByApplication,
                        super::lease::termination_words(&reason),
                        "en".into(),
                    )
                    .await;
                closed.cancel();
            }
            () = closed.cancelled() => {}
        }
    });
}
