//! A control policy's controls, in and out: command control, SSH/SFTP/RDP options, source
//! addresses, logon hours, the O&M approval switch.

use super::update;
use crate::api::call::Call;
use crate::api::error::{ApiError, ApiResult};
use portunus_model::{
    parse_block, AccessHours, CommandControl, IpAcl, ListMode, Policy, PolicyPart, RdpOptions,
    SshOptions,
};
use serde_json::{json, Map, Value};

/// The RDP options the API names, kept as set.
const RDP: [&str; 6] = [
    "ClipboardDownload",
    "ClipboardUpload",
    "DiskRedirection",
    "DiskRedirectionDownload",
    "DiskRedirectionUpload",
    "RecordKeyboard",
];

/// The time zone logon hours are read in when none is given.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

fn object<'a>(v: &'a Value, name: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.as_object()
        .ok_or_else(|| ApiError::invalid(name, "expected a JSON object"))
}

fn strings(v: Option<&Value>, name: &str) -> Result<Vec<String>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err(ApiError::invalid(name, "expected an array of strings")),
            })
            .collect(),
        Some(_) => Err(ApiError::invalid(name, "expected an array of strings")),
    }
}

fn mode(v: Option<&Value>, name: &str) -> Result<ListMode, ApiError> {
    match v.and_then(Value::as_str) {
        Some("black") => Ok(ListMode::Deny),
        Some("white") => Ok(ListMode::AllowOnly),
        _ => Err(ApiError::invalid(name, "expected black or white")),
    }
}

fn mode_name(m: ListMode) -> &'static str {
    match m {
        ListMode::Deny => "black",
        ListMode::AllowOnly => "white",
    }
}

pub(super) async fn set_commands(c: &Call) -> ApiResult {
    let v = c.p.json("CommandConfig")?;
    let o = object(&v, "CommandConfig")?;
    let deny = o
        .get("Deny")
        .ok_or(ApiError::MissingParameter("CommandConfig.Deny"))?;
    let deny = object(deny, "CommandConfig.Deny")?;
    let commands = strings(deny.get("Commands"), "CommandConfig.Deny.Commands")?;
    let approval = match o.get("Approval") {
        None | Some(Value::Null) => Vec::new(),
        Some(a) => strings(
            object(a, "CommandConfig.Approval")?.get("Commands"),
            "CommandConfig.Approval.Commands",
        )?,
    };
    for p in commands.iter().chain(&approval) {
        if let Some(re) = p.trim().strip_prefix('/').and_then(|r| r.strip_suffix('/')) {
            if let Err(e) = regex::Regex::new(re)
                .map_err(|e| e.to_string())
                .and_then(|r| {
                    if re.is_empty() {
                        Err("an empty regular expression".to_string())
                    } else {
                        Ok(r)
                    }
                })
            {
                return Err(ApiError::invalid(
                    "CommandConfig.Deny.Commands",
                    format!("{p:?} is not a valid regular expression: {e}"),
                ));
            }
        }
    }
    let control = CommandControl {
        mode: mode(deny.get("AclType"), "CommandConfig.Deny.AclType")?,
        commands,
        approval,
    };
    update(c, PolicyPart::Commands(control)).await
}

fn switch(o: &Map<String, Value>, key: &str, parent: &str) -> Result<bool, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::String(s)) if s == "Enable" => Ok(true),
        Some(Value::String(s)) if s == "Disable" => Ok(false),
        Some(_) => Err(ApiError::invalid(
            &format!("{parent}.{key}"),
            "expected Enable or Disable",
        )),
    }
}

