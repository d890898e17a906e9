//! Control policies: CreatePolicy, ModifyPolicy, GetPolicy, ListPolicies, DeletePolicy, the
//! scopes (Get/SetPolicyUserScope, Get/SetPolicyAssetScope) and the controls
//! (SetPolicyCommandConfig, SetPolicyProtocolConfig, SetPolicyIPAclConfig,
//! SetPolicyAccessTimeRangeConfig, SetPolicyApprovalConfig).
//!
//! The controls arrive as JSON text (the SDK's "shrink" form), the scopes flattened
//! (`UserIds.1`, `Hosts.1.HostId`, `Hosts.1.HostAccountIds.1`). Each `Set*` replaces one part of
//! the policy in one log entry, so concurrent calls on different parts never undo each other.

mod controls;
mod scopes;

use crate::api::call::{done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, ParamSpec, Ty};
use portunus_model::{Command, EntityKind, Policy, PolicyBasics, PolicyPart};
use serde_json::{json, Value};

const POLICY: ParamSpec = req("PolicyId", Ty::Id);
const PROJECT: ParamSpec = opt("ProjectId", Ty::Str);

pub static ACTIONS: &[Action] = &[
    action!(
        "CreatePolicy",
        Write,
        create,
        "Creates a control policy. It covers no user and no asset until its scopes are set, \
         and allows everything until its controls are set.",
        [
            req("PolicyName", Ty::Str),
            opt("Priority", Ty::Int),
            opt("Comment", Ty::Str),
            PROJECT
        ]
    ),
    action!(
        "ModifyPolicy",
        Write,
        modify,
        "Changes a control policy's name, priority or description; parameters left out keep \
         their value.",
        [
            POLICY,
            opt("PolicyName", Ty::Str),
            opt("Priority", Ty::Int),
            opt("Comment", Ty::Str),
            PROJECT
        ]
    ),
    action!(
        "GetPolicy",
        Read,
        get,
        "Queries a control policy with its controls.",
        [POLICY, PROJECT]
    ),
    action!(
        "ListPolicies",
        Read,
        list,
        "Lists control policies, first priority first (PolicyName: exact match).",
        [
            opt("PolicyName", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
            PROJECT
        ]
    ),
    action!(
        "DeletePolicy",
        Write,
        delete,
        "Deletes a control policy.",
        [POLICY, PROJECT]
    ),
    action!(
        "GetPolicyUserScope",
        Read,
        scopes::get_users,
        "Queries the users a control policy covers.",
        [POLICY, PROJECT]
    ),
    action!(
        "SetPolicyUserScope",
        Write,
        scopes::set_users,
        "Sets the users a control policy covers. ScopeType: All, User (UserIds) or UserGroup \
         (UserGroupIds).",
        [
            POLICY,
            req("ScopeType", Ty::Str),
            opt("UserIds", Ty::Indexed),
            opt("UserGroupIds", Ty::Indexed),
            PROJECT
        ]
    ),
    action!(
        "GetPolicyAssetScope",
        Read,
        scopes::get_assets,
        "Queries the assets a control policy covers.",
        [POLICY, PROJECT]
    ),
    action!(
        "SetPolicyAssetScope",
        Write,
        scopes::set_assets,
        "Sets the assets a control policy covers. ScopeType: All, Host (Hosts), HostGroup \
         (HostGroups) or Database (Databases); each entry's AccountScopeType is All or \
         AccountId (AccountName for host groups).",
        [
            POLICY,
            req("ScopeType", Ty::Str),
            opt("Hosts", Ty::Indexed),
            opt("HostGroups", Ty::Indexed),
            opt("Databases", Ty::Indexed),
            PROJECT
        ]
    ),
    action!(
        "SetPolicyCommandConfig",
        Write,
        controls::set_commands,
        "Sets a control policy's command control: Deny.AclType black (listed commands \
         refused) or white (only listed commands run), Deny.Commands the patterns; \
         Approval.Commands the commands held for an administrator's approval.",
        [POLICY, req("CommandConfig", Ty::Json), PROJECT]
    ),
    action!(
        "SetPolicyProtocolConfig",
        Write,
        controls::set_protocols,
        "Sets a control policy's SSH, SFTP and RDP options (Enable or Disable; left out = \
         Disable).",
        [POLICY, req("ProtocolConfig", Ty::Json), PROJECT]
    ),
    action!(
        "SetPolicyIPAclConfig",
        Write,
        controls::set_ip_acl,
        "Sets a control policy's source addresses: AclType black or white, IPs addresses or \
         CIDR blocks.",
        [POLICY, req("IPAclConfig", Ty::Json), PROJECT]
    ),
    action!(
        "SetPolicyAccessTimeRangeConfig",
        Write,
        controls::set_hours,
        "Sets the hours logons are allowed: EffectiveTime entries of Days (1 = Monday to \
         7 = Sunday) and Hours (0 to 23); no entry = any time. TimeZone (Portunus extension): \
         an IANA zone name, default UTC.",
        [POLICY, req("AccessTimeRangeConfig", Ty::Json), PROJECT]
    ),
    action!(
        "SetPolicyApprovalConfig",
        Write,
        controls::set_approval,
        "Sets whether O&M approval is required (SwitchStatus On or Off).",
        [POLICY, req("ApprovalConfig", Ty::Json), PROJECT]
    ),
];

/// Control policies, command approvals and O&M approval requests are instance-wide: a call
/// naming a project is refused rather than applied outside it.
pub(super) fn no_project(c: &Call) -> Result<(), ApiError> {
    match c.p.opt("ProjectId") {
        Some(_) => Err(ApiError::Inapplicable(
            "control policies, command approvals and O&M approval requests are instance-wide (a policy's scope names users and assets directly): leave ProjectId out",
        )),
        None => Ok(()),
    }
}

/// Reads the policy named by `PolicyId` (after a barrier) through `f`.
async fn with_policy<T>(c: &Call, f: impl FnOnce(&Policy) -> T) -> Result<T, ApiError> {
    no_project(c)?;
    let id = c.p.id("PolicyId")?;
    let v = c.read(|s| s.policy(id).map(f)).await?;
    found(v, EntityKind::Policy, id)
}

/// Replaces one part of the policy named by `PolicyId`.
async fn update(c: &Call, part: PolicyPart) -> ApiResult {
    no_project(c)?;
    let policy_id = c.p.id("PolicyId")?;
    c.propose(Command::UpdatePolicy { policy_id, part }).await?;
    Ok(done())
}

fn priority(c: &Call) -> Result<Option<u8>, ApiError> {
    match c.p.num::<i64>("Priority")? {
        None => Ok(None),
        Some(p) => u8::try_from(p)
            .ok()
            .filter(|p| portunus_model::policy::PRIORITIES.contains(p))
            .map(Some)
            .ok_or_else(|| ApiError::invalid("Priority", "must be between 1 and 100")),
    }
}

async fn create(c: &Call) -> ApiResult {
    no_project(c)?;
    let basics = PolicyBasics {
        name: c.p.req("PolicyName")?.to_string(),
        comment: c.p.string("Comment").unwrap_or_default(),
        priority: priority(c)?.unwrap_or(1),
    };
    let id = c.create(Command::CreatePolicy(basics)).await?;
    Ok(one("PolicyId", id.to_string()))
}

async fn modify(c: &Call) -> ApiResult {
    let current = with_policy(c, |p| p.basics.clone()).await?;
    let basics = PolicyBasics {
        name: c.p.string("PolicyName").unwrap_or(current.name),
        comment: c.p.string("Comment").unwrap_or(current.comment),
        priority: priority(c)?.unwrap_or(current.priority),
    };
    update(c, PolicyPart::Basics(basics)).await
}

fn summary(p: &Policy) -> Value {
    json!({
        "PolicyId": p.id.to_string(),
        "PolicyName": p.basics.name,
        "Priority": p.basics.priority,
        "Comment": p.basics.comment,
    })
}

async fn get(c: &Call) -> ApiResult {
    let view = with_policy(c, |p| {
        let mut v = summary(p);
        if let Value::Object(m) = &mut v {
            m.extend(controls::view(p));
        }
        v
    })
    .await?;
    Ok(one("Policy", view))
}

async fn list(c: &Call) -> ApiResult {
    no_project(c)?;
    let paging = c.p.page()?;
    let name = c.p.string("PolicyName");
    let (items, total) = c
        .read(|s| {
            let mut all: Vec<&Policy> = s
                .policies()
                .filter(|p| name.as_ref().is_none_or(|n| *n == p.basics.name))
                .collect();
            all.sort_by(|a, b| {
                if a.precedes(b) {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Greater
                }
            });
            paginate(all.into_iter().map(summary).collect::<Vec<_>>(), paging)
        })
        .await?;
    Ok(page("Policies", items, total))
}

async fn delete(c: &Call) -> ApiResult {
    no_project(c)?;
    let policy_id = c.p.id("PolicyId")?;
    c.propose(Command::DeletePolicy { policy_id }).await?;
    Ok(done())
}
