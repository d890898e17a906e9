//! What the calling O&M engineer may reach (the AccessKey's user, or `UserId` for Admin keys):
//! ListOperationHosts, ListOperationHostAccounts, ListOperationDatabases,
//! ListOperationDatabaseAccounts.

use super::tokens::acting_user;
use crate::api::call::{page, Call};
use crate::api::error::ApiResult;
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, ParamSpec, Ty};
use crate::api::views;
use serde_json::json;

const PN: ParamSpec = opt("PageNumber", Ty::Int);
const PS: ParamSpec = opt("PageSize", Ty::Int);
const UID: ParamSpec = opt("UserId", Ty::Id);

pub static ACTIONS: &[Action] = &[
    action!(
        "ListOperationHosts",
        Token,
        hosts,
        "Hosts the caller may reach.",
        [
            opt("HostName", Ty::Str),
            opt("HostAddress", Ty::Str),
            opt("OSType", Ty::Str),
            UID,
            PN,
            PS,
        ]
    ),
    action!(
        "ListOperationHostAccounts",
        Token,
        host_accounts,
        "Accounts the caller may use.",
        [
            req("HostId", Ty::Id),
            opt("HostAccountName", Ty::Str),
            UID,
            PN,
            PS,
        ]
    ),
    action!(
        "ListOperationDatabases",
        Token,
        databases,
        "Databases the caller may reach.",
        [
            opt("DatabaseName", Ty::Str),
            opt("DatabaseType", Ty::Str),
            UID,
            PN,
            PS,
        ]
    ),
    action!(
        "ListOperationDatabaseAccounts",
        Token,
        db_accounts,
        "Accounts the caller may use.",
        [
            req("DatabaseId", Ty::Id),
            opt("DatabaseAccountName", Ty::Str),
            UID,
            PN,
            PS,
        ]
    ),
];

fn has(hay: &str, needle: Option<&str>) -> bool {
    needle.is_none_or(|n| hay.to_lowercase().contains(&n.to_lowercase()))
}

async fn hosts(c: &Call) -> ApiResult {
    let user = acting_user(c)?;
    let os =
        c.p.opt("OSType")
            .map(|v| views::parse_os("OSType", v))
            .transpose()?;
    let (name, addr, now, paging) = (
        c.p.opt("HostName"),
        c.p.opt("HostAddress"),
        c.now_ms,
        c.p.page()?,
    );
    let rows = c
        .read(|s| {
            let granted = s.authorized_hosts(user, now);
            s.hosts()
                .filter(|h| granted.contains_key(&h.id) && has(&h.name, name))
                .filter(|h| os.is_none_or(|o| h.os == o))
                .filter(|h| has(&h.private_address, addr) || has(&h.public_address, addr))
                .map(|h| {
                    let mut v = views::host_row(s, h);
                    v["ProjectName"] = "".into();
                    v
                })
                .collect()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("Hosts", items, total))
}

async fn host_accounts(c: &Call) -> ApiResult {
    let user = acting_user(c)?;
    let host = c.p.id("HostId")?;
    let (name, now, paging) = (c.p.opt("HostAccountName"), c.now_ms, c.p.page()?);
    let rows = c
        .read(|s| {
            let granted = s
                .authorized_hosts(user, now)
                .remove(&host)
                .unwrap_or_default();
            s.host_accounts_of(host)
                .filter(|a| granted.contains(&a.id) && has(&a.name, name))
                .map(|a| {
                    let mut v = views::host_account(s, a);
                    v["SSHConfig"] =
                        json!({"EnableSFTPChannel": true, "EnableSSHChannel": !a.sftp_only});
                    v
                })
                .collect()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("HostAccounts", items, total))
}

async fn databases(c: &Call) -> ApiResult {
    let user = acting_user(c)?;
    let engine =
        c.p.opt("DatabaseType")
            .map(|v| views::parse_engine("DatabaseType", v))
            .transpose()?;
    let (name, now, paging) = (c.p.opt("DatabaseName"), c.now_ms, c.p.page()?);
    let rows = c
        .read(|s| {
            let granted = s.authorized_databases(user, now);
            s.databases()
                .filter(|d| granted.contains_key(&d.id) && has(&d.name, name))
                .filter(|d| engine.is_none_or(|e| d.engine == e))
                .map(views::database)
                .collect()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("Databases", items, total))
}

async fn db_accounts(c: &Call) -> ApiResult {
    let user = acting_user(c)?;
    let db = c.p.id("DatabaseId")?;
    let (name, now, paging) = (c.p.opt("DatabaseAccountName"), c.now_ms, c.p.page()?);
    let rows = c
        .read(|s| {
            let granted = s
                .authorized_databases(user, now)
                .remove(&db)
                .unwrap_or_default();
            let d = s.database(db);
            let proto = d
                .map(|d| d.engine.protocol().api_name())
                .unwrap_or_default();
            let db_name = d.map(|d| d.name.clone()).unwrap_or_default();
            s.database_accounts_of(db)
                .filter(|a| granted.contains(&a.id) && has(&a.name, name))
                .map(|a| {
                    json!({"DBName": db_name, "DatabaseAccountId": a.id.to_string(),
                           "DatabaseAccountName": a.name, "DatabaseId": db.to_string(),
                           "HasPassword": a.password.is_some().to_string(), "LoginAttribute": "",
                           "ProtocolName": proto})
                })
                .collect()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("DatabaseAccounts", items, total))
}
