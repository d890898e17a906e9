//! Host actions: CreateHost, GetHost, ListHosts, ModifyHost, DeleteHost and the batch
//! ModifyHostsActiveAddressType / ModifyHostsPort; ModifyHostFingerPrint (a Portunus extension)
//! replaces or forgets the host key fingerprint the bastion trusts for a host (GetHost shows it
//! as `HostFingerPrint`).

use crate::api::actions::projects::project_param;
use crate::api::call::{batch_entry, done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::page_of;
use crate::api::table::{action, opt, req, Action, Ty};
use crate::api::views::{self, parse_address, parse_os, parse_protocol, parse_source};
use portunus_model::{Command, EntityKind, HostPatch, NewHost};

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateHost",
        Write,
        create,
        "Adds a host. HostFingerPrint (a Portunus extension: the OpenSSH SHA-256 fingerprint \
         of the host's SSH key, as `ssh-keygen -lf` prints it) pins the key from the start: no \
         hosted credential is sent to a host presenting another key. Without it the first login \
         trusts the key it meets. ProjectId places it in that project (else the default one).",
        [
            req("HostName", Ty::Str),
            req("Source", Ty::Str),
            req("OSType", Ty::Str),
            req("ActiveAddressType", Ty::Str),
            opt("HostPrivateAddress", Ty::Str),
            opt("HostPublicAddress", Ty::Str),
            opt("Comment", Ty::Str),
            opt("SourceInstanceId", Ty::Str),
            opt("NetworkDomainId", Ty::Id),
            opt("HostFingerPrint", Ty::Str),
            opt("ProjectId", Ty::Id),
            opt("InstanceMemberId", Ty::Str),
            opt("InstanceRegionId", Ty::Str),
        ]
    ),
    action!(
        "GetHost",
        Read,
        get,
        "Queries one host.",
        [req("HostId", Ty::Id)]
    ),
    action!(
        "ListHosts",
        Read,
        list,
        "Lists hosts (ProjectId: of one project).",
        [
            opt("HostName", Ty::Str),
            opt("HostAddress", Ty::Str),
            opt("OSType", Ty::Str),
            opt("Source", Ty::Str),
            opt("SourceInstanceId", Ty::Str),
            opt("SourceInstanceState", Ty::Str),
            opt("HostGroupId", Ty::Id),
            opt("ProjectId", Ty::Id),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyHost",
        Write,
        modify,
        "Changes a host.",
        [
            req("HostId", Ty::Id),
            opt("HostName", Ty::Str),
            opt("HostPrivateAddress", Ty::Str),
            opt("HostPublicAddress", Ty::Str),
            opt("OSType", Ty::Str),
            opt("Comment", Ty::Str),
            opt("NetworkDomainId", Ty::Id),
            opt("PrefKex", Ty::Str),
        ]
    ),
    action!(
        "DeleteHost",
        Write,
        delete,
        "Deletes a host.",
        [req("HostId", Ty::Id)]
    ),
    action!(
        "ModifyHostFingerPrint",
        Write,
        fingerprint,
        "Sets the SSH host key fingerprint trusted for a host (Portunus extension); without \
         HostFingerPrint, forgets it so that the next login trusts the key it meets.",
        [req("HostId", Ty::Id), opt("HostFingerPrint", Ty::Str)]
    ),
    action!(
        "ModifyHostsActiveAddressType",
        Write,
        active_address,
        "Selects the address used.",
        [
            req("HostIds", Ty::IdList),
            req("ActiveAddressType", Ty::Str),
        ]
    ),
    action!(
        "ModifyHostsPort",
        Write,
        ports,
        "Sets a protocol's port on hosts.",
        [
            req("HostIds", Ty::IdList),
            req("ProtocolName", Ty::Str),
            req("Port", Ty::Int),
        ]
    ),
];

/// Why a `PrefKex` other than `default` is refused.
const NO_PREF_KEX: &str = "PrefKex: the SSH gateway offers a host its own list of key exchange \
     algorithms and keeps no per-host preference; leave it out or give default";

