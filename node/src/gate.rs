//! The node's implementation of the data path's `SessionGate` port, over the replicated state:
//! logins (O&M tokens, passwords, public keys), authorization and concurrency slots when a
//! session opens, the slot given back when it closes, termination requests.

mod approval;
pub(crate) mod permit;
mod policy;
pub(crate) mod proxy_keys;
mod refusal;
mod second_factor;

use crate::running::NodeShared;
use portunus_model::{AssetRef, Command, EndReason, Response, UserSource};
use portunus_proxy::gate::{
    host_tunnel_refusal, Admission, AuthAttempt, BoxFuture, Closer, Decision, EndKind, Permit,
    Principal, Purpose, Refusal, RefusalKind, SessionGate, SessionOutcome, Target, TargetSpec,
    TERMINATED_BY_ADMIN,
};
use portunus_raft::Replica;
pub(crate) use refusal::bad_credentials;
use refusal::{from_replica, refusal};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub(crate) struct Gate {
    replica: Replica,
    metrics: Arc<portunus_ops::Metrics>,
    shared: Arc<NodeShared>,
    /// Gives admitted sessions back (each [`Admission`] holds it).
    closing: Arc<Closing>,
    /// Turns for argon2 password checks (see [`Gate::verify_password`]).
    password_checks: Arc<tokio::sync::Semaphore>,
}

/// Words shown when the cluster closed the session while this node was cut off from it.
const RECLAIMED: &str = "session ended: the bastion cluster reclaimed this node's sessions while \
     it was cut off; reconnect (another node may serve you)";
/// Words shown when this node ends its sessions because it lost the majority.
const LEASE_LAPSED: &str = "session ended: this bastion node lost contact with the cluster and \
     must give its sessions back under the concurrency limit; reconnect (another node may serve \
     you)";

