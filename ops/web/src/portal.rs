//! The engineer's O&M portal: the hosts and databases the user is authorized for now, with
//! their accounts, and "Apply for O&M token" on a database account, answered with the client
//! SSH tunnel configuration of seed 000 and commands ready to copy.

use crate::error::WebError;
use crate::login::client_of;
use crate::session::Authed;
use crate::{now_ms, Web};
use axum::extract::{Query, State};
use axum::http::{header, Extensions, HeaderMap};
use axum::Json;
use portunus_model::{
    AdminAuditRecord, AssetRef, Command, DbEngine, Protocol, Response, Role, State as Model,
    TokenAccount,
};
use portunus_ops::api::{new_token_for, TokenTarget};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Rows per page of the portal's host and database lists.
pub(crate) const PORTAL_PAGE: usize = 50;

/// Which page of a list, and the words its rows must contain (name or address, any case).
#[derive(Debug, Default, Clone, PartialEq)]
struct ListQuery {
    page: usize,
    search: String,
}

impl ListQuery {
    fn matches(&self, name: &str, address: &str) -> bool {
        self.search.is_empty()
            || name.to_lowercase().contains(&self.search)
            || address.to_lowercase().contains(&self.search)
    }

    /// The page asked for (the last one when it asks past the end) of `rows` made by `row`,
    /// and the whole list's size: `{"rows", "total", "page", "pages"}`.
    fn page_of<T>(&self, mut rows: Vec<(String, T)>, row: impl Fn(T) -> Value) -> Value {
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        let total = rows.len();
        let pages = total.div_ceil(PORTAL_PAGE).max(1);
        let page = self.page.clamp(1, pages);
        let shown: Vec<Value> = rows
            .into_iter()
            .skip((page - 1) * PORTAL_PAGE)
            .take(PORTAL_PAGE)
            .map(|(_, t)| row(t))
            .collect();
        json!({ "rows": shown, "total": total, "page": page, "pages": pages })
    }
}

/// The host and database lists' queries of `GET /web/api/assets`: `hosts_page`, `hosts_q`,
/// `databases_page`, `databases_q` (pages count from 1; a search is at most 100 characters).
fn list_queries(q: &BTreeMap<String, String>) -> Result<(ListQuery, ListQuery), WebError> {
    let mut hosts = ListQuery {
        page: 1,
        ..Default::default()
    };
    let mut databases = hosts.clone();
    for (name, value) in q {
        let (list, field) = match name.as_str() {
            "hosts_page" => (&mut hosts, "page"),
            "hosts_q" => (&mut hosts, "q"),
            "databases_page" => (&mut databases, "page"),
            "databases_q" => (&mut databases, "q"),
            other => {
                return Err(WebError::BadRequest(format!(
                    "{other}: not a parameter of the asset lists (hosts_page, hosts_q, \
                     databases_page, databases_q)"
                )))
            }
        };
        if field == "page" {
            list.page = value
                .parse::<usize>()
                .ok()
                .filter(|p| (1..=1_000_000).contains(p))
                .ok_or_else(|| {
                    WebError::BadRequest(format!(
                        "{name}: '{value}' is not a page number (1 or more)"
                    ))
                })?;
        } else if value.chars().count() > 100 {
            return Err(WebError::BadRequest(format!(
                "{name}: a search is at most 100 characters"
            )));
        } else {
            list.search = value.trim().to_lowercase();
        }
    }
    Ok((hosts, databases))
}

