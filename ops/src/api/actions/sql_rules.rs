//! SQL rules of the database gateway (Portunus extensions; the Bastionhost API has no action
//! for them): statements refused before they reach a database, per database and per user or
//! user group. CreateSqlRule, ModifySqlRule, GetSqlRule, ListSqlRules, DeleteSqlRule.
//!
//! `Kind` is `Verb` (Values: verbs or `VERB OBJECT` pairs such as `DROP`, `DROP DATABASE`),
//! `WithoutWhere` (DELETE/UPDATE without WHERE; no Values), `Table` (Values: globs on
//! `schema.table`) or `Regex` (Values: one regular expression, case-insensitive). Lists are JSON
//! arrays. Empty DatabaseIds: every database; empty UserIds and UserGroupIds: everyone.
//! Rules apply to sessions opened after the change.

use crate::api::call::{done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{Command, EntityKind, SqlMatcher, SqlRule, SqlRuleSpec, State};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const RULE: crate::api::table::ParamSpec = req("SqlRuleId", Ty::Id);

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateSqlRule",
        Write,
        create,
        "Creates a SQL rule of the database gateway (Portunus extension). Kind: Verb, \
         WithoutWhere, Table or Regex; Values: a JSON array of strings.",
        [
            req("Name", Ty::Str),
            req("Kind", Ty::Str),
            opt("Values", Ty::Json),
            opt("DatabaseIds", Ty::IdList),
            opt("UserIds", Ty::IdList),
            opt("UserGroupIds", Ty::IdList),
            opt("Enabled", Ty::Bool),
            opt("Comment", Ty::Str),
        ]
    ),
    action!(
        "ModifySqlRule",
        Write,
        modify,
        "Changes a SQL rule (Portunus extension); parameters left out keep their value.",
        [
            RULE,
            opt("Name", Ty::Str),
            opt("Kind", Ty::Str),
            opt("Values", Ty::Json),
            opt("DatabaseIds", Ty::IdList),
            opt("UserIds", Ty::IdList),
            opt("UserGroupIds", Ty::IdList),
            opt("Enabled", Ty::Bool),
            opt("Comment", Ty::Str),
        ]
    ),
    action!(
        "GetSqlRule",
        Read,
        get,
        "Queries a SQL rule (Portunus extension).",
        [RULE]
    ),
    action!(
        "ListSqlRules",
        Read,
        list,
        "Lists SQL rules (Portunus extension).",
        [opt("PageNumber", Ty::Int), opt("PageSize", Ty::Int)]
    ),
    action!(
        "DeleteSqlRule",
        Write,
        delete,
        "Deletes a SQL rule (Portunus extension).",
        [RULE]
    ),
];

fn ids(v: &BTreeSet<u64>) -> Vec<String> {
    v.iter().map(u64::to_string).collect()
}

/// The API view of a rule.
pub fn view(r: &SqlRule) -> Value {
    let (kind, values) = match &r.spec.matcher {
        SqlMatcher::Verbs(v) => ("Verb", v.clone()),
        SqlMatcher::WithoutWhere => ("WithoutWhere", Vec::new()),
        SqlMatcher::Tables(v) => ("Table", v.clone()),
        SqlMatcher::Regex(x) => ("Regex", vec![x.clone()]),
    };
    json!({
        "SqlRuleId": r.id.to_string(),
        "Name": r.spec.name,
        "Kind": kind,
        "Values": values,
        "Enabled": r.spec.enabled,
        "DatabaseIds": ids(&r.spec.databases),
        "UserIds": ids(&r.spec.users),
        "UserGroupIds": ids(&r.spec.user_groups),
        "Comment": r.spec.comment,
        "CreateTime": r.created_at_ms,
    })
}