/// Words shown when a session ends because its access was withdrawn while it ran.
fn withdrawn(why: &portunus_model::Rejection) -> String {
    use portunus_model::Rejection as R;
    let what = match why {
        R::UserLocked => "your account was locked",
        R::UserExpired => "your account is outside its validity period",
        R::TokenExpired => "the O&M token expired",
        R::TokenRevoked => "the O&M token was revoked",
        R::NotFound { .. } => "the asset, account or user was removed",
        _ => "your authorization for this asset was withdrawn",
    };
    format!("session ended: {what}")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    d.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// The user part of a login such as `alice@root@web-01`.
fn user_part(login: &str) -> &str {
    login.split('@').next().unwrap_or(login)
}

/// `type base64` of an OpenSSH public key line, without its comment.
fn key_identity(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Gate {
    pub(crate) fn new(
        replica: Replica,
        shared: Arc<NodeShared>,
        metrics: Arc<portunus_ops::Metrics>,
        audit: Option<Arc<crate::audit::FileAudit>>,
        password_checks: usize,
    ) -> Self {
        let closing = Arc::new(Closing {
            replica: replica.clone(),
            metrics: metrics.clone(),
            shared: shared.clone(),
            audit,
        });
        Gate {
            replica,
            metrics,
            shared,
            closing,
            password_checks: Arc::new(tokio::sync::Semaphore::new(password_checks.max(1))),
        }
    }

    /// Makes the admission of a session the state machine just opened: from here on the
    /// session is held by this node (see `duties::close_orphans`) until the admission gives it
    /// back, whatever path that takes. If the permit cannot be built (the asset vanished in the
    /// meantime) the session is given back at once.
    fn admit(
        &self,
        grant: &portunus_model::SessionGrant,
        user: &str,
    ) -> Result<Admission, Refusal> {
        let id = grant.session_id;
        self.shared.live.lock().expect("lock").insert(id);
        let closing = Arc::clone(&self.closing);
        let closer: Closer =
            Box::new(move |outcome| Box::pin(async move { closing.close(id, outcome).await }));
        match self.permit_for(grant, user) {
            Ok(permit) => {
                if let Some(audit) = &self.closing.audit {
                    audit.note(serde_json::json!({
                        "type": "session_open", "session_id": id,
                        "at": now_ms(), "node": self.shared.node_id,
                    }));
                }
                Ok(Admission::new(permit, closer))
            }
            Err(r) => {
                let failed = SessionOutcome {
                    bytes_up: 0,
                    bytes_down: 0,
                    spliced: 0,
                    end: EndKind::Error,
                };
                tokio::spawn(closer(failed));
                Err(r)
            }
        }
    }

    fn admitting(&self) -> Result<u64, Refusal> {
        if self.shared.draining.load(Ordering::SeqCst) {
            return Err(refusal(
                RefusalKind::Draining,
                "This bastion node is draining; reconnect to be served by another node.",
            ));
        }
        match self.shared.epoch.load(Ordering::SeqCst) {
            0 => Err(refusal(
                RefusalKind::Draining,
                "This bastion node is still starting; try again in a moment.",
            )),
            e => Ok(e),
        }
    }

    fn permit_for(
        &self,
        grant: &portunus_model::SessionGrant,
        user: &str,
    ) -> Result<Permit, Refusal> {
        self.replica
            .view()
            .read(|s| permit::from_grant(s, &self.shared.sealer, grant, user))
            .ok_or_else(|| refusal(RefusalKind::NotAuthorized, "The asset was removed."))
    }

    async fn login_token(
        &self,
        login: &str,
        password: &str,
        client: SocketAddr,
    ) -> Option<Result<Principal, Refusal>> {
        let hash = sha256(password.as_bytes());
        let owner = self.replica.view().read(|s| {
            let t = s.token_by_hash(&hash)?;
            s.user(t.user_id).map(|u| (u.id, u.name.clone()))
        })?;
        if owner.1 != user_part(login) {
            return Some(Err(bad_credentials()));
        }
        Some(self.spend_token(hash, owner, client).await)
    }

    /// A MySQL client on the native port: its `mysql_native_password` answer is checked
    /// against the stored SHA1(SHA1(token)) of each live MySQL token of the user; the one that
    /// matches is spent like a token typed as a password. Every failure answers the same.
    async fn login_mysql_native(
        &self,
        login: &str,
        scramble: &[u8],
        answer: &[u8],
        client: SocketAddr,
    ) -> Result<Principal, Refusal> {
        let now = now_ms();
        let found = self.replica.view().read(|s| {
            let user = s.user_by_name(login)?;
            let token = s.tokens_of_user(user.id).find(|t| {
                !t.revoked
                    && t.expire_at_ms > now
                    && t.mysql_native.is_some_and(|stored| {
                        portunus_proxy::db::native_password_matches(&stored, scramble, answer)
                    })
            })?;
            Some((token.hash, (user.id, user.name.clone())))
        });
        match found {
            Some((hash, owner)) => self.spend_token(hash, owner, client).await,
            None => Err(bad_credentials()),
        }
    }

    /// A PostgreSQL client on the native port: its SCRAM proof is checked against the stored
    /// verifier of each live PostgreSQL token of the user; the one that matches is spent like
    /// a token typed as a password, and its verifier signs the server's answer.
    async fn login_pg_scram(
        &self,
        login: &str,
        proof: &portunus_proxy::db::ClientProof,
        client: SocketAddr,
    ) -> Result<Principal, Refusal> {
        let now = now_ms();
        let found = self.replica.view().read(|s| {
            let user = s.user_by_name(login)?;
            s.tokens_of_user(user.id).find_map(|t| {
                let stored = t.pg_scram.filter(|_| !t.revoked && t.expire_at_ms > now)?;
                let v = portunus_proxy::db::ScramVerifier {
                    stored_key: stored.stored_key,
                    server_key: stored.server_key,
                };
                proof
                    .matches(&v)
                    .then(|| (t.hash, (user.id, user.name.clone()), proof.server_final(&v)))
            })
        });
        let Some((hash, owner, server_final)) = found else {
            return Err(bad_credentials());
        };
        let mut principal = self.spend_token(hash, owner, client).await?;
        principal.server_proof = Some(server_final);
        Ok(principal)
    }

    /// Whether the control policy governing the token's session lets it open now from
    /// `client`; checked before the token's use is spent. An unknown token passes here (the
    /// spend refuses it).
    fn policy_admits_token(&self, hash: &[u8; 32], client: SocketAddr) -> Result<(), Refusal> {
        self.replica.view().read(|s| {
            let Some(t) = s.token_by_hash(hash) else {
                return Ok(());
            };
            let account = match &t.account {
                portunus_model::TokenAccount::Hosted(a) => Some(*a),
                portunus_model::TokenAccount::Custom { .. } => None,
            };
            let p = policy::governing(s, t.user_id, t.asset, account);
            policy::admission(p, client.ip(), now_ms())
        })
    }

    /// Spends the token `hash` of `owner` (id, name): its session opens here.
    async fn spend_token(
        &self,
        hash: [u8; 32],
        owner: (u64, String),
        client: SocketAddr,
    ) -> Result<Principal, Refusal> {
        let epoch = self.admitting()?;
        self.policy_admits_token(&hash, client)?;
        let spend = Command::SpendToken {
            token_hash: hash,
            node_id: self.shared.node_id,
            node_epoch: epoch,
            client_addr: client.to_string(),
            protocol: None,
        };
        let spent = crate::metered::propose(&self.replica, &self.metrics, spend).await;
        crate::metered::token_op(&self.metrics, "spend", spent.is_ok());
        match spent {
            Ok(Response::SessionOpened(grant)) => self.admit(&grant, &owner.1).map(|a| Principal {
                user_id: owner.0,
                user_name: owner.1.clone(),
                token: Some(a),
                server_proof: None,
                second_factor_pending: false,
            }),
            Ok(other) => Err(refusal(
                RefusalKind::Internal,
                format!("unexpected answer {other:?}"),
            )),
            Err(e) => Err(from_replica(&e)),
        }
    }

    /// A user's own password. The lock (an administrator's, or an automatic lockout after
    /// wrong passwords) is checked before the password, and every failure gets the same plain
    /// answer, so a lock never tells a guesser that a guess was right. Only the password is
    /// locked: the user's public keys and O&M tokens keep working.
    pub(crate) async fn login_password(
        &self,
        login: &str,
        password: String,
    ) -> Result<Principal, Refusal> {
        let name = user_part(login).to_string();
        let now = now_ms();
        let user = self.replica.view().read(|s| {
            s.user_by_name(&name).map(|u| {
                let locked = u.password_locked(now);
                (
                    u.id,
                    u.password_hash.clone(),
                    u.failed_logins,
                    locked,
                    u.source,
                )
            })
        });
        if let Some((user_id, _, _, true, _)) = user {
            tracing::info!(
                user_id,
                "ssh: password logon refused: the password is locked"
            );
            return Err(bad_credentials());
        }
        let hash = user.as_ref().and_then(|u| u.1.clone());
        let ok = match user.as_ref().map(|u| u.4) {
            Some(source @ (UserSource::Ldap | UserSource::Ad)) => {
                self.directory_password(source, &name, &password).await?
            }
            _ => self.verify_password(hash, password).await?,
        };
        let Some((user_id, _, failed, _, _)) = user else {
            return Err(bad_credentials());
        };
        if !ok {
            let recorded = self
                .replica
                .propose(Command::RecordLoginFailure { user_id })
                .await;
            if let Ok(Response::LoginRecorded {
                locked_until_ms: Some(until),
                ..
            }) = recorded
            {
                tracing::warn!(
                    user_id,
                    locked_until_ms = until,
                    "ssh: password logon locked after wrong passwords"
                );
            }
            return Err(bad_credentials());
        }
        self.check_active(user_id)?;
        let second_factor_pending = self.second_factor_due(user_id)?;
        if failed > 0 {
            let _ = self
                .replica
                .propose(Command::RecordLoginSuccess { user_id })
                .await;
        }
        Ok(Principal {
            user_id,
            user_name: name,
            token: None,
            server_proof: None,
            second_factor_pending,
        })
    }

    /// Checks the password of a directory user against the directory (LDAP or AD): Ok(false)
    /// when the directory refused it (counted like a wrong password), Err when the directory
    /// cannot be asked (not the user's fault: nothing is counted, and the user is told).
    /// Local users never come here, so a directory outage locks nobody else out.
    async fn directory_password(
        &self,
        source: UserSource,
        name: &str,
        password: &str,
    ) -> Result<bool, Refusal> {
        use crate::directory::{DirectoryError, DirectoryKind};
        let (kind, settings) = self.replica.view().read(|s| match source {
            UserSource::Ad => (DirectoryKind::Ad, s.ad_settings().cloned()),
            _ => (DirectoryKind::Ldap, s.ldap_settings().cloned()),
        });
        let unavailable = |why: String| {
            tracing::warn!(user = name, %why, "directory logon cannot be checked");
            refusal(
                RefusalKind::Internal,
                format!(
                    "Your account is in the {} directory, which cannot be asked right now \
                     ({why}); try again later or ask your administrator.",
                    kind.name()
                ),
            )
        };
        let Some(settings) = settings else {
            return Err(unavailable("no directory server is configured".into()));
        };
        let Some(directory) = &self.shared.directory else {
            return Err(unavailable(crate::backend::NO_DIRECTORY_CA.into()));
        };
        let service_password = match &settings.password {
            Some(sealed) => {
                let purpose = portunus_model::seal_purpose::DIRECTORY_BIND_PASSWORD;
                let plain = self.shared.sealer.open(purpose, sealed).map_err(|e| {
                    unavailable(format!(
                        "the service account's password cannot be unsealed: {e}"
                    ))
                })?;
                Some(String::from_utf8_lossy(&plain).into_owned())
            }
            None => None,
        };
        let checked = directory
            .authenticate(kind, &settings, service_password.as_deref(), name, password)
            .await;
        match checked {
            Ok(found) => {
                tracing::info!(user = name, dn = %found.dn, "directory logon accepted");
                self.sync_profile(name, &found).await;
                Ok(true)
            }
            Err(DirectoryError::Refused(_, why)) => {
                tracing::info!(user = name, %why, "directory logon refused");
                Ok(false)
            }
            Err(e @ (DirectoryError::Unreachable(..) | DirectoryError::Misconfigured(..))) => {
                Err(unavailable(e.to_string()))
            }
        }
    }

    /// Takes the display name, e-mail and mobile number the directory holds for a user who
    /// just logged in, where they differ from what the cluster holds and the directory's
    /// synchronization settings take them (the directory is their source). A failure is logged; the login goes on.
    async fn sync_profile(&self, name: &str, found: &crate::directory::DirectoryUser) {
        let wanted = self.replica.view().read(|s| {
            let u = s.user_by_name(name)?;
            let settings = match u.source {
                UserSource::Ad => s.ad_settings(),
                _ => s.ldap_settings(),
            };
            let sync = settings.map(|d| d.sync.clone()).unwrap_or_default();
            let differs = |wanted: bool, have: &str, got: &Option<String>| {
                got.as_ref()
                    .filter(|g| wanted && g.as_str() != have)
                    .cloned()
            };
            let patch = portunus_model::UserPatch {
                display_name: differs(sync.name, &u.display_name, &found.display_name),
                email: differs(sync.email, &u.email, &found.email),
                mobile: differs(sync.mobile, &u.mobile, &found.mobile),
                ..Default::default()
            };
            let changed =
                patch.display_name.is_some() || patch.email.is_some() || patch.mobile.is_some();
            changed.then_some((u.id, patch))
        });
        let Some((user_id, patch)) = wanted else {
            return;
        };
        let update = Command::UpdateUser { user_id, patch };
        if let Err(e) = crate::metered::propose(&self.replica, &self.metrics, update).await {
            tracing::warn!(user = name, error = %e, "the directory's profile of a user was not taken");
        }
    }

    /// Checks a password against its argon2 hash (a dummy hash when there is none, so that an
    /// unknown user costs the same) off the async workers, a few at a time: each check takes
    /// ~19 MiB and tens of milliseconds of CPU, so parallel guesses wait here instead of
    /// exhausting the node.
    async fn verify_password(
        &self,
        hash: Option<String>,
        password: String,
    ) -> Result<bool, Refusal> {
        self.metrics.password_checks_waiting.inc();
        let permit = self.password_checks.clone().acquire_owned().await;
        self.metrics.password_checks_waiting.dec();
        let permit =
            permit.map_err(|_| refusal(RefusalKind::Internal, "the node is shutting down"))?;
        let checked = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            crate::bootstrap::verify_password(hash.as_deref(), &password)
        })
        .await;
        checked.map_err(|_| refusal(RefusalKind::Internal, "password check failed"))
    }

    fn check_active(&self, user_id: u64) -> Result<(), Refusal> {
        self.replica
            .view()
            .read(|s| s.check_user_active(user_id, now_ms()).map(|_| ()))
            .map_err(|r| refusal::from_rejection(&r))
    }

    /// A user an OpenID provider vouched for (the web pages' single sign-on): like a key
    /// login, the user must exist and be active, and owes the second factor when it is due.
    pub(crate) fn login_sso(&self, name: &str) -> Result<Principal, Refusal> {
        let user_id = self
            .replica
            .view()
            .read(|s| s.user_by_name(name).map(|u| u.id))
            .ok_or_else(bad_credentials)?;
        self.check_active(user_id)?;
        let second_factor_pending = self.second_factor_due(user_id)?;
        Ok(Principal {
            user_id,
            user_name: name.to_string(),
            token: None,
            server_proof: None,
            second_factor_pending,
        })
    }

    fn login_key(&self, login: &str, public_key: &str) -> Result<Principal, Refusal> {
        let name = user_part(login).to_string();
        let wanted = key_identity(public_key);
        let user_id = self
            .replica
            .view()
            .read(|s| {
                let u = s.user_by_name(&name)?;
                u.public_keys
                    .values()
                    .any(|k| key_identity(&k.public_key) == wanted)
                    .then_some(u.id)
            })
            .ok_or_else(bad_credentials)?;
        self.check_active(user_id)?;
        let second_factor_pending = self.second_factor_due(user_id)?;
        Ok(Principal {
            user_id,
            user_name: name,
            token: None,
            server_proof: None,
            second_factor_pending,
        })
    }

    /// Whether the instance's public-network door lets a logon from `client` in: checked
    /// before any credential, so a refused source spends nothing and learns nothing.
    fn instance_admits(&self, client: SocketAddr) -> Result<(), Refusal> {
        self.replica
            .view()
            .read(|s| s.instance().admits(client.ip()))
            .map_err(|why| refusal(RefusalKind::NotAuthorized, why))
    }

    /// Per-source rate limiting happens at the door, in the SSH gateway.
    async fn authenticate_inner(&self, attempt: AuthAttempt) -> Result<Principal, Refusal> {
        if let Err(r) = self.instance_admits(attempt.client()) {
            tracing::info!(client = %attempt.client(), reason = %r.message, "logon refused at the instance's door");
            self.refused(&r);
            return Err(r);
        }
        let result = match attempt {
            AuthAttempt::Password {
                user,
                password,
                client,
            } => match self.login_token(&user, &password.0, client).await {
                Some(r) => r,
                None => self.login_password(&user, password.0).await,
            },
            AuthAttempt::MySqlNative {
                user,
                scramble,
                answer,
                client,
            } => {
                self.login_mysql_native(&user, &scramble, &answer, client)
                    .await
            }
            AuthAttempt::PgScram {
                user,
                proof,
                client,
            } => self.login_pg_scram(&user, &proof, client).await,
            AuthAttempt::PublicKey {
                user, public_key, ..
            } => self.login_key(&user, &public_key),
        };
        if let Err(r) = &result {
            self.refused(r);
        }
        result
    }

    pub(crate) fn refused(&self, r: &Refusal) {
        let reason = format!("{:?}", r.kind).to_lowercase();
        self.metrics
            .login_failures_total
            .with_label_values(&[&reason])
            .inc();
    }

    async fn open_inner(
        &self,
        principal: &Principal,
        spec: TargetSpec,
        purpose: Purpose,
        client: SocketAddr,
    ) -> Result<Admission, Refusal> {
        if principal.token.is_some() {
            // The data path serves a token login with the session its login opened
            // (`Principal::token`), never a second one.
            return Err(refusal(
                RefusalKind::NotAuthorized,
                "This O&M token opens its own session only; log in again for another target.",
            ));
        }
        let epoch = self.admitting()?;
        let (asset, account_id, protocol) = self
            .replica
            .view()
            .read(|s| permit::resolve(s, principal.user_id, now_ms(), &spec))
            .ok_or_else(|| refusal::from_rejection(&portunus_model::Rejection::NotAuthorized))?;
        let policy_check = self.replica.view().read(|s| {
            let p = policy::governing(s, principal.user_id, asset, Some(account_id));
            policy::admission(p, client.ip(), now_ms())
        });
        if let Err(r) = policy_check {
            self.refused(&r);
            return Err(r);
        }
        if let (Purpose::Tunnel { .. }, AssetRef::Host(id)) = (&purpose, &asset) {
            // Refused before a session is opened; the data path checks the permit again.
            let name = self
                .replica
                .view()
                .read(|s| s.host(*id).map(|h| h.name.clone()));
            let refused = host_tunnel_refusal(name.as_deref().unwrap_or("this asset"));
            self.refused(&refused);
            return Err(refused);
        }
        if let (Purpose::Query, AssetRef::Host(_)) = (&purpose, &asset) {
            let refused = refusal(
                RefusalKind::NotAuthorized,
                "The web database console reaches databases; open a terminal for a host.",
            );
            self.refused(&refused);
            return Err(refused);
        }
        let open = Command::OpenSession {
            user_id: principal.user_id,
            asset,
            account_id,
            protocol,
            node_id: self.shared.node_id,
            node_epoch: epoch,
            client_addr: client.to_string(),
        };
        let opened = crate::metered::propose(&self.replica, &self.metrics, open).await;
        let result = match opened {
            Ok(Response::SessionOpened(grant)) => self.admit(&grant, &principal.user_name),
            Ok(other) => Err(refusal(
                RefusalKind::Internal,
                format!("unexpected answer {other:?}"),
            )),
            Err(e) => Err(from_replica(&e)),
        };
        if let Err(r) = &result {
            self.refused(r);
        }
        result
    }
}

