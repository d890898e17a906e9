//! Parameter accounting: every parameter an action declares is read by its handler, and every
//! parameter the official SDK sends for a served action is declared, unless a list below
//! says why not.

use super::*;
use crate::api::auth::Caller;
use crate::api::call::Call;
use crate::api::error::ApiResult;
use crate::api::table::{Action, ParamSpec, Ty};
use std::collections::{BTreeMap, BTreeSet};

/// How a probe fills the declared parameters.
#[derive(Clone, Copy)]
enum Fill {
    /// Required ones with a value, optional ones present but empty (as if absent).
    RequiredOnly,
    /// Every one with a value, booleans true or false.
    All(bool),
}

/// A value of the right type for `spec`.
fn value_for(spec: &ParamSpec, fill: Fill) -> Option<String> {
    let flag = match fill {
        Fill::RequiredOnly if !spec.required => return Some(String::new()),
        Fill::RequiredOnly => true,
        Fill::All(flag) => flag,
    };
    if spec.name == "ScopeType" && spec.ty == Ty::Str {
        return Some("All".to_string());
    }
    if let Some((_, v)) = NAMED.iter().find(|(n, _)| *n == spec.name) {
        return Some((*v).to_string());
    }
    let v = match spec.ty {
        Ty::Id => "1",
        Ty::IdList => "[\"1\"]",
        Ty::Int => "1",
        Ty::Bool => return Some(flag.to_string()),
        Ty::Json => "[]",
        Ty::Indexed => return None,
        Ty::Str => "x",
    };
    Some(v.to_string())
}

/// Further probes of actions whose parameters are read only for some values of another one:
/// the action and the values that differ from [`Fill::All`].
const VARIANTS: &[(&str, &[(&str, &str)])] = &[
    (
        "SetPolicyUserScope",
        &[("ScopeType", "User"), ("ProjectId", "")],
    ),
    (
        "SetPolicyUserScope",
        &[("ScopeType", "UserGroup"), ("ProjectId", "")],
    ),
    (
        "SetPolicyAssetScope",
        &[("ScopeType", "Host"), ("ProjectId", "")],
    ),
    (
        "SetPolicyAssetScope",
        &[("ScopeType", "HostGroup"), ("ProjectId", "")],
    ),
    (
        "SetPolicyAssetScope",
        &[("ScopeType", "Database"), ("ProjectId", "")],
    ),
    ("CreateOperationTicket", &[("ProjectId", "")]),
    ("ModifyUserPublicKey", &[("PublicKey", "")]),
    ("GenerateAssetOperationToken", &[("AssetAccountId", "")]),
];

/// Valid values for parameters that are enumerations or have a format, and the accepted
/// values of parameters refused otherwise (so that a probe goes on to read the others).
const NAMED: &[(&str, &str)] = &[
    ("InstanceMemberId", ""),
    ("InstanceRegionId", ""),
    ("SourceInstanceRegionId", ""),
    ("PolarDBEndpointType", ""),
    ("SourceInstanceState", ""),
    ("DatabasePublicAddress", ""),
    ("PrefKex", "default"),
    ("OperationMode", "WebToken"),
    ("SsoClient", ""),
    ("LoginAttribute", ""),
    ("OperationNote", ""),
    ("DatabaseSchema", ""),
    ("MobileCountryCode", ""),
    ("Language", ""),
    ("LanguageStatus", "Global"),
    ("NeedResetPassword", "false"),
    ("PrivilegeType", "Normal"),
    ("RotationMode", "Self"),
    ("UserSourceId", ""),
    ("ServerName", ""),
    ("IsDefault", "false"),
    ("IsSyncEmailAttr", "false"),
    ("IsSyncMobileAttr", "false"),
    ("IsSyncNameAttr", "false"),
    ("IsSyncOuAsUserGroup", "false"),
    ("SyncInterval", "0"),
    ("IsSyncGroupAsUserGroup", "false"),
    ("ResourceGroupId", ""),
    ("TwoFactorStatus", "Global"),
    ("Email", "u@example.com"),
    ("AssetAccountProtocolName", "SSH"),
    (
        "CommandConfig",
        "{\"Deny\":{\"AclType\":\"black\",\"Commands\":[]}}",
    ),
    ("IPAclConfig", "{\"AclType\":\"black\",\"IPs\":[]}"),
    ("ApprovalConfig", "{\"SwitchStatus\":\"Off\"}"),
    ("ActiveAddressType", "Private"),
    ("OSType", "Linux"),
    ("Source", "Local"),
    ("ProtocolName", "SSH"),
    ("PassPhrase", ""),
    ("PublicKey", KEY),
    ("AssetType", "Host"),
    ("DatabaseType", "MySQL"),
    ("NetworkDomainType", "Direct"),
    ("ResourceType", "INSTANCE"),
    ("Kind", "Verb"),
    ("Values", "[\"DROP\"]"),
    ("EffectiveStartTime", "1700000000"),
    ("EffectiveEndTime", "2000000000"),
    ("ProtocolConfig", "{}"),
    ("AccessTimeRangeConfig", "{}"),
    ("NextToken", ""),
];

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGvl8Kx7Q3TGpr2cWg4PzGRA5Jlqg9yHCWkHgTNJiHvW probe";

