//! Authorization rules: Create/Get/List/Modify/Enable/Disable/DeleteRule. Lists arrive
//! flattened (`UserIds.1`, `Hosts.1.HostId`, `Hosts.1.HostAccountIds.1`, ...).

use crate::api::call::{done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{paginate, parse_id};
use crate::api::table::{action, opt, req, Action, ParamSpec, Ty};
use portunus_model::{Command, EntityKind, Rule, RuleSpec, State, Validity};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

const SPEC: [ParamSpec; 8] = [
    opt("Comment", Ty::Str),
    opt("EffectiveStartTime", Ty::Int),
    opt("EffectiveEndTime", Ty::Int),
    opt("UserIds", Ty::Indexed),
    opt("UserGroupIds", Ty::Indexed),
    opt("Hosts", Ty::Indexed),
    opt("HostGroups", Ty::Indexed),
    opt("Databases", Ty::Indexed),
];
const RULE: ParamSpec = req("RuleId", Ty::Id);

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateRule",
        Write,
        create,
        "Creates an authorization rule.",
        [
            req("RuleName", Ty::Str),
            SPEC[0],
            SPEC[1],
            SPEC[2],
            SPEC[3],
            SPEC[4],
            SPEC[5],
            SPEC[6],
            SPEC[7],
        ]
    ),
    action!("GetRule", Read, get, "Queries a rule.", [RULE]),
    action!(
        "ListRules",
        Read,
        list,
        "Lists rules.",
        [
            opt("RuleName", Ty::Str),
            opt("RuleState", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyRule",
        Write,
        modify,
        "Replaces a rule's members and assets.",
        [
            RULE,
            opt("RuleName", Ty::Str),
            SPEC[0],
            SPEC[1],
            SPEC[2],
            SPEC[3],
            SPEC[4],
            SPEC[5],
            SPEC[6],
            SPEC[7],
        ]
    ),
    action!("EnableRule", Write, enable, "Enables a rule.", [RULE]),
    action!("DisableRule", Write, disable, "Disables a rule.", [RULE]),
    action!("DeleteRule", Write, delete, "Deletes a rule.", [RULE]),
];

fn id_set(name: &str, values: Vec<String>) -> Result<BTreeSet<u64>, ApiError> {
    values.iter().map(|v| parse_id(name, v)).collect()
}

/// `Name.N.<id_field>` with `Name.N.<list>.M` members, keyed by the asset id.
fn nested(
    c: &Call,
    name: &str,
    id_field: &str,
    list: &str,
) -> Result<BTreeMap<u64, Vec<String>>, ApiError> {
    Ok(nested_objects(c, name, id_field, list)?
        .into_iter()
        .map(|(id, _, members)| (id, members))
        .collect())
}

/// One flattened entry: its id, all its fields, and its list's members in index order.
pub(crate) type NestedEntry = (u64, BTreeMap<String, String>, Vec<String>);

/// Flattened objects `Name.N.<id_field>` with `Name.N.<list>.M` members.
pub(crate) fn nested_objects(
    c: &Call,
    name: &str,
    id_field: &str,
    list: &str,
) -> Result<Vec<NestedEntry>, ApiError> {
    let mut out = Vec::new();
    for o in c.p.indexed_objects(name)? {
        let id = o
            .get(id_field)
            .ok_or_else(|| ApiError::invalid(name, format!("each entry needs {id_field}")))?;
        let mut members: Vec<(u32, String)> = Vec::new();
        for (k, v) in &o {
            if let Some(i) = k.strip_prefix(list).and_then(|r| r.strip_prefix('.')) {
                let i = i
                    .parse()
                    .map_err(|_| ApiError::invalid(name, "bad index"))?;
                members.push((i, v.clone()));
            }
        }
        members.sort();
        let id = parse_id(name, id)?;
        out.push((id, o, members.into_iter().map(|(_, v)| v).collect()));
    }
    Ok(out)
}

fn spec(c: &Call, name: String) -> Result<RuleSpec, ApiError> {
    let secs = |n: &str| -> Result<Option<u64>, ApiError> {
        Ok(c.p
            .num::<u64>(n)?
            .filter(|v| *v > 0)
            .map(|v| v.saturating_mul(1000)))
    };
    let validity = Validity {
        start_ms: secs("EffectiveStartTime")?,
        end_ms: secs("EffectiveEndTime")?,
    };
    if !validity.is_well_formed() {
        return Err(ApiError::invalid(
            "EffectiveEndTime",
            "must be after EffectiveStartTime",
        ));
    }
    let mut host_accounts = BTreeMap::new();
    for (h, ids) in nested(c, "Hosts", "HostId", "HostAccountIds")? {
        host_accounts.insert(h, id_set("Hosts", ids)?);
    }
    let mut database_accounts = BTreeMap::new();
    for (d, ids) in nested(c, "Databases", "DatabaseId", "DatabaseAccountIds")? {
        database_accounts.insert(d, id_set("Databases", ids)?);
    }
    let host_groups = nested(c, "HostGroups", "HostGroupId", "HostAccountNames")?
        .into_iter()
        .map(|(g, names)| (g, names.into_iter().collect()))
        .collect();
    Ok(RuleSpec {
        name,
        comment: c.p.string("Comment").unwrap_or_default(),
        validity,
        users: id_set("UserIds", c.p.indexed("UserIds")?)?,
        user_groups: id_set("UserGroupIds", c.p.indexed("UserGroupIds")?)?,
        host_accounts,
        host_groups,
        database_accounts,
    })
}

fn secs(ms: Option<u64>) -> u64 {
    ms.map(|m| m / 1000).unwrap_or(0)
}

fn summary(r: &Rule) -> Value {
    json!({
        "Comment": r.spec.comment, "RuleId": r.id.to_string(), "RuleName": r.spec.name,
        "EffectiveStartTime": secs(r.spec.validity.start_ms), "EffectiveEndTime": secs(r.spec.validity.end_ms),
        "RuleState": if r.enabled { "Enabled" } else { "Disabled" },
    })
}

fn detail(s: &State, r: &Rule) -> Value {
    let name_of = |a: &u64| {
        s.host_account(*a)
            .map(|a| a.name.clone())
            .unwrap_or_default()
    };
    json!({
        "Comment": r.spec.comment, "RuleId": r.id.to_string(), "RuleName": r.spec.name,
        "EffectiveStartTime": secs(r.spec.validity.start_ms).to_string(),
        "EffectiveEndTime": secs(r.spec.validity.end_ms).to_string(),
        "Users": r.spec.users.iter().map(|u| json!({"UserId": u.to_string()})).collect::<Vec<_>>(),
        "UserGroups": r.spec.user_groups.iter().map(|g| json!({"UserGroupId": g.to_string()})).collect::<Vec<_>>(),
        "Hosts": r.spec.host_accounts.iter().map(|(h, a)| json!({"HostId": h.to_string(),
            "HostAccounts": a.iter().map(|a| json!({"HostAccountId": a.to_string(), "HostAccountName": name_of(a)})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        "HostGroups": r.spec.host_groups.iter().map(|(g, n)| json!({"HostGroupId": g.to_string(), "HostAccountNames": n})).collect::<Vec<_>>(),
        "Databases": r.spec.database_accounts.iter().map(|(d, a)| json!({"DatabaseId": d.to_string(),
            "DatabaseAccounts": a.iter().map(|a| json!({"DatabaseAccountId": a.to_string()})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
    })
}

async fn create(c: &Call) -> ApiResult {
    let spec = spec(c, c.p.req("RuleName")?.to_string())?;
    let id = c.create(Command::CreateRule(spec)).await?;
    Ok(one("RuleId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("RuleId")?;
    let v = c.read(|s| s.rule(id).map(|r| detail(s, r))).await?;
    Ok(one("Rule", found(v, EntityKind::Rule, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let name = c.p.opt("RuleName").map(str::to_lowercase);
    let state = c.p.opt("RuleState").map(str::to_ascii_lowercase);
    let paging = c.p.page()?;
    let rows = c
        .read(|s| {
            s.rules()
                .filter(|r| {
                    name.as_ref()
                        .is_none_or(|n| r.spec.name.to_lowercase().contains(n))
                })
                .filter(|r| {
                    state
                        .as_deref()
                        .is_none_or(|st| (st == "enabled") == r.enabled)
                })
                .map(summary)
                .collect()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("Rules", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    let rule_id = c.p.id("RuleId")?;
    let current = c
        .read(|s| s.rule(rule_id).map(|r| r.spec.name.clone()))
        .await?;
    let name = match c.p.opt("RuleName") {
        Some(n) => n.to_string(),
        None => found(current, EntityKind::Rule, rule_id)?,
    };
    let spec = spec(c, name)?;
    c.propose(Command::UpdateRule { rule_id, spec }).await?;
    Ok(done())
}

async fn set_enabled(c: &Call, enabled: bool) -> ApiResult {
    let rule_id = c.p.id("RuleId")?;
    c.propose(Command::SetRuleEnabled { rule_id, enabled })
        .await?;
    Ok(done())
}

async fn enable(c: &Call) -> ApiResult {
    set_enabled(c, true).await
}

async fn disable(c: &Call) -> ApiResult {
    set_enabled(c, false).await
}

async fn delete(c: &Call) -> ApiResult {
    let rule_id = c.p.id("RuleId")?;
    c.propose(Command::DeleteRule { rule_id }).await?;
    Ok(done())
}
