//! "Open in local client": `POST /web/api/launch` issues a fresh O&M token for one of the
//! engineer's host or database accounts, good for one login within five minutes, and answers a
//! `portunus://launch?...` link that the page hands to the browser; the browser passes it to the
//! launcher registered for the scheme (`portunus sso`), which starts OpenSSH against the SSH
//! port, or `mysql`, `psql` or DBeaver against the native database ports, logged in with the
//! token. The token is issued and audited as the token dialog's is.

use crate::error::WebError;
use crate::login::client_of;
use crate::portal::{audit, om_address, outcome, propose_token};
use crate::session::Authed;
use crate::Web;
use axum::extract::State;
use axum::http::{Extensions, HeaderMap};
use axum::Json;
use portunus_model::{AssetRef, DbEngine, Protocol, State as Model, TokenAccount};
use portunus_ops::api::{new_token_for, TokenTarget};
use serde::Deserialize;
use serde_json::{json, Value};

/// How long a launch token is good for (it is good for one login).
pub(crate) const LAUNCH_VALIDITY_SECS: u64 = 300;

/// What the page asks to open: a host account or a database account, with the client the
/// engineer chose for the protocol (the launcher's names).
#[derive(Deserialize)]
pub(crate) struct LaunchForm {
    #[serde(default)]
    host_id: Option<u64>,
    #[serde(default)]
    database_id: Option<u64>,
    account_id: u64,
    #[serde(default)]
    client: Option<String>,
}

/// The account the link opens.
struct Target {
    asset: AssetRef,
    protocol: Protocol,
    /// The link's protocol word and the clients that open it (the first is the default).
    scheme: (&'static str, &'static [&'static str]),
    engine: Option<DbEngine>,
    asset_name: String,
    account_name: String,
}

fn target_of(s: &Model, form: &LaunchForm) -> Result<Target, WebError> {
    let gone = || WebError::BadRequest("no such account; reload the page".into());
    match (form.host_id, form.database_id) {
        (Some(host_id), None) => {
            let h = s.host(host_id).ok_or_else(gone)?;
            let a = s
                .host_account(form.account_id)
                .filter(|a| a.host_id == h.id && a.protocol == Protocol::Ssh)
                .ok_or_else(gone)?;
            Ok(Target {
                asset: AssetRef::Host(h.id),
                protocol: Protocol::Ssh,
                scheme: ("ssh", &["ssh"]),
                engine: None,
                asset_name: h.name.clone(),
                account_name: a.name.clone(),
            })
        }
        (None, Some(database_id)) => {
            let d = s.database(database_id).ok_or_else(gone)?;
            let a = s
                .database_account(form.account_id)
                .filter(|a| a.database_id == d.id)
                .ok_or_else(gone)?;
            let scheme = match d.engine {
                DbEngine::MySql => ("mysql", &["mysql", "dbeaver"][..]),
                DbEngine::PostgreSql => ("postgresql", &["psql", "dbeaver"][..]),
                _ => {
                    return Err(WebError::BadRequest(format!(
                        "local clients open MySQL and PostgreSQL databases; {} is reached \
                         through Apply for O&M token and an SSH tunnel",
                        d.engine.protocol().api_name()
                    )))
                }
            };
            Ok(Target {
                asset: AssetRef::Database(d.id),
                protocol: d.engine.protocol(),
                scheme,
                engine: Some(d.engine),
                asset_name: d.name.clone(),
                account_name: a.name.clone(),
            })
        }
        _ => Err(WebError::BadRequest(
            "name either a host or a database, with one of its accounts".into(),
        )),
    }
}

/// A query value, percent-encoded (everything but unreserved characters).
fn encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The launch link of these fields, in this order.
pub(crate) fn link(fields: &[(&str, &str)]) -> String {
    let query: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    format!("portunus://launch?{}", query.join("&"))
}

/// `POST /web/api/launch`.
pub(crate) async fn launch(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Json(form): Json<LaunchForm>,
) -> Result<Json<Value>, WebError> {
    let authed = web.acting(&headers, false).await?;
    let source = client_of(&ext);
    let address = om_address(&web, &headers, source.ip());
    let source = source.to_string();
    let mut found = Err(WebError::Internal);
    web.backend.read(&mut |s| found = target_of(s, &form));
    let target = found?;
    let issued = issue(&web, &authed, &target, &form, &address).await;
    let result = outcome(&issued);
    let (kind, asset_id) = match target.asset {
        AssetRef::Host(id) => ("Host", id),
        AssetRef::Database(id) => ("Database", id),
    };
    let params = [
        ("AssetType", kind.to_string()),
        ("AssetId", asset_id.to_string()),
        ("AssetAccountId", form.account_id.to_string()),
        ("LocalClient", target.scheme.0.to_string()),
    ];
    audit(
        &web,
        &authed,
        "GenerateAssetOperationToken",
        &params,
        source,
        result,
    )
    .await;
    issued.map(Json)
}

async fn issue(
    web: &Web,
    authed: &Authed,
    target: &Target,
    form: &LaunchForm,
    host: &str,
) -> Result<Value, WebError> {
    let (protocol_word, clients) = target.scheme;
    let client = match form.client.as_deref().filter(|c| !c.is_empty()) {
        None => clients[0],
        Some(c) => clients.iter().copied().find(|k| *k == c).ok_or_else(|| {
            WebError::BadRequest(format!(
                "{c} does not open {protocol_word}: choose one of {}",
                clients.join(", ")
            ))
        })?,
    };
    let port = match target.engine {
        None => web.gate.ssh_port(),
        Some(engine) => web.gate.database_port(engine),
    }
    .ok_or_else(|| {
        WebError::BadRequest(format!(
            "this bastion node serves no {protocol_word} port for local clients; use Apply \
             for O&M token and an SSH tunnel"
        ))
    })?;
    let token_target = TokenTarget {
        user_id: authed.user_id,
        user_name: &authed.user_name,
        asset: target.asset,
        account: TokenAccount::Hosted(form.account_id),
        protocol: target.protocol,
    };
    let (token, mut new) = new_token_for(token_target, None).ok_or(WebError::Internal)?;
    new.use_count = Some(1);
    new.validity_secs = Some(LAUNCH_VALIDITY_SECS);
    let receipt = propose_token(web, new).await?;
    tracing::info!(user = %authed.user_name, asset = %target.asset_name, client, token_id = receipt.token_id, "web: local client launch token issued");
    let port = port.to_string();
    let url = link(&[
        ("protocol", protocol_word),
        ("client", client),
        ("host", host),
        ("port", &port),
        ("user", &authed.user_name),
        ("token", &token),
        ("asset", &target.asset_name),
        ("account", &target.account_name),
    ]);
    Ok(json!({
        "url": url,
        "client": client,
        "title": format!("{} as {} with {client}", target.asset_name, target.account_name),
        "token_id": receipt.token_id,
        "expire_at_ms": receipt.expire_at_ms,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_every_value() {
        assert_eq!(
            link(&[
                ("host", "[::1]"),
                ("asset", "web 01&x=1"),
                ("user", "alice")
            ]),
            "portunus://launch?host=%5B%3A%3A1%5D&asset=web%2001%26x%3D1&user=alice"
        );
    }
}
