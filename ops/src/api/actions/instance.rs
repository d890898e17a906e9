//! The instance (the whole cluster): DescribeInstances, DescribeInstanceAttribute,
//! ModifyInstanceAttribute, its public-network door (ConfigInstanceWhiteList,
//! Enable/DisableInstancePublicAccess), DescribeRegions and GetInstanceStoreInfo.

use crate::api::call::{done, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, Action, Ty};
use portunus_model::{Command, InstanceAttributes, ResourceRef, WhiteListEntry};
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
            opt("ResourceGroupId", Ty::Str),
            opt("Tag", Ty::Indexed),
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
        "Changes the instance description and (a Portunus extension) the O&M addresses given to \
         engineers: InternetEndpoint for engineers on public networks, IntranetEndpoint for \
         private ones (a host name or an IP address, the load balancer's in front of the \
         nodes; an empty value clears one). The portal's token dialog, local client links and \
         the console's overview use the one that fits the browser's source address, else the \
         host name the browser used. At least one of the three parameters is required.",
        [
            opt("Description", Ty::Str),
            opt("InternetEndpoint", Ty::Str),
            opt("IntranetEndpoint", Ty::Str),
        ]
    ),
    action!(
        "ConfigInstanceWhiteList",
        Write,
        config_white_list,
        "Replaces the public white list: when not empty, logons from public (globally \
         routable) source addresses must come from one of its blocks; private, loopback and \
         link-local sources are never affected. WhiteList.N: addresses or CIDR blocks (an \
         entry may hold several, comma-separated); WhiteListPolicies.N.Entry/.Description: \
         the same with a remark. At most 50 blocks; 0.0.0.0/0 is refused. Neither given: the \
         list is emptied.",
        [
            opt("WhiteList", Ty::Indexed),
            opt("WhiteListPolicies", Ty::Indexed),
        ]
    ),
    action!(
        "EnableInstancePublicAccess",
        Write,
        enable_public,
        "Lets public source addresses log on again (subject to the public white list).",
        []
    ),
    action!(
        "DisableInstancePublicAccess",
        Write,
        disable_public,
        "Refuses every logon from a public source address, on every gateway and the web \
         portal; private sources are not affected. The API is governed by its AccessKeys and \
         listen address, not by this switch.",
        []
    ),
    action!(
        "DescribeRegions",
        Read,
        regions,
        "Lists the single region of a self-hosted cluster.",
        [opt("AcceptLanguage", Ty::Str)]
    ),
    action!(
        "GetInstanceStoreInfo",
        Read,
        store_info,
        "Storage used and available: Usage is the largest member's data directory, Max the \
         smallest member's filesystem (every member holds a full copy); Nodes lists each \
         member with its Raft, recording and audit bytes.",
        []
    ),
];