/// A page of the hosts and a page of the databases `user` may reach now, with the granted
/// accounts (host accounts that speak SSH: those a terminal can open), sorted by name.
fn listing(s: &Model, user: u64, now: u64, hq: &ListQuery, dq: &ListQuery) -> Value {
    let hosts: Vec<_> = s
        .authorized_hosts(user, now)
        .into_iter()
        .filter_map(|(host_id, accounts)| {
            let h = s.host(host_id)?;
            let address = h.active_address();
            hq.matches(&h.name, address)
                .then(|| (h.name.clone(), (h, address, accounts)))
        })
        .collect();
    let hosts = hq.page_of(hosts, |(h, address, accounts)| {
        let accounts: Vec<Value> = accounts
            .iter()
            .filter_map(|a| s.host_account(*a))
            .filter(|a| a.protocol == Protocol::Ssh)
            .map(|a| json!({ "id": a.id, "name": a.name, "sftp_only": a.sftp_only }))
            .collect();
        json!({
            "id": h.id, "name": h.name, "address": address,
            "os": format!("{:?}", h.os), "accounts": accounts,
        })
    });
    let databases: Vec<_> = s
        .authorized_databases(user, now)
        .into_iter()
        .filter_map(|(db_id, accounts)| {
            let d = s.database(db_id)?;
            dq.matches(&d.name, &d.address)
                .then(|| (d.name.clone(), (d, accounts)))
        })
        .collect();
    let databases = dq.page_of(databases, |(d, accounts)| {
        let accounts: Vec<Value> = accounts
            .iter()
            .filter_map(|a| s.database_account(*a))
            .map(|a| json!({ "id": a.id, "name": a.name, "hosted": a.password.is_some() }))
            .collect();
        json!({
            "id": d.id, "name": d.name, "engine": d.engine.protocol().api_name(),
            "address": d.address, "port": d.port, "accounts": accounts,
        })
    });
    json!({ "hosts": hosts, "databases": databases, "page_size": PORTAL_PAGE })
}

/// `GET /web/api/assets`: the user, their language, whether the console is theirs, and a page
/// of each asset list (see [`list_queries`]).
pub(crate) async fn assets(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, WebError> {
    let authed = web.logged_in(&headers).await?;
    let (hq, dq) = list_queries(&q)?;
    let now = now_ms();
    let mut out = Value::Null;
    let mut console = false;
    let mut language = None;
    web.backend.read(&mut |s| {
        out = listing(s, authed.user_id, now, &hq, &dq);
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
/// What the admin audit trail records as the result of a page's act: `OK` or the error code.
pub(crate) fn outcome<T>(done: &Result<T, WebError>) -> &'static str {
    match done {
        Ok(_) => "OK",
        Err(e) => e.code(),
    }
}

/// The renewals a token has left.
fn renews_left(r: &portunus_model::TokenReceipt) -> u32 {
    r.max_renew_count.saturating_sub(r.renew_count)
}

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
    let result = outcome(&issued);
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
    let mut self_renew = false;
    web.backend
        .read(&mut |s| self_renew = s.settings().token_self_renew);
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
        "renews_left": renews_left(&receipt),
        "self_renew": self_renew,
        "database": db_name,
        "database_address": db_address,
        "database_port": db_port,
        "account": account,
        "ssh_command": ssh,
        "client_command": client,
    }))
}

/// `POST /web/api/tokens/{id}/renew`: the engineer extends their own token, as the API's
/// RenewAssetOperationToken does with their key (the model refuses another user's token, a
/// renewal beyond the limit, and any renewal while O&M approval covers the asset).
pub(crate) async fn renew(
    State(web): State<Web>,
    ext: Extensions,
    headers: HeaderMap,
    axum::extract::Path(token_id): axum::extract::Path<u64>,
) -> Result<Json<Value>, WebError> {
    let authed = web.acting(&headers, false).await?;
    let renewed = match web
        .propose(Command::RenewToken {
            token_id,
            user_id: Some(authed.user_id),
        })
        .await
    {
        Ok(Response::TokenRenewed(r)) => Ok(json!({
            "expire_at_ms": r.expire_at_ms,
            "renews_left": renews_left(&r),
        })),
        Ok(_) => Err(WebError::Internal),
        Err(e) => Err(WebError::from(e)),
    };
    let result = outcome(&renewed);
    let params = [("TokenId", token_id.to_string())];
    audit(
        &web,
        &authed,
        "RenewAssetOperationToken",
        &params,
        client_of(&ext).to_string(),
        result,
    )
    .await;
    renewed.map(Json)
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