/// Gives sessions back: what every [`Admission`] of this node runs when its session ends.
struct Closing {
    replica: Replica,
    metrics: Arc<portunus_ops::Metrics>,
    shared: Arc<NodeShared>,
    /// Where a closed session's events are sealed (None on a node without SSH).
    audit: Option<Arc<crate::audit::FileAudit>>,
}

impl Closing {
    fn count_closed(&self, session_id: u64, outcome: &SessionOutcome) {
        let protocol = self
            .replica
            .view()
            .read(|s| {
                s.session(session_id)
                    .map(|x| x.protocol.to_string().to_lowercase())
            })
            .unwrap_or_else(|| "unknown".into());
        let end = format!("{:?}", outcome.end).to_lowercase();
        self.metrics
            .sessions_total
            .with_label_values(&[&protocol, &end])
            .inc();
        // The spliced part first: a reader that saw the session's bytes sees it too.
        self.metrics
            .forwarded_spliced_bytes_total
            .inc_by(outcome.spliced);
        let bytes = &self.metrics.forwarded_bytes_total;
        bytes.with_label_values(&["up"]).inc_by(outcome.bytes_up);
        bytes
            .with_label_values(&["down"])
            .inc_by(outcome.bytes_down);
    }

    async fn close(&self, session_id: u64, outcome: SessionOutcome) {
        // Into `closing` before out of `live`: the orphan check never sees it in neither.
        self.shared.closing.lock().expect("lock").insert(session_id);
        self.shared.live.lock().expect("lock").remove(&session_id);
        self.count_closed(session_id, &outcome);
        if let Some(audit) = &self.audit {
            audit.note(serde_json::json!({
                "type": "session_close", "session_id": session_id, "at": now_ms(),
                "node": self.shared.node_id, "end": format!("{:?}", outcome.end).to_lowercase(),
                "bytes_up": outcome.bytes_up, "bytes_down": outcome.bytes_down,
            }));
        }
        let events = match &self.audit {
            Some(audit) => Some(audit.seal(session_id).await),
            None => None,
        };
        let reason = match outcome.end {
            EndKind::Normal => EndReason::Normal,
            EndKind::Terminated => EndReason::Terminated,
            EndKind::Error => EndReason::Error,
            EndKind::Idle => EndReason::Timeout,
        };
        let close = Command::CloseSession {
            session_id,
            node_id: self.shared.node_id,
            node_epoch: self.shared.epoch.load(Ordering::SeqCst),
            reason,
            bytes_up: outcome.bytes_up,
            bytes_down: outcome.bytes_down,
            events,
        };
        for _ in 0..20 {
            match crate::metered::propose(&self.replica, &self.metrics, close.clone()).await {
                Err(e) if e.is_retryable() => {
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await
                }
                Err(e) => {
                    tracing::debug!(session_id, error = %e, "closing session");
                    return;
                }
                Ok(_) => {
                    self.shared
                        .closing
                        .lock()
                        .expect("lock")
                        .remove(&session_id);
                    return;
                }
            }
        }
        // Still in `closing`: the orphan check closes it (as a session that ran) once the
        // cluster answers again.
    }
}

