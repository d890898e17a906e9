//! "My AccessKeys": an engineer's own API keys, made and deleted in the portal. Each is an
//! Operator key acting as that engineer, so the official SDK's unchanged calls
//! (`GenerateAssetOperationToken` above all) act for them, as a RAM user's key does in
//! Bastionhost. The secret is shown once, when the key is made; the state keeps it sealed.
//! Every change is in the admin audit trail, by the user through the portal.

use crate::error::WebError;
use crate::login::client_of;
use crate::portal::audit;
use crate::Web;
use axum::extract::{Path, State};
use axum::http::{Extensions, HeaderMap};
use axum::Json;
use portunus_model::{AccessKey, Command, Role};
use serde::Deserialize;
use serde_json::{json, Value};

/// Keys one engineer may hold.
pub(crate) const MAX_KEYS: usize = 5;
fn mine(k: &AccessKey, user_id: u64) -> bool {
    k.role == Role::Operator && k.user_id == Some(user_id)
}

fn listed(k: &AccessKey) -> Value {
    json!({
        "id": k.access_key_id, "enabled": k.enabled, "comment": k.comment,
        "created_ms": k.created_at_ms,
    })
}

/// `GET /web/api/keys`: the user's own keys (never their secrets).
pub(crate) async fn list(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Json<Value>, WebError> {
    let authed = web.logged_in(&headers).await?;
    let mut keys = Vec::new();
    web.backend.read(&mut |s| {
        keys = s
            .access_keys()
            .filter(|k| mine(k, authed.user_id))
            .map(listed)
            .collect();
    });
    Ok(Json(json!({ "keys": keys, "max": MAX_KEYS })))
}

#[derive(Deserialize)]
pub(crate) struct NewKeyForm {
    #[serde(default)]
    comment: String,
}

/// `POST /web/api/keys`: a new key of the user's; its secret is in this answer only.
pub(crate) async fn create(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Json(form): Json<NewKeyForm>,
) -> Result<Json<Value>, WebError> {
    let authed = web.acting(&headers, false).await?;
    let client = client_of(&ext).to_string();
    let made = make(&web, authed.user_id, form.comment.trim()).await;
    let (result, id) = match &made {
        Ok((id, _)) => ("OK", id.clone()),
        Err(e) => (e.code(), String::new()),
    };
    let params = [("AccessKeyId", id), ("Role", "Operator".to_string())];
    audit(&web, &authed, "CreateAccessKey", &params, client, result).await;
    let (id, secret) = made?;
    Ok(Json(json!({ "id": id, "secret": secret })))
}

async fn make(web: &Web, user_id: u64, comment: &str) -> Result<(String, String), WebError> {
    let mut held = 0;
    web.backend
        .read(&mut |s| held = s.access_keys().filter(|k| mine(k, user_id)).count());
    if held >= MAX_KEYS {
        return Err(WebError::BadRequest(format!(
            "you hold {held} AccessKeys, the most one engineer may: delete one first"
        )));
    }
    let (id, secret) = portunus_ops::api::new_access_key();
    let sealed = web
        .backend
        .seal(portunus_ops::api::ACCESS_KEY_PURPOSE, secret.as_bytes())?;
    web.propose(Command::CreateAccessKey {
        access_key_id: id.clone(),
        secret: sealed,
        role: Role::Operator,
        user_id: Some(user_id),
        comment: comment.to_string(),
    })
    .await?;
    tracing::info!(%user_id, key = %id, "web: an engineer made an AccessKey");
    Ok((id, secret))
}

/// `POST /web/api/keys/{id}/delete`: deletes one of the user's own keys (another's is "not
/// found", whoever holds it).
pub(crate) async fn delete(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, WebError> {
    let authed = web.acting(&headers, false).await?;
    let client = client_of(&ext).to_string();
    let mut owned = false;
    web.backend
        .read(&mut |s| owned = s.access_key(&id).is_some_and(|k| mine(k, authed.user_id)));
    let done = if owned {
        web.propose(Command::DeleteAccessKey {
            access_key_id: id.clone(),
        })
        .await
        .map(|_| ())
        .map_err(WebError::from)
    } else {
        Err(WebError::NotFound(format!("you hold no AccessKey {id:?}")))
    };
    let result = match &done {
        Ok(()) => "OK",
        Err(e) => e.code(),
    };
    let params = [("AccessKeyId", id.clone())];
    audit(&web, &authed, "DeleteAccessKey", &params, client, result).await;
    done.map(|()| Json(json!({ "deleted": id })))
}