/// A creating action, its parameters and the id field of its answer.
type Creation = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

/// The entities a probe may name, created in this order: the creating action, its parameters
/// (`$Name` is the id answered earlier as `Name`) and the id field of its answer.
const FIXTURE: &[Creation] = &[
    (
        "CreateUser",
        &[("UserName", "u"), ("Source", "Local")],
        "UserId",
    ),
    (
        "CreateUserPublicKey",
        &[
            ("UserId", "$UserId"),
            ("PublicKey", KEY),
            ("PublicKeyName", "k"),
        ],
        "PublicKeyId",
    ),
    (
        "CreateHost",
        &[
            ("HostName", "h"),
            ("Source", "Local"),
            ("OSType", "Linux"),
            ("ActiveAddressType", "Private"),
            ("HostPrivateAddress", "10.0.0.1"),
        ],
        "HostId",
    ),
    (
        "CreateHostAccount",
        &[
            ("HostId", "$HostId"),
            ("HostAccountName", "root"),
            ("ProtocolName", "SSH"),
        ],
        "HostAccountId",
    ),
    (
        "CreateDatabase",
        &[
            ("DatabaseName", "d"),
            ("DatabaseType", "MySQL"),
            ("Source", "Local"),
            ("DatabasePort", "3306"),
            ("ActiveAddressType", "Private"),
            ("DatabasePrivateAddress", "10.0.0.2"),
        ],
        "DatabaseId",
    ),
    (
        "CreateDatabaseAccount",
        &[
            ("DatabaseId", "$DatabaseId"),
            ("DatabaseAccountName", "app"),
        ],
        "DatabaseAccountId",
    ),
    ("CreateUserGroup", &[("UserGroupName", "g")], "UserGroupId"),
    ("CreateHostGroup", &[("HostGroupName", "hg")], "HostGroupId"),
    (
        "CreateNetworkDomain",
        &[("NetworkDomainName", "n"), ("NetworkDomainType", "Direct")],
        "NetworkDomainId",
    ),
    (
        "CreateSqlRule",
        &[("Name", "s"), ("Kind", "Verb"), ("Values", "[\"DROP\"]")],
        "SqlRuleId",
    ),
    ("CreateProject", &[("Name", "p")], "ProjectId"),
    ("CreatePolicy", &[("PolicyName", "pol")], "PolicyId"),
    (
        "CreateProjectAuthorization",
        &[("Name", "a"), ("ScopeType", "1")],
        "AuthorizationId",
    ),
    (
        "CreateReviewRule",
        &[("Name", "r"), ("ScopeType", "1")],
        "ReviewRuleId",
    ),
    ("CreateRule", &[("RuleName", "rule")], "RuleId"),
];

/// Id parameters named otherwise than the id field of the entity they name.
const ALIASES: &[(&str, &str)] = &[
    ("AssetId", "HostId"),
    ("AssetAccountId", "HostAccountId"),
    ("PrincipalId", "UserId"),
];

