//! Network domains: Create/Get/List/Modify/DeleteNetworkDomain and
//! MoveHosts/MoveDatabasesToNetworkDomain. Proxy passwords are sealed before proposing.

use crate::api::call::{batch_entry, done, found, one, page, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::params::{paginate, parse_id};
use crate::api::table::{action, opt, req, Action, Ty};
use portunus_model::{
    Command, DomainKind, EntityKind, NetworkDomain, NetworkDomainSpec, NetworkProxy,
    PROXY_NODE_TYPES, PROXY_TYPES,
};
use serde_json::{json, Value};

/// Sealing purpose of network proxy passwords.
pub const PROXY_PASSWORD_PURPOSE: &str = portunus_model::seal_purpose::NETWORK_PROXY_PASSWORD;

pub static ACTIONS: &[Action] = &[
    action!(
        "CreateNetworkDomain",
        Write,
        create,
        "Creates a network domain. A Proxy domain reaches its hosts and databases through its \
         Master proxy, then its Slave (SSHProxy: a direct-tcpip channel after a password login; \
         HTTPProxy: CONNECT with Basic authorization; Socks5Proxy: with user/password when \
         given). Extension: Proxies.N.HostKeyFingerprint pins an SSH proxy's host key \
         (SHA256:...); without it the first session through the proxy trusts its key.",
        [
            req("NetworkDomainName", Ty::Str),
            req("NetworkDomainType", Ty::Str),
            opt("Comment", Ty::Str),
            opt("Proxies", Ty::Indexed),
        ]
    ),
    action!(
        "GetNetworkDomain",
        Read,
        get,
        "Queries a network domain. With CheckProxyState=true this node checks each proxy now \
         (reachable, its protocol, the domain's login; an SSH proxy only once its host key is \
         pinned or trusted: a check trusts no new key) and answers ProxyState Available or Unavailable with \
         ProxyStateErrorCode and, as an extension, ProxyStateMessage; without it the state is \
         empty (Portunus records no past check).",
        [
            req("NetworkDomainId", Ty::Id),
            opt("CheckProxyState", Ty::Bool)
        ]
    ),
    action!(
        "ListNetworkDomains",
        Read,
        list,
        "Lists network domains.",
        [
            opt("NetworkDomainName", Ty::Str),
            opt("NetworkDomainType", Ty::Str),
            opt("PageNumber", Ty::Int),
            opt("PageSize", Ty::Int),
        ]
    ),
    action!(
        "ModifyNetworkDomain",
        Write,
        modify,
        "Changes a network domain. Each Proxies.N names the proxy it changes by NodeType \
         (Master or Slave); fields left out and a blank Password keep their values; a new \
         Address or Port forgets the pinned host key unless HostKeyFingerprint is given (empty \
         forgets it).",
        [
            req("NetworkDomainId", Ty::Id),
            opt("NetworkDomainName", Ty::Str),
            opt("NetworkDomainType", Ty::Str),
            opt("Comment", Ty::Str),
            opt("Proxies", Ty::Indexed),
        ]
    ),
    action!(
        "DeleteNetworkDomain",
        Write,
        delete,
        "Deletes a network domain.",
        [req("NetworkDomainId", Ty::Id)]
    ),
    action!(
        "MoveHostsToNetworkDomain",
        Write,
        move_hosts,
        "Moves hosts into a domain.",
        [req("NetworkDomainId", Ty::Id), req("HostIds", Ty::Indexed),]
    ),
    action!(
        "MoveDatabasesToNetworkDomain",
        Write,
        move_dbs,
        "Moves databases into a domain.",
        [
            req("NetworkDomainId", Ty::Id),
            req("DatabaseIds", Ty::Indexed),
        ]
    ),
];

fn kind(v: &str) -> Result<DomainKind, ApiError> {
    match v.to_ascii_lowercase().as_str() {
        "direct" => Ok(DomainKind::Direct),
        "proxy" => Ok(DomainKind::Proxy),
        _ => Err(ApiError::invalid(
            "NetworkDomainType",
            "expected Direct or Proxy",
        )),
    }
}

fn kind_name(k: DomainKind) -> &'static str {
    match k {
        DomainKind::Direct => "Direct",
        DomainKind::Proxy => "Proxy",
    }
}