pub(super) async fn set_protocols(c: &Call) -> ApiResult {
    let v = c.p.json("ProtocolConfig")?;
    let o = object(&v, "ProtocolConfig")?;
    let empty = Map::new();
    let ssh = match o.get("SSH") {
        None | Some(Value::Null) => &empty,
        Some(s) => object(s, "ProtocolConfig.SSH")?,
    };
    let p = "ProtocolConfig.SSH";
    let ssh = SshOptions {
        shell: switch(ssh, "SSHChannel", p)?,
        exec: switch(ssh, "ExecCommand", p)?,
        sftp: switch(ssh, "SFTPChannel", p)?,
        sftp_upload: switch(ssh, "SFTPUploadFile", p)?,
        sftp_download: switch(ssh, "SFTPDownloadFile", p)?,
        sftp_mkdir: switch(ssh, "SFTPMkdir", p)?,
        sftp_remove: switch(ssh, "SFTPRemoveFile", p)?,
        sftp_rename: switch(ssh, "SFTPRenameFile", p)?,
        sftp_rmdir: switch(ssh, "SFTPRmdir", p)?,
        tcp_forwarding: switch(ssh, "TcpForwarding", p)?,
        allow_tcp_forwarding: switch(ssh, "AllowTcpForwarding", p)?,
        direct_tcp: switch(ssh, "AllowDirectTcp", p)?,
        x11_forwarding: switch(ssh, "X11Forwarding", p)?,
    };
    let rdp_in = match o.get("RDP") {
        None | Some(Value::Null) => &empty,
        Some(r) => object(r, "ProtocolConfig.RDP")?,
    };
    let mut rdp = RdpOptions::default();
    for key in RDP {
        rdp.options
            .insert(key.to_string(), switch(rdp_in, key, "ProtocolConfig.RDP")?);
    }
    update(c, PolicyPart::Protocols { ssh, rdp }).await
}

pub(super) async fn set_ip_acl(c: &Call) -> ApiResult {
    let v = c.p.json("IPAclConfig")?;
    let o = object(&v, "IPAclConfig")?;
    let entries = strings(o.get("IPs"), "IPAclConfig.IPs")?;
    if let Some(why) = entries.iter().find_map(|e| parse_block(e).err()) {
        return Err(ApiError::invalid("IPAclConfig.IPs", why));
    }
    let acl = IpAcl {
        mode: mode(o.get("AclType"), "IPAclConfig.AclType")?,
        entries,
    };
    update(c, PolicyPart::IpAcl(acl)).await
}

fn numbers(
    v: Option<&Value>,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Vec<u64>, ApiError> {
    let Some(Value::Array(a)) = v else {
        return Err(ApiError::invalid(name, "expected an array of numbers"));
    };
    a.iter()
        .map(|x| {
            let n = match x {
                Value::Number(n) => n.as_u64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            n.filter(|n| range.contains(n)).ok_or_else(|| {
                ApiError::invalid(
                    name,
                    format!("each value must be {} to {}", range.start(), range.end()),
                )
            })
        })
        .collect()
}

pub(super) async fn set_hours(c: &Call) -> ApiResult {
    let v = c.p.json("AccessTimeRangeConfig")?;
    let o = object(&v, "AccessTimeRangeConfig")?;
    let zone = match o.get("TimeZone") {
        None | Some(Value::Null) => DEFAULT_TIME_ZONE.to_string(),
        Some(Value::String(z)) => z.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "AccessTimeRangeConfig.TimeZone",
                "expected a string",
            ))
        }
    };
    if let Err(e) = jiff::tz::TimeZone::get(&zone) {
        return Err(ApiError::invalid(
            "AccessTimeRangeConfig.TimeZone",
            format!("unknown time zone {zone:?}: {e}"),
        ));
    }
    let entries = match o.get("EffectiveTime") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            return Err(ApiError::invalid(
                "AccessTimeRangeConfig.EffectiveTime",
                "expected an array",
            ))
        }
    };
    let mut week = [0u32; 7];
    for e in &entries {
        let e = object(e, "AccessTimeRangeConfig.EffectiveTime")?;
        let days = numbers(
            e.get("Days"),
            "AccessTimeRangeConfig.EffectiveTime.Days",
            1..=7,
        )?;
        let hours = numbers(
            e.get("Hours"),
            "AccessTimeRangeConfig.EffectiveTime.Hours",
            0..=23,
        )?;
        for d in &days {
            for h in &hours {
                week[(*d - 1) as usize] |= 1 << h;
            }
        }
    }
    let hours = (!entries.is_empty()).then_some(AccessHours {
        week,
        time_zone: zone,
    });
    update(c, PolicyPart::Hours(hours)).await
}