fn admin() -> Caller {
    Caller {
        access_key_id: "admin".into(),
        role: Role::Admin,
        user_id: None,
    }
}

/// A backend holding one entity of each kind in [`FIXTURE`], and their ids by field name.
async fn fixture() -> (Arc<FakeBackend>, BTreeMap<&'static str, String>) {
    let backend = Arc::new(FakeBackend::new(INSTANCE));
    let mut ids = BTreeMap::new();
    for (action, params, field) in FIXTURE {
        let mut pairs = vec![("Action".to_string(), (*action).to_string())];
        for (k, v) in *params {
            let v = match v.strip_prefix('$') {
                Some(name) => ids.get(name).cloned().expect("created earlier"),
                None => (*v).to_string(),
            };
            pairs.push(((*k).to_string(), v));
        }
        let body = run_action(backend.clone(), admin(), "probe", pairs)
            .await
            .unwrap_or_else(|e| panic!("fixture {action}: {e}"));
        let id = match &body[*field] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("fixture {action}: {field} is {other}"),
        };
        ids.insert(*field, id);
    }
    (backend, ids)
}

/// The value `spec` gets: an id of the fixture, a list of one, or [`value_for`].
fn fill_in(spec: &ParamSpec, fill: Fill, ids: &BTreeMap<&str, String>) -> Option<String> {
    let value = value_for(spec, fill)?;
    if value.is_empty() {
        return Some(value);
    }
    let one = spec.name.strip_suffix('s').unwrap_or(spec.name);
    let alias = ALIASES.iter().find(|(n, _)| *n == spec.name);
    let one = alias.map_or(one, |(_, kind)| kind);
    match (spec.ty, ids.get(spec.name), ids.get(one)) {
        (Ty::Id, Some(id), _) | (Ty::Id, None, Some(id)) => Some(id.clone()),
        (Ty::IdList, _, Some(id)) => Some(format!("[\"{id}\"]")),
        _ => Some(value),
    }
}

/// Runs `action`'s handler over the fixture with its declared parameters filled as `fill`
/// says; the names it read and the outcome.
async fn probe(
    action: &'static Action,
    fill: Fill,
    overrides: &[(&str, &str)],
) -> (BTreeSet<String>, ApiResult) {
    let (backend, ids) = fixture().await;
    let mut p = Params::default();
    let pairs = action.params.iter().filter_map(|s| {
        let given = overrides.iter().find(|(n, _)| *n == s.name);
        let value = match given {
            Some((_, v)) => Some((*v).to_string()),
            None => fill_in(s, fill, &ids),
        };
        value.map(|v| (s.name.to_string(), v))
    });
    p.extend(pairs).expect("distinct names");
    if let Some(spec) = action.params.iter().find(|s| s.name == "ResourceId") {
        let listed = [(format!("{}.1", spec.name), INSTANCE.to_string())];
        p.extend(listed.into_iter()).expect("distinct names");
    }
    let call = Call {
        backend,
        p,
        caller: admin(),
        now_ms: now_ms(),
    };
    let outcome = (action.handler)(&call).await;
    (call.p.names_read(), outcome)
}

/// Whether the whole action is refused as meaningless on a self-hosted cluster, whatever
/// its parameters say.
fn refused_whole(outcome: &ApiResult) -> bool {
    matches!(
        outcome,
        Err(ApiError::Inapplicable(_)) | Err(ApiError::NotSupported(_))
    )
}

/// Declared parameters a handler does not read, each with why that is not ignoring the
/// caller. Keep it short: a parameter with a meaning is honoured or refused in its handler.
const UNREAD: &[(&str, &str, &str)] = &[
    // Each of these lists always answers empty (see its summary): a filter has nothing to
    // filter out, so the answer is the one the filter asks for.
    (
        "ListMembersNotForProject",
        "Keyword",
        "filter of a list that is always empty",
    ),
    (
        "ListProjectNotifyReceivers",
        "Keyword",
        "filter of a list that is always empty",
    ),
    (
        "ListTodoOpsTaskApprovals",
        "Keyword",
        "filter of a list that is always empty",
    ),
    (
        "ListTodoOpsTaskApprovals",
        "ScheduleType",
        "filter of a list that is always empty",
    ),
];