/// The `Proxies.N.*` objects of a call. On a change (`current` given), each names the proxy
/// it changes by `NodeType`, and fields it leaves out (or a blank `Password`) keep their
/// values; a new address or port forgets the pinned host key unless one is given.
fn proxies(c: &Call, current: Option<&[NetworkProxy]>) -> Result<Proxies, ApiError> {
    let mut out: Vec<NetworkProxy> = current.map(<[_]>::to_vec).unwrap_or_default();
    let mut forget = Vec::new();
    for p in c.p.indexed_objects("Proxies")? {
        let given = |k: &str| p.get(k).map(|v| v.trim().to_string());
        let node_type = given("NodeType").unwrap_or_else(|| "Master".into());
        if !PROXY_NODE_TYPES.contains(&node_type.as_str()) {
            let why = format!("expected one of {}", PROXY_NODE_TYPES.join(", "));
            return Err(ApiError::invalid("Proxies.N.NodeType", &why));
        }
        let at = match out.iter().position(|q| q.node_type == node_type) {
            Some(i) => i,
            None => {
                out.push(NetworkProxy {
                    proxy_type: String::new(),
                    address: String::new(),
                    port: 0,
                    user: String::new(),
                    password: None,
                    node_type: node_type.clone(),
                    host_key_fingerprint: None,
                });
                out.len() - 1
            }
        };
        let proxy = &mut out[at];
        let before = (proxy.address.clone(), proxy.port);
        if let Some(t) = given("ProxyType") {
            if !PROXY_TYPES.contains(&t.as_str()) {
                let why = format!("expected one of {}", PROXY_TYPES.join(", "));
                return Err(ApiError::invalid("Proxies.N.ProxyType", &why));
            }
            proxy.proxy_type = t;
        }
        if let Some(a) = given("Address") {
            proxy.address = a;
        }
        if let Some(port) = given("Port") {
            proxy.port =
                port.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                    ApiError::invalid("Proxies.N.Port", "expected a port (1-65535)")
                })?;
        }
        if let Some(u) = given("User") {
            proxy.user = u;
        }
        if let Some(pw) = p.get("Password").filter(|v| !v.is_empty()) {
            proxy.password = Some(c.seal(PROXY_PASSWORD_PURPOSE, pw)?);
        }
        if (proxy.address.clone(), proxy.port) != before {
            proxy.host_key_fingerprint = None;
        }
        if let Some(fp) = given("HostKeyFingerprint") {
            proxy.host_key_fingerprint = match fp.as_str() {
                "" => {
                    forget.push(node_type.clone());
                    None
                }
                fp if fp.starts_with("SHA256:") => Some(fp.to_string()),
                _ => {
                    let why = "expected SHA256:... as ssh-keygen -lf prints it, or empty to forget the pin";
                    return Err(ApiError::invalid("Proxies.N.HostKeyFingerprint", why));
                }
            };
        }
    }
    Ok(Proxies {
        proxies: out,
        forget,
    })
}

/// The proxies of a call, and the node types whose pinned host key it forgets.
struct Proxies {
    proxies: Vec<NetworkProxy>,
    forget: Vec<String>,
}

fn row(d: &NetworkDomain, detail: bool) -> Value {
    let proxies: Vec<Value> = d
        .spec
        .proxies
        .iter()
        .map(|p| {
            if detail {
                json!({"Address": p.address, "HasPassword": p.password.is_some(), "NodeType": p.node_type,
                       "Port": p.port, "ProxyState": "", "ProxyStateErrorCode": "",
                       "ProxyType": p.proxy_type, "User": p.user,
                       "HostKeyFingerprint": p.host_key_fingerprint.clone().unwrap_or_default()})
            } else {
                json!({"NodeType": p.node_type, "ProxyState": ""})
            }
        })
        .collect();
    json!({
        "Comment": d.spec.comment, "Default": false, "NetworkDomainId": d.id.to_string(),
        "NetworkDomainName": d.spec.name, "NetworkDomainType": kind_name(d.spec.kind),
        (if detail { "Proxies" } else { "ProxiesState" }): proxies,
    })
}

async fn create(c: &Call) -> ApiResult {
    let spec = NetworkDomainSpec {
        name: c.p.req("NetworkDomainName")?.to_string(),
        kind: kind(c.p.req("NetworkDomainType")?)?,
        comment: c.p.string("Comment").unwrap_or_default(),
        proxies: proxies(c, None)?.proxies,
    };
    let id = c.create(Command::CreateNetworkDomain(spec)).await?;
    Ok(one("NetworkDomainId", id.to_string()))
}

