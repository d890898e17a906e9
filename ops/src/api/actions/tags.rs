//! Tags on the instance: TagResources, UntagResources, ListTagResources, ListTagKeys. The
//! Bastionhost API tags instances (`ResourceType=INSTANCE`), so `ResourceId` must be this
//! cluster's instance id.

use crate::api::call::{done, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::paginate;
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{Command, ResourceRef};
use serde_json::json;
use std::collections::BTreeMap;

pub static ACTIONS: &[Action] = &[
    action!(
        "TagResources",
        Write,
        tag,
        "Tags the instance.",
        [
            req("ResourceType", Ty::Str),
            req("ResourceId", Ty::Indexed),
            req("Tag", Ty::Indexed),
        ]
    ),
    action!(
        "UntagResources",
        Write,
        untag,
        "Removes tags from the instance.",
        [
            req("ResourceType", Ty::Str),
            req("ResourceId", Ty::Indexed),
            opt("TagKey", Ty::Indexed),
            opt("All", Ty::Bool),
        ]
    ),
    action!(
        "ListTagResources",
        Read,
        list,
        "Lists the instance's tags.",
        [
            req("ResourceType", Ty::Str),
            opt("ResourceId", Ty::Indexed),
            opt("Tag", Ty::Indexed),
            opt("NextToken", Ty::Str),
            opt("ResourceGroupId", Ty::Str),
        ]
    ),
    action!(
        "ListTagKeys",
        Read,
        keys,
        "Lists tag keys.",
        [
            opt("ResourceType", Ty::Str),
            opt("ResourceGroupId", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
];

/// Why a resource group is refused.
pub const NO_RESOURCE_GROUP: &str = "ResourceGroupId: a self-hosted cluster belongs to no cloud \
     resource group; leave it out (group assets with host groups or tags instead)";

fn instance_type(v: &str) -> Result<(), ApiError> {
    match v.eq_ignore_ascii_case("instance") {
        true => Ok(()),
        false => Err(ApiError::invalid("ResourceType", "expected INSTANCE")),
    }
}

fn resources(c: &Call, required: bool) -> Result<Vec<ResourceRef>, ApiError> {
    instance_type(c.p.req("ResourceType")?)?;
    let ids = c.p.indexed("ResourceId")?;
    if required && ids.is_empty() {
        return Err(ApiError::MissingParameter("ResourceId"));
    }
    let me = c.backend.instance_id();
    if ids.iter().any(|i| *i != me) {
        return Err(ApiError::InstanceNotFound);
    }
    Ok(vec![ResourceRef::Instance])
}

/// `Tag.N.Key` and `Tag.N.Value` (empty when absent), by key.
pub fn tags(c: &Call) -> Result<BTreeMap<String, String>, ApiError> {
    let mut out = BTreeMap::new();
    for t in c.p.indexed_objects("Tag")? {
        let key = t
            .get("Key")
            .filter(|k| !k.is_empty())
            .ok_or(ApiError::MissingParameter("Tag.N.Key"))?;
        out.insert(key.clone(), t.get("Value").cloned().unwrap_or_default());
    }
    Ok(out)
}

async fn tag(c: &Call) -> ApiResult {
    let resources = resources(c, true)?;
    let tags = tags(c)?;
    if tags.is_empty() {
        return Err(ApiError::MissingParameter("Tag.N.Key"));
    }
    c.propose(Command::TagResources { resources, tags }).await?;
    Ok(done())
}

async fn untag(c: &Call) -> ApiResult {
    let resources = resources(c, true)?;
    let keys = c.p.indexed("TagKey")?;
    let all = c.p.bool("All")?.unwrap_or(false);
    if keys.is_empty() && !all {
        return Err(ApiError::MissingParameter("TagKey.N"));
    }
    c.propose(Command::UntagResources {
        resources,
        keys,
        all,
    })
    .await?;
    Ok(done())
}

async fn list(c: &Call) -> ApiResult {
    resources(c, false)?;
    c.p.no_next_token()?;
    c.p.only("ResourceGroupId", &[], NO_RESOURCE_GROUP)?;
    let wanted = tags(c)?;
    let current = c
        .read(|s| {
            s.tags_of(ResourceRef::Instance)
                .cloned()
                .unwrap_or_default()
        })
        .await?;
    let id = c.backend.instance_id();
    let rows: Vec<_> = current
        .iter()
        .filter(|(k, v)| wanted.is_empty() || wanted.get(*k).is_some_and(|w| w.is_empty() || w == *v))
        .map(|(k, v)| json!({"ResourceId": id, "ResourceType": "INSTANCE", "TagKey": k, "TagValue": v}))
        .collect();
    let mut body = one("TagResources", rows);
    body.insert("NextToken".into(), "".into());
    Ok(body)
}

async fn keys(c: &Call) -> ApiResult {
    if let Some(kind) = c.p.opt("ResourceType") {
        instance_type(kind)?;
    }
    c.p.only("ResourceGroupId", &[], NO_RESOURCE_GROUP)?;
    let paging = c.p.page()?;
    let current = c
        .read(|s| {
            s.tags_of(ResourceRef::Instance)
                .cloned()
                .unwrap_or_default()
        })
        .await?;
    let rows = current
        .keys()
        .map(|k| json!({"TagKey": k, "TagCount": 1}))
        .collect();
    let (items, total) = paginate(rows, paging);
    let mut body = page("TagKeys", items, total);
    body.insert("PageNumber".into(), paging.0.into());
    body.insert("PageSize".into(), paging.1.into());
    Ok(body)
}
