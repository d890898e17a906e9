//! Synchronization of users from the LDAP and AD directories: on demand through the API
//! (`SyncInstanceLDAPUsers`, `SyncInstanceADUsers`) and every `SyncInterval` hours by the
//! leader. Each run reads the whole directory from one node (see
//! [`crate::directory::Directory::snapshot`]) and proposes what it read as one
//! `SyncDirectory` command, which every node applies alike. A run that cannot read the
//! directory records why (`DirectorySyncFailed`) and changes nothing else; the leader tries
//! again after [`RETRY_AFTER`].

use crate::directory::{DirectoryError, DirectoryKind};
use crate::running::NodeShared;
use portunus_model::{Command, DirectoryEntry, DirectorySettings, SyncReport, UserSource};
use portunus_raft::Replica;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How often the leader looks whether a synchronization is due.
const CHECK_EVERY: Duration = Duration::from_secs(60);
/// After a failed run, the next automatic one comes this much later.
pub const RETRY_AFTER: Duration = Duration::from_secs(15 * 60);

/// Whether an automatic synchronization is due at `now_ms`, given the last one.
pub fn due(settings: &DirectorySettings, last: Option<&SyncReport>, now_ms: u64) -> bool {
    if settings.sync.interval_hours == 0 {
        return false;
    }
    let Some(last) = last else {
        return true;
    };
    let wait_ms = match last.error {
        Some(_) => RETRY_AFTER.as_millis() as u64,
        None => u64::from(settings.sync.interval_hours) * 3_600_000,
    };
    now_ms >= last.at_ms.saturating_add(wait_ms)
}

/// Reads the directory `source` names with `settings` from this node.
pub(crate) async fn read(
    shared: &NodeShared,
    source: UserSource,
    settings: &DirectorySettings,
    service_password: Option<&str>,
) -> Result<Vec<DirectoryEntry>, String> {
    let Some(directory) = &shared.directory else {
        return Err(crate::backend::NO_DIRECTORY_CA.to_string());
    };
    let kind = match source {
        UserSource::Ad => DirectoryKind::Ad,
        _ => DirectoryKind::Ldap,
    };
    let entries = directory
        .snapshot(kind, settings, service_password)
        .await
        .map_err(|e: DirectoryError| e.to_string())?;
    if entries.is_empty() {
        // Applying an empty answer would lock every user of the directory at once; a filter
        // or base DN that matches nobody is far likelier than a directory without users.
        return Err(format!(
            "the {} directory returned no user entries under {}; nothing was changed (check \
             BaseDN and Filter)",
            kind.name(),
            settings.base_dn
        ));
    }
    Ok(entries)
}

/// One automatic run for `source`: read, then propose what was read or why it failed.
async fn sync_once(replica: &Replica, shared: &NodeShared, source: UserSource) {
    let settings = replica.view().read(|s| match source {
        UserSource::Ad => s.ad_settings().cloned(),
        _ => s.ldap_settings().cloned(),
    });
    let Some(settings) = settings else {
        return;
    };
    let password = match &settings.password {
        Some(sealed) => {
            let purpose = portunus_model::seal_purpose::DIRECTORY_BIND_PASSWORD;
            match shared.sealer.open(purpose, sealed) {
                Ok(plain) => Ok(Some(String::from_utf8_lossy(&plain).into_owned())),
                Err(e) => Err(format!(
                    "the service account's password cannot be unsealed: {e}"
                )),
            }
        }
        None => Ok(None),
    };
    let read = match password {
        Ok(password) => read(shared, source, &settings, password.as_deref()).await,
        Err(e) => Err(e),
    };
    let command = match read {
        Ok(entries) => Command::SyncDirectory { source, entries },
        Err(error) => {
            tracing::warn!(?source, %error, "directory synchronization could not read the directory");
            Command::DirectorySyncFailed { source, error }
        }
    };
    match replica.propose_as_leader(command).await {
        Ok(portunus_model::Response::DirectorySynced(r)) if r.error.is_none() => {
            tracing::info!(
                ?source,
                entries = r.entries,
                created = r.created,
                updated = r.updated,
                locked = r.locked,
                unlocked = r.unlocked,
                conflicts = r.user_conflict_count + r.group_conflict_count,
                "directory synchronized"
            );
        }
        Ok(portunus_model::Response::Rejected(why)) => {
            tracing::warn!(?source, %why, "directory synchronization refused");
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(?source, error = %e, "directory synchronization not applied"),
    }
}

/// The leader's loop: runs each directory's synchronization when it is due.
pub(crate) async fn run(
    replica: Replica,
    shared: Arc<NodeShared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let status = replica.status();
        if status.leader != Some(status.node_id) {
            continue;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        for source in [UserSource::Ldap, UserSource::Ad] {
            let is_due = replica.view().read(|s| {
                let settings = match source {
                    UserSource::Ad => s.ad_settings(),
                    _ => s.ldap_settings(),
                };
                settings.is_some_and(|d| due(d, s.directory_sync(source), now))
            });
            if is_due {
                sync_once(&replica, &shared, source).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portunus_model::DirectorySync;

    fn every(hours: u32) -> DirectorySettings {
        DirectorySettings {
            sync: DirectorySync {
                interval_hours: hours,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn a_run_is_due_after_the_interval_or_sooner_after_a_failure() {
        let h = 3_600_000;
        assert!(!due(&every(0), None, 0), "on demand only");
        assert!(due(&every(4), None, 0), "never synchronized");
        let ok = SyncReport {
            at_ms: 10 * h,
            ..Default::default()
        };
        assert!(!due(&every(4), Some(&ok), 14 * h - 1));
        assert!(due(&every(4), Some(&ok), 14 * h));
        let failed = SyncReport {
            at_ms: 10 * h,
            error: Some("down".into()),
            ..Default::default()
        };
        let retry = RETRY_AFTER.as_millis() as u64;
        assert!(!due(&every(24), Some(&failed), 10 * h + retry - 1));
        assert!(due(&every(24), Some(&failed), 10 * h + retry));
    }
}
