//! What the calling O&M engineer may reach (the AccessKey's user, or `UserId` for Admin keys):
//! ListOperationHosts, ListOperationHostAccounts, ListOperationDatabases,
//! ListOperationDatabaseAccounts.

use super::tokens::acting_user;
use crate::api::call::{page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, ParamSpec, Ty};
use crate::api::views;
use portunus_model::AssetSource;
use serde_json::json;

const PN: ParamSpec = opt("PageNumber", Ty::Int);
const PS: ParamSpec = opt("PageSize", Ty::Int);
const UID: ParamSpec = opt("UserId", Ty::Id);
const SRC: ParamSpec = opt("Source", Ty::Str);
const SRC_ID: ParamSpec = opt("SourceInstanceId", Ty::Str);
const SRC_STATE: ParamSpec = opt("SourceInstanceState", Ty::Str);

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
            SRC,
            SRC_ID,
            SRC_STATE,
            opt("OperationProjectId", Ty::Id),
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
            opt("DatabaseAddress", Ty::Str),
            SRC,
            SRC_ID,
            SRC_STATE,
            opt("ProjectId", Ty::Id),
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
            opt("OperationProjectId", Ty::Id),
            UID,
            PN,
            PS,
        ]
    ),
];

/// Filters by where an asset came from: `Source` and `SourceInstanceId` (exact), and the
/// cloud's `SourceInstanceState`, which Portunus does not track.
struct Origin<'a> {
    source: Option<AssetSource>,
    instance: Option<&'a str>,
}

impl<'a> Origin<'a> {
    fn of(c: &'a Call) -> Result<Self, ApiError> {
        c.p.only("SourceInstanceState", &[], views::NO_INSTANCE_STATE)?;
        let source = c.p.opt("Source").map(|v| views::parse_source("Source", v));
        Ok(Origin {
            source: source.transpose()?,
            instance: c.p.opt("SourceInstanceId"),
        })
    }

    fn admits(&self, source: AssetSource, instance: &str) -> bool {
        self.source.is_none_or(|s| s == source) && self.instance.is_none_or(|i| i == instance)
    }
}

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
    let origin = Origin::of(c)?;
    let project = c.p.opt_id("OperationProjectId")?;
    let rows = c
        .read(|s| {
            let granted = s.authorized_hosts(user, now);
            s.hosts()
                .filter(|h| granted.contains_key(&h.id) && has(&h.name, name))
                .filter(|h| os.is_none_or(|o| h.os == o))
                .filter(|h| origin.admits(h.source, &h.source_instance_id))
                .filter(|h| project.is_none_or(|p| s.host_project(h.id) == Some(p)))
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
    // The SDK documents DatabaseAddress as an exact match.
    let address = c.p.opt("DatabaseAddress");
    let origin = Origin::of(c)?;
    let project = c.p.opt_id("ProjectId")?;
    let rows = c
        .read(|s| {
            let granted = s.authorized_databases(user, now);
            s.databases()
                .filter(|d| granted.contains_key(&d.id) && has(&d.name, name))
                .filter(|d| engine.is_none_or(|e| d.engine == e))
                .filter(|d| address.is_none_or(|a| d.address.eq_ignore_ascii_case(a)))
                .filter(|d| origin.admits(d.source, &d.source_instance_id))
                .filter(|d| project.is_none_or(|p| s.database_project(d.id) == Some(p)))
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
    let project = c.p.opt_id("OperationProjectId")?;
    let rows = c
        .read(|s| {
            let in_project = project.is_none_or(|p| s.database_project(db) == Some(p));
            let granted = match in_project {
                true => s.authorized_databases(user, now).remove(&db),
                false => None,
            }
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