pub(super) async fn set_approval(c: &Call) -> ApiResult {
    let v = c.p.json("ApprovalConfig")?;
    let o = object(&v, "ApprovalConfig")?;
    match o.get("SwitchStatus").and_then(Value::as_str) {
        Some("Off") => update(c, PolicyPart::Approval(false)).await,
        Some("On") => Err(ApiError::NotSupported(
            "O&M approval is not available in Portunus yet: SwitchStatus stays Off",
        )),
        _ => Err(ApiError::invalid(
            "ApprovalConfig.SwitchStatus",
            "expected On or Off",
        )),
    }
}

fn on(b: bool) -> &'static str {
    if b {
        "Enable"
    } else {
        "Disable"
    }
}

/// The controls of `p` as GetPolicy shows them.
pub(super) fn view(p: &Policy) -> Map<String, Value> {
    let s = &p.ssh;
    let ssh = json!({
        "SSHChannel": on(s.shell), "ExecCommand": on(s.exec), "SFTPChannel": on(s.sftp),
        "SFTPUploadFile": on(s.sftp_upload), "SFTPDownloadFile": on(s.sftp_download),
        "SFTPMkdir": on(s.sftp_mkdir), "SFTPRemoveFile": on(s.sftp_remove),
        "SFTPRenameFile": on(s.sftp_rename), "SFTPRmdir": on(s.sftp_rmdir),
        "TcpForwarding": on(s.tcp_forwarding), "AllowTcpForwarding": on(s.allow_tcp_forwarding),
        "AllowDirectTcp": on(s.direct_tcp), "X11Forwarding": on(s.x11_forwarding),
    });
    let rdp: Map<String, Value> = RDP
        .iter()
        .map(|k| {
            let allowed = p.rdp.options.get(*k).copied().unwrap_or(true);
            (k.to_string(), Value::from(on(allowed)))
        })
        .collect();
    let hours = match &p.hours {
        None => json!({ "EffectiveTime": [], "TimeZone": DEFAULT_TIME_ZONE }),
        Some(h) => json!({ "EffectiveTime": effective_time(h), "TimeZone": h.time_zone }),
    };
    let mut m = Map::new();
    m.insert(
        "CommandConfig".into(),
        json!({
            "Deny": { "AclType": mode_name(p.commands.mode), "Commands": p.commands.commands },
            "Approval": { "Commands": p.commands.approval },
        }),
    );
    m.insert("ProtocolConfig".into(), json!({ "SSH": ssh, "RDP": rdp }));
    m.insert(
        "IPAclConfig".into(),
        json!({
            "AclType": mode_name(p.ip_acl.mode), "IPs": p.ip_acl.entries,
        }),
    );
    m.insert("AccessTimeRangeConfig".into(), hours);
    m.insert(
        "ApprovalConfig".into(),
        json!({
            "SwitchStatus": if p.approval { "On" } else { "Off" },
        }),
    );
    m
}

/// The allowed hours as entries of days sharing the same hours.
fn effective_time(h: &AccessHours) -> Vec<Value> {
    let mut by_hours: Vec<(u32, Vec<String>)> = Vec::new();
    for (day, bits) in h.week.iter().enumerate() {
        if *bits == 0 {
            continue;
        }
        let day = (day + 1).to_string();
        match by_hours.iter_mut().find(|(b, _)| b == bits) {
            Some((_, days)) => days.push(day),
            None => by_hours.push((*bits, vec![day])),
        }
    }
    by_hours
        .into_iter()
        .map(|(bits, days)| {
            let hours: Vec<String> = (0..24)
                .filter(|h| bits & (1 << h) != 0)
                .map(|h: u32| h.to_string())
                .collect();
            json!({ "Days": days, "Hours": hours })
        })
        .collect()
}
