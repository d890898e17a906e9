//! The engineer's O&M portal: the hosts and databases the user is authorized for now, with
//! their accounts, and "Apply for O&M token" on a database account, answered with the client
//! SSH tunnel configuration of seed 000 and commands ready to copy.

use crate::error::WebError;
use crate::login::client_of;
use crate::session::Authed;
use crate::{now_ms, Web};
use axum::extract::State;
use axum::http::{header, Extensions, HeaderMap};
use axum::Json;
use portunus_model::{
    AdminAuditRecord, AssetRef, Command, DbEngine, Protocol, Response, Role, State as Model,
    TokenAccount,
};
use portunus_ops::api::{new_token_for, TokenTarget};
use serde::Deserialize;
use serde_json::{json, Value};

/// The hosts and databases `user` may reach now, with the granted accounts (host accounts
/// that speak SSH: those a terminal can open).
fn listing(s: &Model, user: u64, now: u64) -> Value {
    let hosts: Vec<Value> = s
        .authorized_hosts(user, now)
        .into_iter()
        .filter_map(|(host_id, accounts)| {
            let h = s.host(host_id)?;
            let accounts: Vec<Value> = accounts
                .iter()
                .filter_map(|a| s.host_account(*a))
                .filter(|a| a.protocol == Protocol::Ssh)
                .map(|a| json!({ "id": a.id, "name": a.name, "sftp_only": a.sftp_only }))
                .collect();
            Some(json!({
                "id": h.id, "name": h.name, "address": h.active_address(),
                "os": format!("{:?}", h.os), "accounts": accounts,
            }))
        })
        .collect();
    let databases: Vec<Value> = s
        .authorized_databases(user, now)
        .into_iter()
        .filter_map(|(db_id, accounts)| {
            let d = s.database(db_id)?;
            let accounts: Vec<Value> = accounts
                .iter()
                .filter_map(|a| s.database_account(*a))
                .map(|a| json!({ "id": a.id, "name": a.name, "hosted": a.password.is_some() }))
                .collect();
            Some(json!({
                "id": d.id, "name": d.name, "engine": d.engine.protocol().api_name(),
                "address": d.address, "port": d.port, "accounts": accounts,
            }))
        })
        .collect();
    json!({ "hosts": hosts, "databases": databases })
}

/// `GET /web/api/assets`.
pub(crate) async fn assets(
    State(web): State<Web>,
    headers: HeaderMap,
) -> Result<Json<Value>, WebError> {
    let authed = web.logged_in(&headers).await?;
    let now = now_ms();
    let mut out = Value::Null;
    let mut console = false;
    let mut language = None;
    web.backend.read(&mut |s| {
        out = listing(s, authed.user_id, now);
        language = s.user(authed.user_id).and_then(|u| u.language);
        console = matches!(
            crate::console::console_role(s, authed.user_id),
            Some(Role::Admin | Role::Auditor)
        );
    });
    out["user"] = json!(authed.user_name);
    // The page links to the administrator console for those who may use it.
    out["console"] = json!(console);
    // The pages' language, when the user has one (else the browser's).
    out["language"] = json!(language.map(|l| l.api_name()));
    Ok(Json(out))
}

#[derive(Deserialize)]
pub(crate) struct TokenForm {
    database_id: u64,
    account_id: u64,
}

/// The database and account a token is asked for: (name, engine, address, port, account).
fn target_of(s: &Model, form: &TokenForm) -> Option<(String, DbEngine, String, u16, String)> {
    let d = s.database(form.database_id)?;
    let a = s
        .database_account(form.account_id)
        .filter(|a| a.database_id == d.id)?;
    Some((
        d.name.clone(),
        d.engine,
        d.address.clone(),
        d.port,
        a.name.clone(),
    ))
}

/// The host name the browser reached the portal by: the O&M address engineers use (behind a
/// load balancer, its address, which serves the SSH port too).
pub(crate) fn bastion_host(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1");
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_string(),
        _ => host.to_string(),
    }
}

/// The O&M address to give an engineer whose browser is at `client`: the configured one that
/// fits the source address (`ModifyInstanceAttribute`'s InternetEndpoint / IntranetEndpoint),
/// else the host name the browser used.
pub(crate) fn om_address(web: &Web, headers: &HeaderMap, client: std::net::IpAddr) -> String {
    let mut configured = None;
    web.backend.read(&mut |s| {
        configured = s.instance().endpoint_for(client).map(str::to_string);
    });
    configured.unwrap_or_else(|| bastion_host(headers))
}

/// The local port suggested for the tunnel, and the client command through it.
fn client_command(engine: DbEngine, db_port: u16, account: &str) -> (u16, Option<String>) {
    match engine {
        DbEngine::MySql => (
            13306,
            Some(format!("mysql -h 127.0.0.1 -P 13306 -u {account}")),
        ),
        DbEngine::PostgreSql => (
            15432,
            Some(format!("psql -h 127.0.0.1 -p 15432 -U {account} postgres")),
        ),
        _ => (db_port.saturating_add(10000).max(1024), None),
    }
}

