//! Registration of this node in the cluster (its epoch) and, on the very first start of a new
//! cluster, the first administrator: a local user `admin` and an Admin AccessKey pair.

use crate::config::{NodeConfig, Role};
use crate::running::NodeShared;
use anyhow::Context;
use argon2::password_hash::{PasswordHasher, SaltString};
use portunus_model::{Command, NewUser, Rejection, Response, Role as KeyRole, UserSource};
use portunus_raft::{Replica, ReplicaError};
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// Name of the administrator created on first start.
pub const ADMIN_USER: &str = "admin";
/// Sealing purpose of AccessKey secrets.
pub const ACCESS_KEY_PURPOSE: &str = crate::seal::purpose::ACCESS_KEY_SECRET;

/// The first administrator's credentials, shown once and kept in a 0600 file.
#[derive(Clone)]
pub struct AdminCredentials {
    pub user: String,
    pub password: String,
    pub access_key_id: String,
    pub access_key_secret: String,
}

impl fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AdminCredentials({}, {}, <secret>)",
            self.user, self.access_key_id
        )
    }
}

pub use portunus_ops::api::random_text;

/// Hash a password for storage (argon2id, PHC string).
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; 16];
    aws_lc_rs::rand::fill(&mut salt).expect("system randomness");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes is a valid salt");
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters")
        .to_string()
}

/// Propose until it succeeds or the node stops.
async fn propose_retrying(replica: &Replica, command: Command) -> Result<Response, ReplicaError> {
    loop {
        match replica.propose(command.clone()).await {
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(300)).await,
            other => return other,
        }
    }
}

/// Register this node (bumping its epoch, which frees anything a previous run held), then
/// create the first administrator if the cluster has none.
pub(crate) async fn register(
    replica: Replica,
    shared: Arc<NodeShared>,
    config: NodeConfig,
    admin_tx: oneshot::Sender<Option<AdminCredentials>>,
) {
    let node_id = shared.node_id;
    match propose_retrying(&replica, Command::NodeStarted { node_id }).await {
        Ok(Response::NodeEpoch { epoch, .. }) => {
            shared.epoch.store(epoch, Ordering::SeqCst);
            tracing::info!(node_id, epoch, "node registered");
        }
        other => {
            tracing::error!(?other, "node registration failed");
            return;
        }
    }
    let instance_id = match crate::backend::random_instance_id() {
        Ok(id) => id,
        Err(e) => {
            tracing::error!(error = %e, "naming the instance failed");
            return;
        }
    };
    match propose_retrying(&replica, Command::EnsureInstanceId { instance_id }).await {
        Ok(Response::InstanceId { instance_id }) => {
            tracing::info!(%instance_id, "instance");
            let _ = shared.instance_id.set(instance_id);
        }
        other => {
            tracing::error!(?other, "naming the instance failed");
            return;
        }
    }
    let creds = match shared.role {
        Role::Engine => match create_admin(&replica, &shared, &config).await {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "creating the first administrator failed");
                None
            }
        },
        Role::Witness => None,
    };
    let _ = admin_tx.send(creds);
}

async fn create_admin(
    replica: &Replica,
    shared: &NodeShared,
    config: &NodeConfig,
) -> anyhow::Result<Option<AdminCredentials>> {
    let empty = replica
        .read_linearizable(|s| s.users().next().is_none() && s.access_keys().next().is_none())
        .await?;
    if !empty {
        return Ok(None);
    }
    let password = random_text(20);
    let user = NewUser {
        name: ADMIN_USER.into(),
        display_name: "Administrator".into(),
        comment: "created on first start".into(),
        source: UserSource::Local,
        password_hash: Some(hash_password(&password)),
        ..Default::default()
    };
    let user_id = match propose_retrying(replica, Command::CreateUser(user)).await {
        Ok(Response::Created { id }) => id,
        Err(ReplicaError::Rejected(Rejection::AlreadyExists { .. })) => return Ok(None),
        other => anyhow::bail!("unexpected answer creating admin: {other:?}"),
    };
    let (access_key_id, access_key_secret) = match (
        std::env::var("PORTUNUS_BOOTSTRAP_ACCESS_KEY_ID"),
        std::env::var("PORTUNUS_BOOTSTRAP_ACCESS_KEY_SECRET"),
    ) {
        (Ok(id), Ok(secret)) if !id.is_empty() && !secret.is_empty() => (id, secret),
        _ => portunus_ops::api::new_access_key(),
    };
    let command = Command::CreateAccessKey {
        access_key_id: access_key_id.clone(),
        secret: shared
            .sealer
            .seal(ACCESS_KEY_PURPOSE, access_key_secret.as_bytes())?,
        role: KeyRole::Admin,
        user_id: Some(user_id),
        comment: "first administrator".into(),
    };
    propose_retrying(replica, command).await?;
    let creds = AdminCredentials {
        user: ADMIN_USER.into(),
        password,
        access_key_id,
        access_key_secret,
    };
    let text = format!(
        "instance_id = \"{}\"\nuser = \"{}\"\npassword = \"{}\"\naccess_key_id = \"{}\"\naccess_key_secret = \"{}\"\n",
        shared
            .instance_id
            .get()
            .context("the instance has no name yet")?,
        creds.user,
        creds.password,
        creds.access_key_id,
        creds.access_key_secret
    );
    crate::secret_file::write_private(
        &config.data_dir.join("admin-credentials.toml"),
        text.as_bytes(),
    )?;
    Ok(Some(creds))
}

/// Check a password against a stored hash. Without a hash, a dummy verification runs so that
/// an unknown user costs the same time as a wrong password.
pub fn verify_password(hash: Option<&str>, password: &str) -> bool {
    use argon2::password_hash::{PasswordHash, PasswordVerifier};
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3p1TiP0Pw3oH6tJDy0CqUxnbqxMh0sx1Ulj1BR7KFoo";
    let parsed = PasswordHash::new(hash.unwrap_or(DUMMY));
    let Ok(parsed) = parsed else { return false };
    let ok = argon2::Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && hash.is_some()
}
