//! Whom and what a control policy covers: Get/SetPolicyUserScope, Get/SetPolicyAssetScope.

use super::{update, with_policy};
use crate::api::actions::rules::nested_objects;
use crate::api::call::{one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::parse_id;
use portunus_model::{AccountNames, Accounts, AssetScope, PolicyPart, UserScope};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

fn ids(set: &BTreeSet<u64>) -> Vec<String> {
    set.iter().map(u64::to_string).collect()
}

fn id_set(name: &str, values: Vec<String>) -> Result<BTreeSet<u64>, ApiError> {
    values.iter().map(|v| parse_id(name, v)).collect()
}

pub(super) async fn get_users(c: &Call) -> ApiResult {
    let view = with_policy(c, |p| {
        let none = BTreeSet::new();
        let (kind, users, groups) = match &p.users {
            UserScope::Nobody => ("User", &none, &none),
            UserScope::All => ("All", &none, &none),
            UserScope::Users(u) => ("User", u, &none),
            UserScope::UserGroups(g) => ("UserGroup", &none, g),
        };
        json!({ "ScopeType": kind, "UserIds": ids(users), "UserGroupIds": ids(groups) })
    })
    .await?;
    Ok(one("UserScope", view))
}

pub(super) async fn set_users(c: &Call) -> ApiResult {
    let scope = match c.p.req("ScopeType")? {
        "All" => UserScope::All,
        "User" => UserScope::Users(id_set("UserIds", c.p.indexed("UserIds")?)?),
        "UserGroup" => UserScope::UserGroups(id_set("UserGroupIds", c.p.indexed("UserGroupIds")?)?),
        _ => {
            return Err(ApiError::invalid(
                "ScopeType",
                "expected All, User or UserGroup",
            ))
        }
    };
    update(c, PolicyPart::Users(scope)).await
}

/// One entry's accounts: `AccountScopeType` All, or the listed ones.
fn accounts(
    name: &str,
    entry: &BTreeMap<String, String>,
    listed: Vec<String>,
    by: &str,
) -> Result<Option<BTreeSet<String>>, ApiError> {
    match entry.get("AccountScopeType").map(String::as_str) {
        None | Some("All") if listed.is_empty() => Ok(None),
        None | Some("All") => Err(ApiError::invalid(
            name,
            format!("accounts are listed but AccountScopeType is not {by}"),
        )),
        Some(kind) if kind == by => Ok(Some(listed.into_iter().collect())),
        Some(_) => Err(ApiError::invalid(
            name,
            format!("AccountScopeType must be All or {by}"),
        )),
    }
}

fn by_ids(
    c: &Call,
    name: &'static str,
    id_field: &str,
    list: &str,
) -> Result<BTreeMap<u64, Accounts>, ApiError> {
    let mut out = BTreeMap::new();
    for (id, entry, listed) in nested_objects(c, name, id_field, list)? {
        let accounts = match accounts(name, &entry, listed, "AccountId")? {
            None => Accounts::All,
            Some(set) => Accounts::Only(id_set(name, set.into_iter().collect())?),
        };
        out.insert(id, accounts);
    }
    Ok(out)
}

pub(super) async fn set_assets(c: &Call) -> ApiResult {
    let scope = match c.p.req("ScopeType")? {
        "All" => AssetScope::All,
        "Host" => AssetScope::Hosts(by_ids(c, "Hosts", "HostId", "HostAccountIds")?),
        "Database" => {
            AssetScope::Databases(by_ids(c, "Databases", "DatabaseId", "DatabaseAccountIds")?)
        }
        "HostGroup" => {
            let mut groups = BTreeMap::new();
            for (id, entry, listed) in
                nested_objects(c, "HostGroups", "HostGroupId", "AccountNames")?
            {
                let names = match accounts("HostGroups", &entry, listed, "AccountName")? {
                    None => AccountNames::All,
                    Some(set) => AccountNames::Only(set),
                };
                groups.insert(id, names);
            }
            AssetScope::HostGroups(groups)
        }
        _ => {
            return Err(ApiError::invalid(
                "ScopeType",
                "expected All, Host, HostGroup or Database",
            ))
        }
    };
    update(c, PolicyPart::Assets(scope)).await
}

fn id_entries(map: &BTreeMap<u64, Accounts>, id_field: &str, list: &str) -> Vec<Value> {
    map.iter()
        .map(|(id, accounts)| {
            let (kind, listed) = match accounts {
                Accounts::All => ("All", Vec::new()),
                Accounts::Only(set) => ("AccountId", ids(set)),
            };
            json!({ id_field: id.to_string(), "AccountScopeType": kind, list: listed })
        })
        .collect()
}

pub(super) async fn get_assets(c: &Call) -> ApiResult {
    let view = with_policy(c, |p| {
        let (kind, hosts, groups, dbs) = match &p.assets {
            AssetScope::Nothing => ("Host", vec![], vec![], vec![]),
            AssetScope::All => ("All", vec![], vec![], vec![]),
            AssetScope::Hosts(h) => (
                "Host",
                id_entries(h, "HostId", "HostAccountIds"),
                vec![],
                vec![],
            ),
            AssetScope::Databases(d) => (
                "Database",
                vec![],
                vec![],
                id_entries(d, "DatabaseId", "DatabaseAccountIds"),
            ),
            AssetScope::HostGroups(g) => {
                let groups = g
                    .iter()
                    .map(|(id, names)| {
                        let (kind, listed): (&str, Vec<&String>) = match names {
                            AccountNames::All => ("All", vec![]),
                            AccountNames::Only(set) => ("AccountName", set.iter().collect()),
                        };
                        json!({
                            "HostGroupId": id.to_string(),
                            "AccountScopeType": kind,
                            "AccountNames": listed,
                        })
                    })
                    .collect();
                ("HostGroup", vec![], groups, vec![])
            }
        };
        json!({ "ScopeType": kind, "Hosts": hosts, "HostGroups": groups, "Databases": dbs })
    })
    .await?;
    Ok(one("AssetScope", view))
}