/// Appends an engineer's act through the portal (or its refusal) to the admin audit trail, as
/// the API's action of that name does: by the user, through the portal (no AccessKey).
pub(crate) async fn audit(
    web: &Web,
    authed: &Authed,
    action: &str,
    params: &[(&str, String)],
    client: String,
    result: &str,
) {
    let record = AdminAuditRecord {
        access_key_id: WEB_KEY.into(),
        role: Role::Operator,
        user_id: Some(authed.user_id),
        source: client,
        action: action.into(),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        result: result.into(),
    };
    if let Err(e) = web.propose(Command::RecordAdminAudit(record)).await {
        tracing::warn!(error = %e, %action, "web: the admin audit entry could not be appended");
    }
}

/// Proposes a token made by `new_token_for`; the state checks the authorization.
pub(crate) async fn propose_token(
    web: &Web,
    new: portunus_model::NewToken,
) -> Result<portunus_model::TokenReceipt, WebError> {
    match web.propose(Command::IssueToken(new)).await {
        Ok(Response::TokenIssued(r)) => Ok(r),
        Ok(_) => Err(WebError::Internal),
        Err(e) => Err(e.into()),
    }
}

/// What the admin audit trail names as the key of an act done through the portal.
pub(crate) const WEB_KEY: &str = "web-portal";

/// `POST /web/api/tokens`: issues an O&M token for a database account of the user's (the
/// model checks the authorization, as for the API's GenerateAssetOperationToken).
pub(crate) async fn token(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    Json(form): Json<TokenForm>,
) -> Result<Json<Value>, WebError> {
    let authed = web.acting(&headers, false).await?;
    let client = client_of(&ext);
    let address = om_address(&web, &headers, client.ip());
    let client = client.to_string();
    let issued = issue(&web, &authed, &form, &address).await;
    let result = match &issued {
        Ok(_) => "OK",
        Err(e) => e.code(),
    };
    let params = [
        ("AssetType", "Database".to_string()),
        ("AssetId", form.database_id.to_string()),
        ("AssetAccountId", form.account_id.to_string()),
    ];
    audit(
        &web,
        &authed,
        "GenerateAssetOperationToken",
        &params,
        client,
        result,
    )
    .await;
    issued.map(Json)
}

async fn issue(
    web: &Web,
    authed: &Authed,
    form: &TokenForm,
    address: &str,
) -> Result<Value, WebError> {
    let mut found = None;
    web.backend.read(&mut |s| found = target_of(s, form));
    let (db_name, engine, db_address, db_port, account) = found
        .ok_or_else(|| WebError::BadRequest("no such database account; reload the page".into()))?;
    let target = TokenTarget {
        user_id: authed.user_id,
        user_name: &authed.user_name,
        asset: AssetRef::Database(form.database_id),
        account: TokenAccount::Hosted(form.account_id),
        protocol: engine.protocol(),
    };
    let (token, new) = new_token_for(target, None).ok_or(WebError::Internal)?;
    let receipt = propose_token(web, new).await?;
    tracing::info!(user = %authed.user_name, database = %db_name, token_id = receipt.token_id, "web: O&M token issued");
    let port = web.gate.ssh_port().ok_or(WebError::Unavailable)?;
    let (local, client) = client_command(engine, db_port, &account);
    let user = &authed.user_name;
    let ssh = format!("ssh -N -L {local}:{db_address}:{db_port} {user}@{address} -p {port}");
    Ok(json!({
        "address": address,
        "port": port,
        "user": user,
        "token": token,
        "token_id": receipt.token_id,
        "expire_at_ms": receipt.expire_at_ms,
        "has_count_limit": receipt.has_count_limit,
        "count_left": receipt.count_left,
        "database": db_name,
        "database_address": db_address,
        "database_port": db_port,
        "account": account,
        "ssh_command": ssh,
        "client_command": client,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bastion_address_is_the_host_the_browser_used_without_its_port() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, "bastion.example:8443".parse().unwrap());
        assert_eq!(bastion_host(&h), "bastion.example");
        h.insert(header::HOST, "10.0.0.5".parse().unwrap());
        assert_eq!(bastion_host(&h), "10.0.0.5");
    }

    #[test]
    fn client_commands_go_through_the_tunnel_port() {
        let (local, cmd) = client_command(DbEngine::MySql, 3306, "app");
        assert_eq!(local, 13306);
        assert_eq!(cmd.unwrap(), "mysql -h 127.0.0.1 -P 13306 -u app");
        let (local, cmd) = client_command(DbEngine::SqlServer, 1433, "sa");
        assert_eq!((local, cmd), (11433, None));
    }
}
