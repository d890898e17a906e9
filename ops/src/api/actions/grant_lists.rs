//! Authorization queries: what a user (effective: own, group and rule grants) or a user group
//! (direct grants) may reach — ListHostsForUser, ListHostAccountsForUser, ListDatabasesForUser,
//! ListHostGroupsForUser, ... and their `ForUserGroup` twins.

use super::grants::principal;
use crate::api::call::{one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, ParamSpec, Ty};
use crate::api::views;
use portunus_model::{Principal, State};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const U: ParamSpec = req("UserId", Ty::Id);
const G: ParamSpec = req("UserGroupId", Ty::Id);
const PN: ParamSpec = opt("PageNumber", Ty::Int);
const PS: ParamSpec = opt("PageSize", Ty::Int);
const MODE: ParamSpec = opt("Mode", Ty::Str);
const HN: ParamSpec = opt("HostName", Ty::Str);
const HA: ParamSpec = opt("HostAddress", Ty::Str);
const OS: ParamSpec = opt("OSType", Ty::Str);
const HID: ParamSpec = req("HostId", Ty::Id);
const HAN: ParamSpec = opt("HostAccountName", Ty::Str);
const DN: ParamSpec = opt("DatabaseName", Ty::Str);
const DT: ParamSpec = opt("DatabaseType", Ty::Str);
const DA: ParamSpec = opt("DatabaseAddress", Ty::Str);
const ND: ParamSpec = opt("NetworkDomainId", Ty::Id);
const DAN: ParamSpec = opt("DatabaseAccountName", Ty::Str);
const DID: ParamSpec = req("DatabaseId", Ty::Id);
const HGN: ParamSpec = opt("HostGroupName", Ty::Str);
const HGID: ParamSpec = req("HostGroupId", Ty::Id);

pub static ACTIONS: &[Action] = &[
    action!(
        "ListHostsForUser",
        ForUser,
        hosts_u,
        "Hosts a user may reach.",
        [U, MODE, HN, HA, OS, PN, PS]
    ),
    action!(
        "ListHostsForUserGroup",
        Read,
        hosts_g,
        "Hosts granted to a group.",
        [G, MODE, HN, HA, OS, PN, PS]
    ),
    action!(
        "ListHostAccountsForUser",
        ForUser,
        accounts_u,
        "A host's accounts for a user.",
        [U, HID, HAN, PN, PS]
    ),
    action!(
        "ListHostAccountsForUserGroup",
        Read,
        accounts_g,
        "A host's accounts for a group.",
        [G, HID, HAN, PN, PS]
    ),
    action!(
        "ListDatabasesForUser",
        ForUser,
        dbs_u,
        "Databases a user may reach.",
        [U, DN, DT, DA, ND, PN, PS]
    ),
    action!(
        "ListDatabasesForUserGroup",
        Read,
        dbs_g,
        "Databases granted to a group.",
        [G, DN, DT, DA, ND, PN, PS]
    ),
    action!(
        "ListDatabaseAccountsForUser",
        ForUser,
        db_accounts_u,
        "A database's accounts for a user.",
        [U, DID, DAN, PN, PS]
    ),
    action!(
        "ListDatabaseAccountsForUserGroup",
        Read,
        db_accounts_g,
        "A database's accounts for a group.",
        [G, DID, DAN, PN, PS]
    ),
    action!(
        "ListHostGroupsForUser",
        ForUser,
        hgs_u,
        "Host groups granted to a user.",
        [U, MODE, HGN, PN, PS]
    ),
    action!(
        "ListHostGroupsForUserGroup",
        Read,
        hgs_g,
        "Host groups granted to a group.",
        [G, MODE, HGN, PN, PS]
    ),
    action!(
        "ListHostGroupAccountNamesForUser",
        ForUser,
        hg_names_u,
        "Granted account names.",
        [U, HGID]
    ),
    action!(
        "ListHostGroupAccountNamesForUserGroup",
        Read,
        hg_names_g,
        "Granted account names.",
        [G, HGID]
    ),
];

type Grants = BTreeMap<u64, BTreeSet<u64>>;

fn host_grants(s: &State, p: Principal, now: u64) -> Grants {
    match p {
        Principal::User(u) => s.authorized_hosts(u, now),
        Principal::Group(_) => s.host_grants_of(p),
    }
}

fn db_grants(s: &State, p: Principal, now: u64) -> Grants {
    match p {
        Principal::User(u) => s.authorized_databases(u, now),
        Principal::Group(_) => s.database_grants_of(p),
    }
}

/// `Mode=Unauthorized` lists what is *not* granted.
fn unauthorized(c: &Call) -> Result<bool, ApiError> {
    match c.p.opt("Mode").map(str::to_ascii_lowercase).as_deref() {
        None | Some("authorized") => Ok(false),
        Some("unauthorized") => Ok(true),
        _ => Err(ApiError::invalid(
            "Mode",
            "expected Authorized or Unauthorized",
        )),
    }
}

fn contains(hay: &str, needle: Option<&str>) -> bool {
    needle.is_none_or(|n| hay.to_lowercase().contains(&n.to_lowercase()))
}

