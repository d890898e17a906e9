//! Actions of Alibaba Cloud's control plane that mean nothing on a self-hosted cluster. Each
//! answers `OperationNotSupported` with why and what to use instead, never as if done; a
//! listing of things that cannot exist answers, truthfully, an empty list.

use crate::api::call::Call;
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, opt, Action, Ty};
use serde_json::json;

pub static ACTIONS: &[Action] = &[
    action!(
        "StartInstance",
        Write,
        start,
        "Refused: a Portunus instance is started by starting its nodes.",
        [
            opt("SecurityGroupIds", Ty::Indexed),
            opt("VswitchId", Ty::Str),
            opt("SlaveVswitchId", Ty::Str),
            opt("ClientSecurityGroupIds", Ty::Indexed),
            opt("EnablePortalPrivateAccess", Ty::Bool),
        ]
    ),
    action!(
        "MoveResourceGroup",
        Write,
        move_resource_group,
        "Refused: a self-hosted cluster belongs to no cloud resource group.",
        [
            opt("ResourceGroupId", Ty::Str),
            opt("ResourceId", Ty::Str),
            opt("ResourceType", Ty::Str),
        ]
    ),
    action!(
        "ConfigInstanceSecurityGroups",
        Write,
        security_groups,
        "Refused: security groups are the cloud's firewall.",
        [
            opt("AuthorizedSecurityGroups", Ty::Indexed),
            opt("Lang", Ty::Str),
        ]
    ),
    action!(
        "AddInstanceRdMember",
        Write,
        rd_member,
        "Refused: resource-directory member accounts are cloud accounts.",
        [opt("MemberId", Ty::Str)]
    ),
    action!(
        "RemoveInstanceRdMember",
        Write,
        rd_member,
        "Refused: resource-directory member accounts are cloud accounts.",
        [opt("MemberId", Ty::Str)]
    ),
    action!(
        "ListInstanceRdMembers",
        Read,
        no_rd_members,
        "Lists resource-directory member accounts: always none on a self-hosted cluster.",
        [opt("MaxResults", Ty::Int), opt("NextToken", Ty::Str)]
    ),
    action!(
        "ImportKMSSecretsForHost",
        Write,
        kms,
        "Refused: hosted credentials are sealed by the cluster's own keys, not KMS.",
        [
            opt("HostId", Ty::Id),
            opt("KmsSecrets", Ty::Str).secret(),
            opt("Secrets", Ty::Str).secret(),
        ]
    ),
    action!(
        "ListImportableKMSSecretsForHost",
        Read,
        kms,
        "Refused: hosted credentials are sealed by the cluster's own keys, not KMS.",
        [
            opt("HostId", Ty::Id),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
];

async fn start(_: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(
        "StartInstance does not apply to a self-hosted cluster: the instance runs while its \
         nodes run (systemctl start portunus on each, see deploy/); this answer came from a \
         running node",
    ))
}

async fn move_resource_group(_: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(
        "MoveResourceGroup does not apply to a self-hosted cluster: it belongs to no cloud \
         resource group. To group assets use host groups (CreateHostGroup) or tags \
         (TagResources)",
    ))
}

async fn security_groups(_: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(
        "ConfigInstanceSecurityGroups does not apply to a self-hosted cluster: security groups \
         are the cloud's firewall. Use the nodes' own firewall and listen addresses \
         (--ssh-listen, --api-listen), the instance's public white list \
         (ConfigInstanceWhiteList) or a control policy's IP ACL (SetPolicyIPAclConfig)",
    ))
}

async fn rd_member(_: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(
        "resource-directory member accounts are Alibaba Cloud accounts whose assets the cloud \
         service imports; a self-hosted cluster has none. Register hosts and databases with \
         CreateHost and CreateDatabase",
    ))
}

async fn no_rd_members(c: &Call) -> ApiResult {
    c.p.no_next_token()?;
    let max: u32 = c.p.num("MaxResults")?.unwrap_or(20);
    if !(1..=100).contains(&max) {
        return Err(ApiError::invalid("MaxResults", "must be 1 to 100"));
    }
    let mut out = serde_json::Map::new();
    out.insert("Members".into(), json!([]));
    out.insert("MaxResults".into(), json!(max));
    out.insert("NextToken".into(), json!(""));
    Ok(out)
}

async fn kms(_: &Call) -> ApiResult {
    Err(ApiError::Inapplicable(
        "KMS secrets do not apply to a self-hosted cluster: hosted credentials are sealed with \
         the cluster's own sealing keys (README, \"The sealing key\"). Give the password or private key \
         with CreateHostAccount or ModifyHostAccount",
    ))
}