/// Parameters the SDK sends that an action does not declare, with why. Every action also
/// accepts the [`crate::api::table::COMMON`] parameters, which the dispatcher handles:
/// `InstanceId` must name this cluster, `ProjectId` is checked against the assets the call
/// names or refused where it constrains nothing, and `RegionId` is below.
const UNDECLARED: &[(&str, &str, &str)] = &[(
    "*",
    "RegionId",
    "routing: the SDK picks the endpoint by region; a cluster answers whatever it is called",
)];

/// Whether `table` excuses `param` of `action`.
fn excused(table: &[(&str, &str, &str)], action: &str, param: &str) -> bool {
    table
        .iter()
        .any(|(a, p, _)| (*a == action || *a == "*") && *p == param)
}

/// The names read by the handler of `action` over every probe, and whether the action is
/// refused whole.
async fn read_by(action: &'static Action) -> (BTreeSet<String>, Option<String>) {
    let (mut read, outcome) = probe(action, Fill::All(true), &[]).await;
    read.extend(probe(action, Fill::All(false), &[]).await.0);
    for (_, overrides) in VARIANTS.iter().filter(|(a, _)| *a == action.name) {
        read.extend(probe(action, Fill::All(true), overrides).await.0);
    }
    let (least, minimal) = probe(action, Fill::RequiredOnly, &[]).await;
    read.extend(least);
    if refused_whole(&minimal) {
        return (read, None);
    }
    let outcome = match outcome {
        Ok(_) => "succeeds".to_string(),
        Err(e) => format!("fails: {e}"),
    };
    (read, Some(outcome))
}

#[tokio::test]
async fn every_declared_parameter_is_read_by_its_handler() {
    let mut unread = Vec::new();
    for action in crate::api::actions::all() {
        let (read, outcome) = read_by(action).await;
        let Some(outcome) = outcome else {
            continue;
        };
        for spec in action.params {
            let name = spec.name;
            let is_read = read.contains(name);
            let listed = excused(UNREAD, action.name, name);
            if is_read == listed {
                let why = match listed {
                    true => "is listed in UNREAD but read",
                    false => "is never read",
                };
                unread.push(format!(
                    "{}.{name} {why} (with all given, the call {outcome})",
                    action.name
                ));
            }
        }
    }
    assert!(unread.is_empty(), "\n{}", unread.join("\n"));
}

/// Each served action's SDK parameters, from `sdk_params.txt`.
fn sdk_params() -> BTreeMap<&'static str, Vec<&'static str>> {
    include_str!("sdk_params.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.next().map(|action| (action, words.collect()))
        })
        .collect()
}

#[test]
fn the_sdk_parameter_list_covers_every_sdk_action() {
    let listed: BTreeSet<&str> = sdk_params().into_keys().collect();
    let known: BTreeSet<&str> = crate::api::sdk_actions::SDK_ACTIONS
        .iter()
        .copied()
        .collect();
    assert_eq!(listed, known);
}

#[tokio::test]
async fn every_parameter_the_sdk_sends_is_declared() {
    let sdk = sdk_params();
    let common = ["InstanceId", "ProjectId"];
    let mut missing = Vec::new();
    for action in crate::api::actions::all() {
        let Some(sent) = sdk.get(action.name) else {
            continue;
        };
        let undeclared: Vec<_> = sent
            .iter()
            .filter(|n| !action.params.iter().any(|s| s.name == **n))
            .filter(|n| !common.contains(*n) && !excused(UNDECLARED, action.name, n))
            .collect();
        if undeclared.is_empty() || read_by(action).await.1.is_none() {
            continue;
        }
        for name in undeclared {
            missing.push(format!("{}.{name}", action.name));
        }
    }
    assert!(missing.is_empty(), "undeclared: {}", missing.join(", "));
}