impl SessionGate for Gate {
    fn authenticate(&self, attempt: AuthAttempt) -> BoxFuture<'_, Result<Principal, Refusal>> {
        Box::pin(self.authenticate_inner(attempt))
    }

    fn second_factor<'a>(
        &'a self,
        principal: &'a mut Principal,
        code: portunus_proxy::gate::Secret,
    ) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(async move {
            let checked = self.check_second_factor(principal, &code.0).await;
            if let Err(r) = &checked {
                self.refused(r);
            }
            checked
        })
    }

    fn targets<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<Vec<Target>, Refusal>> {
        let user = principal.user_id;
        Box::pin(async move {
            Ok(self
                .replica
                .view()
                .read(|s| permit::targets(s, user, now_ms())))
        })
    }

    fn open<'a>(
        &'a self,
        principal: &'a Principal,
        target: TargetSpec,
        purpose: Purpose,
        client: SocketAddr,
    ) -> BoxFuture<'a, Result<Admission, Refusal>> {
        Box::pin(self.open_inner(principal, target, purpose, client))
    }

    fn trust_host_key<'a>(
        &'a self,
        permit: &'a Permit,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(async move {
            let required = self
                .replica
                .view()
                .read(|s| s.settings().require_host_key_pins);
            if required {
                let host = &permit.asset_name;
                tracing::warn!(%host, presented = %fingerprint, "ssh: host key not pinned, and pins are required");
                let refusal = refusal(
                    RefusalKind::HostKeyMismatch,
                    format!(
                        "{host} has no pinned host key and this bastion requires one; no \
                         credential was sent. An administrator checks the key on the host \
                         (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub; it presented \
                         {fingerprint}) and pins it: portunus admin host fingerprint {host} \
                         --set SHA256:..."
                    ),
                );
                self.refused(&refusal);
                return Err(refusal);
            }
            let cmd = Command::TrustHostKey {
                host_id: permit.asset_id,
                fingerprint: fingerprint.to_string(),
            };
            self.replica
                .propose(cmd)
                .await
                .map(|_| ())
                .map_err(|e| from_replica(&e))
        })
    }

    fn trust_proxy_key<'a>(
        &'a self,
        route: &'a portunus_proxy::route::Route,
        hop: &'a portunus_proxy::route::ProxyHop,
        fingerprint: &'a str,
    ) -> BoxFuture<'a, Result<(), Refusal>> {
        Box::pin(async move {
            let trusted = proxy_keys::trust(&self.replica, route, hop, fingerprint).await;
            trusted.inspect_err(|r| self.refused(r))
        })
    }

    fn database_tls_required(&self) -> bool {
        (self.replica.view()).read(|s| s.settings().database_require_tls)
    }

    fn ask_approval<'a>(
        &'a self,
        session_id: u64,
        command: &'a str,
    ) -> BoxFuture<'a, Result<u64, Refusal>> {
        Box::pin(approval::ask(
            &self.replica,
            &self.metrics,
            session_id,
            command,
        ))
    }

    fn withdraw_approval(&self, session_id: u64, id: u64) -> BoxFuture<'_, Result<(), Refusal>> {
        Box::pin(approval::withdraw(
            &self.replica,
            &self.metrics,
            session_id,
            id,
        ))
    }

    fn approval_decision(&self, id: u64) -> BoxFuture<'static, Decision> {
        Box::pin(approval::decision(self.replica.clone(), id))
    }

    fn idle_timeout(&self) -> Option<std::time::Duration> {
        let secs = self
            .replica
            .view()
            .read(|s| s.settings().session_idle_timeout_secs);
        (secs > 0).then(|| std::time::Duration::from_secs(secs))
    }

    fn terminated(&self, session_id: u64) -> BoxFuture<'static, String> {
        let view = self.replica.view().clone();
        let mut fenced = self.shared.fenced.subscribe();
        Box::pin(async move {
            let ordered = async {
                let mut rx = view.subscribe();
                // Time alone can withdraw access (a token or a user's validity ends).
                let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    let ended = view.read(|s| {
                        let x = s.session(session_id)?;
                        if x.terminate_requested {
                            return Some(TERMINATED_BY_ADMIN.to_string());
                        }
                        if x.ended_at_ms.is_some() {
                            return Some(RECLAIMED.to_string());
                        }
                        s.check_session_access(session_id, now_ms())
                            .err()
                            .map(|r| withdrawn(&r))
                    });
                    if let Some(why) = ended {
                        return why;
                    }
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() {
                            return TERMINATED_BY_ADMIN.to_string();
                        },
                        _ = tick.tick() => {}
                    }
                }
            };
            tokio::select! {
                why = ordered => why,
                // The session lease lapsed: the majority is about to give this slot away.
                _ = fenced.wait_for(|f| *f) => {
                    tracing::warn!(session_id, "ending the session: this node lost its lease");
                    LEASE_LAPSED.to_string()
                }
            }
        })
    }
}