/// The matcher from Kind and Values (the values of `current` when Values is left out).
fn matcher(c: &Call, current: Option<&SqlMatcher>) -> Result<SqlMatcher, ApiError> {
    let values = match c.p.opt("Values") {
        Some(_) => Some(c.p.str_list("Values")?),
        None => None,
    };
    let current_values = || match current {
        Some(SqlMatcher::Verbs(v) | SqlMatcher::Tables(v)) => v.clone(),
        Some(SqlMatcher::Regex(x)) => vec![x.clone()],
        _ => Vec::new(),
    };
    let kind = match (c.p.opt("Kind"), current) {
        (Some(k), _) => k.to_string(),
        (None, Some(SqlMatcher::Verbs(_))) => "Verb".into(),
        (None, Some(SqlMatcher::WithoutWhere)) => "WithoutWhere".into(),
        (None, Some(SqlMatcher::Tables(_))) => "Table".into(),
        (None, Some(SqlMatcher::Regex(_))) => "Regex".into(),
        (None, None) => return Err(ApiError::MissingParameter("Kind")),
    };
    let values = values.unwrap_or_else(current_values);
    match kind.as_str() {
        "Verb" => Ok(SqlMatcher::Verbs(values)),
        "WithoutWhere" => Ok(SqlMatcher::WithoutWhere),
        "Table" => Ok(SqlMatcher::Tables(values)),
        "Regex" => match values.as_slice() {
            [one] => match regex::Regex::new(one) {
                Ok(_) => Ok(SqlMatcher::Regex(one.clone())),
                Err(e) => Err(ApiError::invalid(
                    "Values",
                    format!("not a regular expression: {e}"),
                )),
            },
            _ => Err(ApiError::invalid(
                "Values",
                "a Regex rule takes exactly one expression",
            )),
        },
        _ => Err(ApiError::invalid(
            "Kind",
            "expected Verb, WithoutWhere, Table or Regex",
        )),
    }
}

fn id_set(
    c: &Call,
    name: &'static str,
    current: &BTreeSet<u64>,
) -> Result<BTreeSet<u64>, ApiError> {
    match c.p.opt(name) {
        Some(_) => Ok(c.p.id_list(name)?.into_iter().collect()),
        None => Ok(current.clone()),
    }
}

fn spec(c: &Call, current: Option<&SqlRuleSpec>) -> Result<SqlRuleSpec, ApiError> {
    let empty = BTreeSet::new();
    let name = match (c.p.opt("Name"), current) {
        (Some(n), _) => n.to_string(),
        (None, Some(cur)) => cur.name.clone(),
        (None, None) => return Err(ApiError::MissingParameter("Name")),
    };
    Ok(SqlRuleSpec {
        name,
        comment: c
            .p
            .string("Comment")
            .or_else(|| current.map(|x| x.comment.clone()))
            .unwrap_or_default(),
        enabled: c
            .p
            .bool("Enabled")?
            .or(current.map(|x| x.enabled))
            .unwrap_or(true),
        matcher: matcher(c, current.map(|x| &x.matcher))?,
        databases: id_set(c, "DatabaseIds", current.map_or(&empty, |x| &x.databases))?,
        users: id_set(c, "UserIds", current.map_or(&empty, |x| &x.users))?,
        user_groups: id_set(
            c,
            "UserGroupIds",
            current.map_or(&empty, |x| &x.user_groups),
        )?,
    })
}

async fn create(c: &Call) -> ApiResult {
    let spec = spec(c, None)?;
    let id = c.create(Command::CreateSqlRule(spec)).await?;
    Ok(one("SqlRuleId", id.to_string()))
}

async fn modify(c: &Call) -> ApiResult {
    let id = c.p.id("SqlRuleId")?;
    let current = c
        .read(|s: &State| s.sql_rule(id).map(|r| r.spec.clone()))
        .await?;
    let current = found(current, EntityKind::SqlRule, id)?;
    let spec = spec(c, Some(&current))?;
    c.propose(Command::UpdateSqlRule { rule_id: id, spec })
        .await?;
    Ok(done())
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("SqlRuleId")?;
    let rule = c.read(|s| s.sql_rule(id).map(view)).await?;
    Ok(one("SqlRule", found(rule, EntityKind::SqlRule, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let paging = c.p.page()?;
    let (items, total) = c
        .read(|s| paginate(s.sql_rules().map(view).collect::<Vec<_>>(), paging))
        .await?;
    Ok(page("SqlRules", items, total))
}

async fn delete(c: &Call) -> ApiResult {
    let id = c.p.id("SqlRuleId")?;
    c.propose(Command::DeleteSqlRule { rule_id: id }).await?;
    Ok(done())
}
