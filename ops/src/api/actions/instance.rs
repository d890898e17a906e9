//! The instance (the whole cluster): DescribeInstances, DescribeInstanceAttribute,
//! ModifyInstanceAttribute.

use crate::api::call::{done, one, page, Call};
use crate::api::error::ApiResult;
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{Command, InstanceAttributes};
use serde_json::{json, Value};

pub static ACTIONS: &[Action] = &[
    action!(
        "DescribeInstances",
        Read,
        describe_all,
        "Lists the (single) instance.",
        [
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
            opt("InstanceStatus", Ty::Str),
        ]
    ),
    action!(
        "DescribeInstanceAttribute",
        Read,
        describe,
        "Queries the instance.",
        []
    ),
    action!(
        "ModifyInstanceAttribute",
        Write,
        modify,
        "Changes the instance description.",
        [req("Description", Ty::Str),]
    ),
];

fn summary(c: &Call, attrs: &InstanceAttributes) -> Value {
    json!({
        "InstanceId": c.backend.instance_id(),
        "Description": attrs.description,
        "RegionId": attrs.region_id,
        "InstanceStatus": "RUNNING",
        "PublicNetworkAccess": attrs.public_access,
        "ExpireTime": 0,
        "StartTime": 0,
        "ImageVersion": env!("CARGO_PKG_VERSION"),
        "InternetEndpoint": "",
        "IntranetEndpoint": "",
        "LicenseCode": "",
        "PlanCode": "",
        "ResourceGroupId": "",
        "VpcId": "",
        "VswitchId": "",
        "SlaveVswitchId": "",
        "Legacy": false,
        "BandWidth": 0,
    })
}

async fn describe_all(c: &Call) -> ApiResult {
    c.p.page()?;
    let attrs = c.read(|s| s.instance().clone()).await?;
    Ok(page("Instances", vec![summary(c, &attrs)], 1))
}

async fn describe(c: &Call) -> ApiResult {
    let attrs = c.read(|s| s.instance().clone()).await?;
    let mut v = summary(c, &attrs);
    v["PublicWhiteList"] = json!(attrs.public_white_list);
    for list in [
        "AuthorizedSecurityGroups",
        "PrivateWhiteList",
        "PublicIps",
        "SecurityGroupIds",
    ] {
        v[list] = json!([]);
    }
    Ok(one("InstanceAttribute", v))
}

async fn modify(c: &Call) -> ApiResult {
    let mut attrs = c.read(|s| s.instance().clone()).await?;
    attrs.instance_id = c.backend.instance_id();
    attrs.description = c.p.req("Description")?.to_string();
    c.propose(Command::UpdateInstance(attrs)).await?;
    Ok(done())
}