async fn hosts(c: &Call, group: bool) -> ApiResult {
    let (p, _, _) = principal(c, group)?;
    let inverse = unauthorized(c)?;
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
            let granted = host_grants(s, p, now);
            s.hosts()
                .filter(|h| granted.contains_key(&h.id) != inverse)
                .filter(|h| contains(&h.name, name) && os.is_none_or(|o| h.os == o))
                .filter(|h| contains(&h.private_address, addr) || contains(&h.public_address, addr))
                .map(|h| {
                    let mut v = views::host_row(s, h);
                    v["ProjectId"] = "".into();
                    v["ProjectName"] = "".into();
                    v
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("Hosts", items, total))
}

async fn accounts(c: &Call, group: bool) -> ApiResult {
    let (p, _, _) = principal(c, group)?;
    let host = c.p.id("HostId")?;
    let (name, now, paging) = (c.p.opt("HostAccountName"), c.now_ms, c.p.page()?);
    let rows = c
        .read(|s| {
            let granted = host_grants(s, p, now).remove(&host).unwrap_or_default();
            s.host_accounts_of(host)
                .filter(|a| contains(&a.name, name))
                .map(|a| {
                    json!({
                        "HostAccountId": a.id.to_string(), "HostAccountName": a.name,
                        "HostAccountType": "Normal", "HostId": a.host_id.to_string(),
                        "IsAuthorized": granted.contains(&a.id), "ProtocolName": a.protocol.api_name(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("HostAccounts", items, total))
}

async fn dbs(c: &Call, group: bool) -> ApiResult {
    let (p, _, _) = principal(c, group)?;
    let engine =
        c.p.opt("DatabaseType")
            .map(|v| views::parse_engine("DatabaseType", v))
            .transpose()?;
    let (name, now, paging) = (c.p.opt("DatabaseName"), c.now_ms, c.p.page()?);
    // The SDK documents DatabaseAddress as an exact match.
    let address = c.p.opt("DatabaseAddress");
    let domain = c.p.opt_id("NetworkDomainId")?;
    let rows = c
        .read(|s| {
            let granted = db_grants(s, p, now);
            s.databases()
                .filter(|d| granted.contains_key(&d.id) && contains(&d.name, name))
                .filter(|d| engine.is_none_or(|e| d.engine == e))
                .filter(|d| address.is_none_or(|a| d.address.eq_ignore_ascii_case(a)))
                .filter(|d| domain.is_none_or(|n| d.network_domain_id == Some(n)))
                .map(|d| {
                    let mut v = views::database(d);
                    v["ProjectId"] = "".into();
                    v["ProjectName"] = "".into();
                    v["DatabaseAccountCount"] = s.database_accounts_of(d.id).count().into();
                    v
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("Databases", items, total))
}

async fn db_accounts(c: &Call, group: bool) -> ApiResult {
    let (p, _, _) = principal(c, group)?;
    let db = c.p.id("DatabaseId")?;
    let (name, now, paging) = (c.p.opt("DatabaseAccountName"), c.now_ms, c.p.page()?);
    let rows = c
        .read(|s| {
            let granted = db_grants(s, p, now).remove(&db).unwrap_or_default();
            let proto = s
                .database(db)
                .map(|d| d.engine.protocol().api_name())
                .unwrap_or_default();
            s.database_accounts_of(db)
                .filter(|a| contains(&a.name, name))
                .map(|a| {
                    json!({
                        "DatabaseAccountId": a.id.to_string(), "DatabaseAccountName": a.name,
                        "DatabaseId": a.database_id.to_string(),
                        "IsAuthorized": granted.contains(&a.id), "ProtocolName": proto,
                    })
                })
                .collect::<Vec<_>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("DatabaseAccounts", items, total))
}

async fn host_groups(c: &Call, group: bool) -> ApiResult {
    let (p, _, _) = principal(c, group)?;
    let inverse = unauthorized(c)?;
    let (name, paging) = (c.p.opt("HostGroupName"), c.p.page()?);
    let rows = c
        .read(|s| {
            let granted = s.host_group_grants_of(p);
            s.host_groups()
                .filter(|g| granted.contains_key(&g.id) != inverse && contains(&g.name, name))
                .map(|g| json!({"Comment": g.comment, "HostGroupId": g.id.to_string(), "HostGroupName": g.name}))
                .collect::<Vec<Value>>()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("HostGroups", items, total))
}

async fn hg_names(c: &Call, group: bool) -> ApiResult {
    let (p, _, _) = principal(c, group)?;
    let hg = c.p.id("HostGroupId")?;
    let names = c
        .read(|s| s.host_group_grants_of(p).remove(&hg).unwrap_or_default())
        .await?;
    Ok(one(
        "HostAccountNames",
        names.into_iter().collect::<Vec<_>>(),
    ))
}

macro_rules! twins {
    ($($u:ident, $g:ident => $f:ident;)*) => {
        $(
            async fn $u(c: &Call) -> ApiResult { $f(c, false).await }
            async fn $g(c: &Call) -> ApiResult { $f(c, true).await }
        )*
    };
}

twins! {
    hosts_u, hosts_g => hosts;
    accounts_u, accounts_g => accounts;
    dbs_u, dbs_g => dbs;
    db_accounts_u, db_accounts_g => db_accounts;
    hgs_u, hgs_g => host_groups;
    hg_names_u, hg_names_g => hg_names;
}