async fn get(c: &Call) -> ApiResult {
    let id = c.p.id("NetworkDomainId")?;
    let check = c.p.bool("CheckProxyState")?.unwrap_or(false);
    let v = c
        .read(|s| s.network_domain(id).map(|d| (row(d, true), d.spec.kind)))
        .await?;
    let (mut v, kind) = found(v, EntityKind::NetworkDomain, id)?;
    if check && kind == DomainKind::Proxy {
        let checks = c.backend.check_network_proxies(id).await?;
        if let Some(rows) = v.get_mut("Proxies").and_then(Value::as_array_mut) {
            for r in rows {
                let node_type = r["NodeType"].as_str().unwrap_or_default().to_string();
                let fault = match checks.iter().find(|c| c.node_type == node_type) {
                    Some(c) => c.fault.clone(),
                    None => Some((
                        "UNEXPECTED",
                        "this node cannot use the proxy: its password cannot be opened here \
                         (see the node's log)"
                            .to_string(),
                    )),
                };
                let (state, code, message) = match fault {
                    None => ("Available", "", String::new()),
                    Some((code, message)) => ("Unavailable", code, message),
                };
                r["ProxyState"] = json!(state);
                r["ProxyStateErrorCode"] = json!(code);
                r["ProxyStateMessage"] = json!(message);
            }
        }
    }
    Ok(one("NetworkDomain", v))
}

async fn list(c: &Call) -> ApiResult {
    let name = c.p.opt("NetworkDomainName").map(str::to_lowercase);
    let k = c.p.opt("NetworkDomainType").map(kind).transpose()?;
    let paging = c.p.page()?;
    let rows = c
        .read(|s| {
            s.network_domains()
                .filter(|d| {
                    name.as_ref()
                        .is_none_or(|n| d.spec.name.to_lowercase().contains(n))
                })
                .filter(|d| k.is_none_or(|k| d.spec.kind == k))
                .map(|d| row(d, false))
                .collect()
        })
        .await?;
    let (items, total) = paginate(rows, paging);
    Ok(page("NetworkDomains", items, total))
}

async fn modify(c: &Call) -> ApiResult {
    let domain_id = c.p.id("NetworkDomainId")?;
    let current = c.read(|s| s.network_domain(domain_id).cloned()).await?;
    let mut spec = found(current, EntityKind::NetworkDomain, domain_id)?.spec;
    if let Some(n) = c.p.opt("NetworkDomainName") {
        spec.name = n.to_string();
    }
    if let Some(k) = c.p.opt("NetworkDomainType") {
        spec.kind = kind(k)?;
    }
    if let Some(cm) = c.p.string("Comment") {
        spec.comment = cm;
    }
    let changed = proxies(c, Some(&spec.proxies))?;
    spec.proxies = changed.proxies;
    let update = Command::UpdateNetworkDomain {
        domain_id,
        spec,
        forget_host_keys: changed.forget,
    };
    c.propose(update).await?;
    Ok(done())
}

async fn delete(c: &Call) -> ApiResult {
    let domain_id = c.p.id("NetworkDomainId")?;
    c.propose(Command::DeleteNetworkDomain { domain_id })
        .await?;
    Ok(done())
}

async fn relocate(c: &Call, databases: bool) -> ApiResult {
    let domain_id = Some(c.p.id("NetworkDomainId")?);
    let (param, field) = if databases {
        ("DatabaseIds", "DatabaseId")
    } else {
        ("HostIds", "HostId")
    };
    let mut results = Vec::new();
    for raw in c.p.indexed(param)? {
        let id = parse_id(param, &raw)?;
        let cmd = if databases {
            Command::MoveDatabasesToNetworkDomain {
                domain_id,
                database_ids: vec![id],
            }
        } else {
            Command::MoveHostsToNetworkDomain {
                domain_id,
                host_ids: vec![id],
            }
        };
        results.push(batch_entry(&c.propose(cmd).await, &[(field, id)]));
    }
    Ok(one("Results", results))
}

async fn move_hosts(c: &Call) -> ApiResult {
    relocate(c, false).await
}

async fn move_dbs(c: &Call) -> ApiResult {
    relocate(c, true).await
}
