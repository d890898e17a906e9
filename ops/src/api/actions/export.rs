//! Configuration backups: CreateExportConfigJob takes the cluster's configuration (everything
//! administrators set, secrets sealed as stored, no history; see `portunus_model::Configuration`)
//! as one JSON document and keeps it on a majority of the members; GetExportConfigJob, through
//! any node, hands it out as a `data:` URL (the document itself, so nothing else serves it and
//! nothing expires). Both need an Admin key: the document holds password hashes and sealed
//! secrets. `portunus cluster import-config FILE` restores it into a fresh cluster that has the
//! same sealing key file.

use crate::api::call::{one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, req, Action, Ty};
use crate::config_export::{ConfigDocument, FORMAT};
use base64::Engine;
use portunus_model::Role;

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateExportConfigJob",
        Write,
        create,
        "Exports the configuration (users, groups, assets, accounts, authorizations, rules, \
         policies, projects, settings, AccessKeys; secrets sealed, no history) as a JSON \
         document kept on a majority of the members; JobId names it.",
        []
    ),
    action!(
        "GetExportConfigJob",
        Write,
        get,
        "Hands out an export through any node: DownloadUrl is the document as a data: URL \
         (ExpireTime 0: it does not expire). Restore with `portunus cluster import-config`.",
        [req("JobId", Ty::Str)]
    ),
];

/// The blob name of a job's document.
fn blob(job: &str) -> String {
    format!("config-export-{job}")
}

/// A job id as `create` makes them: the creation time in milliseconds and 16 hex digits.
fn check_job(job: &str) -> Result<(), ApiError> {
    let ok = job.split_once('-').is_some_and(|(ms, tail)| {
        !ms.is_empty()
            && ms.bytes().all(|b| b.is_ascii_digit())
            && tail.len() == 16
            && tail.bytes().all(|b| b.is_ascii_hexdigit())
    });
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "JobId",
            "not an export job id (CreateExportConfigJob answers them)",
        ))
    }
}

fn admin_only(c: &Call) -> Result<(), ApiError> {
    match c.caller.role {
        Role::Admin => Ok(()),
        _ => Err(ApiError::Forbidden(
            "a configuration export holds password hashes and sealed secrets: an Admin key is needed"
                .into(),
        )),
    }
}

async fn create(c: &Call) -> ApiResult {
    admin_only(c)?;
    let configuration = c.read(|s| s.configuration()).await?;
    let doc = ConfigDocument {
        format: FORMAT.to_string(),
        instance_id: c.backend.instance_id(),
        created_at: c.now_ms,
        seal_key_id: c.backend.seal_key_id(),
        configuration,
    };
    let bytes = serde_json::to_vec(&doc).map_err(|e| {
        tracing::error!(error = %e, "the configuration did not encode");
        ApiError::Internal
    })?;
    let mut random = [0u8; 8];
    aws_lc_rs::rand::fill(&mut random).map_err(|_| ApiError::Internal)?;
    let job = format!("{}-{}", c.now_ms, hex::encode(random));
    c.backend.put_export(&blob(&job), bytes).await?;
    Ok(one("JobId", job))
}

async fn get(c: &Call) -> ApiResult {
    admin_only(c)?;
    let job = c.p.req("JobId")?;
    check_job(job)?;
    let Some(bytes) = c.backend.get_export(&blob(job)).await else {
        return Err(ApiError::invalid(
            "JobId",
            "no member of the cluster holds an export with this id",
        ));
    };
    let summary = ConfigDocument::parse(&bytes)
        .map(|d| d.summary())
        .map_err(|e| {
            tracing::error!(job, error = %e, "a stored configuration export does not read");
            ApiError::Internal
        })?;
    let url = format!(
        "data:application/json;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(&bytes)
    );
    let mut body = one("JobId", job);
    body.insert("Status".into(), "Success".into());
    body.insert("DownloadUrl".into(), url.into());
    body.insert("ExpireTime".into(), 0.into());
    body.insert(
        "Message".into(),
        format!(
            "{summary}; restore it into a fresh cluster with the same sealing key file: \
             portunus cluster import-config FILE"
        )
        .into(),
    );
    Ok(body)
}