async fn create(c: &Call) -> ApiResult {
    let p = &c.p;
    p.only("InstanceMemberId", &[], views::NO_MEMBER_ACCOUNT)?;
    p.only("InstanceRegionId", &[], views::NO_SOURCE_REGION)?;
    let new = NewHost {
        name: p.req("HostName")?.to_string(),
        private_address: p.string("HostPrivateAddress").unwrap_or_default(),
        public_address: p.string("HostPublicAddress").unwrap_or_default(),
        active_address_type: parse_address("ActiveAddressType", p.req("ActiveAddressType")?)?,
        os: parse_os("OSType", p.req("OSType")?)?,
        source: parse_source("Source", p.req("Source")?)?,
        source_instance_id: p.string("SourceInstanceId").unwrap_or_default(),
        comment: p.string("Comment").unwrap_or_default(),
        ports: Default::default(),
        network_domain_id: p.opt_id("NetworkDomainId")?,
        project_id: project_param(c, "ProjectId")?,
        host_key_fingerprint: match p.opt("HostFingerPrint").filter(|f| !f.is_empty()) {
            Some(f) => Some(parse_fingerprint(f)?),
            None => None,
        },
    };
    let id = c.create(Command::CreateHost(new)).await?;
    Ok(one("HostId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("HostId")?;
    let host = c
        .read(|s| s.host(id).map(|h| views::host_detail(s, h)))
        .await?;
    Ok(one("Host", found(host, EntityKind::Host, id)?))
}

async fn list(c: &Call) -> ApiResult {
    let p = &c.p;
    p.only("SourceInstanceState", &[], views::NO_INSTANCE_STATE)?;
    let name = p.opt("HostName").map(str::to_lowercase);
    let addr = p.opt("HostAddress");
    let os = p.opt("OSType").map(|v| parse_os("OSType", v)).transpose()?;
    let source = p
        .opt("Source")
        .map(|v| parse_source("Source", v))
        .transpose()?;
    let src_id = p.opt("SourceInstanceId");
    let group = p.opt_id("HostGroupId")?;
    let project = project_param(c, "ProjectId")?;
    let paging = p.page()?;
    let (items, total) = c
        .read(|s| {
            let members =
                group.map(|g| s.host_group(g).map(|g| g.hosts.clone()).unwrap_or_default());
            let hosts = s
                .hosts()
                .filter(|h| {
                    name.as_ref()
                        .is_none_or(|n| h.name.to_lowercase().contains(n))
                })
                .filter(|h| {
                    addr.is_none_or(|a| {
                        h.private_address.contains(a) || h.public_address.contains(a)
                    })
                })
                .filter(|h| os.is_none_or(|o| h.os == o))
                .filter(|h| source.is_none_or(|o| h.source == o))
                .filter(|h| src_id.is_none_or(|i| h.source_instance_id == i))
                .filter(|h| members.as_ref().is_none_or(|m| m.contains(&h.id)))
                .filter(|h| project.is_none_or(|p| s.host_project(h.id) == Some(p)));
            page_of(hosts, paging, |h| views::host_row(s, h))
        })
        .await?;
    Ok(page("Hosts", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    let p = &c.p;
    let host_id = p.id("HostId")?;
    p.only("PrefKex", &["default"], NO_PREF_KEX)?;
    let patch = HostPatch {
        name: p.opt("HostName").map(str::to_string),
        private_address: p.string("HostPrivateAddress"),
        public_address: p.string("HostPublicAddress"),
        os: p.opt("OSType").map(|v| parse_os("OSType", v)).transpose()?,
        comment: p.string("Comment"),
    };
    c.propose(Command::UpdateHost { host_id, patch }).await?;
    if let Some(domain) = p.opt_id("NetworkDomainId")? {
        let cmd = Command::MoveHostsToNetworkDomain {
            domain_id: Some(domain),
            host_ids: vec![host_id],
        };
        c.propose(cmd).await?;
    }
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let host_id = c.p.id("HostId")?;
    c.propose(Command::DeleteHost { host_id }).await?;
    Ok(done())
}

async fn fingerprint(c: &Call) -> ApiResult {
    let host_id = c.p.id("HostId")?;
    let fingerprint = match c.p.opt("HostFingerPrint").filter(|f| !f.is_empty()) {
        Some(f) => Some(parse_fingerprint(f)?),
        None => None,
    };
    c.propose(Command::SetHostKey {
        host_id,
        fingerprint,
    })
    .await?;
    Ok(done())
}

/// An OpenSSH SHA-256 fingerprint as `ssh-keygen -lf` prints it: `SHA256:` and 43 characters
/// of unpadded base64.
fn parse_fingerprint(f: &str) -> Result<String, ApiError> {
    let ok = f.strip_prefix("SHA256:").is_some_and(|b64| {
        b64.len() == 43
            && b64
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
    });
    if ok {
        Ok(f.to_string())
    } else {
        Err(ApiError::invalid(
            "HostFingerPrint",
            "expected an OpenSSH SHA-256 fingerprint such as `ssh-keygen -lf` prints \
             (SHA256: followed by 43 base64 characters)",
        ))
    }
}

async fn active_address(c: &Call) -> ApiResult {
    let address_type = parse_address("ActiveAddressType", c.p.req("ActiveAddressType")?)?;
    let mut results = Vec::new();
    for host_id in c.p.id_list("HostIds")? {
        let cmd = Command::SetHostsActiveAddress {
            host_ids: vec![host_id],
            address_type,
        };
        results.push(batch_entry(&c.propose(cmd).await, &[("HostId", host_id)]));
    }
    Ok(one("Results", results))
}

async fn ports(c: &Call) -> ApiResult {
    let protocol = parse_protocol("ProtocolName", c.p.req("ProtocolName")?)?;
    if !protocol.is_host_protocol() {
        return Err(ApiError::invalid("ProtocolName", "expected SSH or RDP"));
    }
    let port: u16 =
        c.p.num("Port")?
            .filter(|p| *p > 0)
            .ok_or_else(|| ApiError::invalid("Port", "expected 1 to 65535"))?;
    let mut results = Vec::new();
    for host_id in c.p.id_list("HostIds")? {
        let cmd = Command::SetHostsPort {
            host_ids: vec![host_id],
            protocol,
            port,
        };
        results.push(batch_entry(&c.propose(cmd).await, &[("HostId", host_id)]));
    }
    Ok(one("Results", results))
}