fn summary(c: &Call, attrs: &InstanceAttributes) -> Value {
    json!({
        "InstanceId": c.backend.instance_id(),
        "Description": attrs.description,
        "RegionId": region_id(attrs),
        "InstanceStatus": "RUNNING",
        "PublicNetworkAccess": attrs.public_access,
        "ExpireTime": 0,
        "StartTime": 0,
        "ImageVersion": env!("CARGO_PKG_VERSION"),
        "InternetEndpoint": attrs.internet_endpoint,
        "IntranetEndpoint": attrs.intranet_endpoint,
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

/// The one instance, when it has the status (`RUNNING` while a node answers) and every tag
/// asked for (a tag asked without a value matches any value).
async fn describe_all(c: &Call) -> ApiResult {
    let paging = c.p.page()?;
    c.p.only("ResourceGroupId", &[], super::tags::NO_RESOURCE_GROUP)?;
    let status = c.p.opt("InstanceStatus");
    let wanted = super::tags::tags(c)?;
    let (attrs, tags) = c
        .read(|s| {
            let tags = s.tags_of(ResourceRef::Instance).cloned();
            (s.instance().clone(), tags.unwrap_or_default())
        })
        .await?;
    let summary = summary(c, &attrs);
    let status_matches = status
        .is_none_or(|st| summary["InstanceStatus"].as_str() == Some(st.to_uppercase().as_str()));
    let tags_match = wanted
        .iter()
        .all(|(k, w)| tags.get(k).is_some_and(|v| w.is_empty() || v == w));
    let found: Vec<_> = [summary]
        .into_iter()
        .filter(|_| status_matches && tags_match)
        .collect();
    let (items, total) = paginate(found, paging);
    Ok(page("Instances", items, total))
}

async fn describe(c: &Call) -> ApiResult {
    let attrs = c.read(|s| s.instance().clone()).await?;
    let mut v = summary(c, &attrs);
    v["PublicWhiteList"] = json!(attrs
        .public_white_list
        .iter()
        .map(|e| e.entry.clone())
        .collect::<Vec<_>>());
    v["WhiteListPolicies"] = json!(attrs
        .public_white_list
        .iter()
        .map(|e| json!({"Entry": e.entry, "Description": e.description}))
        .collect::<Vec<_>>());
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
    let description = c.p.opt("Description");
    // Present and empty clears an address.
    let (internet, intranet) = (c.p.get("InternetEndpoint"), c.p.get("IntranetEndpoint"));
    if description.is_none() && internet.is_none() && intranet.is_none() {
        return Err(ApiError::MissingParameter("Description"));
    }
    for (name, value) in [
        ("InternetEndpoint", internet),
        ("IntranetEndpoint", intranet),
    ] {
        if let Some(why) = value.and_then(portunus_model::endpoint_invalid) {
            return Err(ApiError::invalid(name, why));
        }
    }
    if let Some(description) = description {
        if description.chars().count() > 500 {
            return Err(ApiError::invalid(
                "Description",
                "at most 500 characters are allowed",
            ));
        }
        c.propose(Command::SetInstanceDescription(description.to_string()))
            .await?;
    }
    if internet.is_some() || intranet.is_some() {
        let now = c.read(|s| s.instance().clone()).await?;
        c.propose(Command::SetInstanceEndpoints {
            internet: internet.map_or(now.internet_endpoint, str::to_string),
            intranet: intranet.map_or(now.intranet_endpoint, str::to_string),
        })
        .await?;
    }
    Ok(done())
}

/// The blocks of a white list as the SDK sends them (both forms, in order).
fn white_list(c: &Call) -> Result<Vec<WhiteListEntry>, ApiError> {
    let plain =
        c.p.indexed("WhiteList")?
            .into_iter()
            .map(|e| (e, String::new()));
    let mut described = Vec::new();
    for (i, mut m) in
        c.p.indexed_objects("WhiteListPolicies")?
            .into_iter()
            .enumerate()
    {
        let entry = m.remove("Entry").ok_or_else(|| {
            ApiError::invalid(
                &format!("WhiteListPolicies.{}.Entry", i + 1),
                "each policy needs an Entry",
            )
        })?;
        described.push((entry, m.remove("Description").unwrap_or_default()));
    }
    let mut out = Vec::new();
    for (text, description) in plain.chain(described) {
        for block in text.split(',').map(str::trim).filter(|b| !b.is_empty()) {
            if !out.iter().any(|e: &WhiteListEntry| e.entry == block) {
                out.push(WhiteListEntry {
                    entry: block.to_string(),
                    description: description.clone(),
                });
            }
        }
    }
    portunus_model::validate_white_list(&out).map_err(|r| ApiError::invalid("WhiteList", r))?;
    Ok(out)
}

fn with_instance_id(c: &Call) -> ApiResult {
    Ok(one("InstanceId", c.backend.instance_id()))
}

async fn config_white_list(c: &Call) -> ApiResult {
    let entries = white_list(c)?;
    c.propose(Command::SetPublicWhiteList(entries)).await?;
    with_instance_id(c)
}

async fn enable_public(c: &Call) -> ApiResult {
    c.propose(Command::SetPublicAccess(true)).await?;
    with_instance_id(c)
}

async fn disable_public(c: &Call) -> ApiResult {
    c.propose(Command::SetPublicAccess(false)).await?;
    with_instance_id(c)
}

/// The region a self-hosted cluster reports: the one its instance names, else `local`.
pub(crate) fn region_id(attrs: &InstanceAttributes) -> String {
    if attrs.region_id.is_empty() {
        "local".to_string()
    } else {
        attrs.region_id.clone()
    }
}

async fn regions(c: &Call) -> ApiResult {
    let attrs = c.read(|s| s.instance().clone()).await?;
    let name = match c.p.opt("AcceptLanguage") {
        Some("en-US") | Some("ja") => "Portunus (self-hosted)",
        None | Some("") | Some("zh-CN") => "Portunus（自建）",
        Some(other) => {
            return Err(ApiError::invalid(
                "AcceptLanguage",
                format!("{other:?} is not one of zh-CN, en-US, ja"),
            ))
        }
    };
    Ok(one(
        "Regions",
        json!([{
            "RegionId": region_id(&attrs),
            "LocalName": name,
            "RegionEndpoint": "",
        }]),
    ))
}

async fn store_info(c: &Call) -> ApiResult {
    let nodes = c.backend.store_usage().await?;
    let answered: Vec<_> = nodes.iter().filter(|n| n.error.is_none()).collect();
    if answered.is_empty() {
        return Err(ApiError::Unavailable(
            "no member reported its storage".into(),
        ));
    }
    let usage = answered.iter().map(|n| n.used_bytes).max().unwrap_or(0);
    let max = answered.iter().map(|n| n.capacity_bytes).min().unwrap_or(0);
    let list: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "NodeId": n.node_id.to_string(),
                "Usage": n.used_bytes,
                "Max": n.capacity_bytes,
                "Free": n.free_bytes,
                "RaftBytes": n.raft_bytes,
                "RecordingBytes": n.blob_bytes,
                "AuditBytes": n.audit_bytes,
                "Error": n.error,
            })
        })
        .collect();
    let mut out = one("Usage", usage);
    out.insert("Max".into(), json!(max));
    out.insert("Nodes".into(), json!(list));
    Ok(out)
}
