//! `portunus admin audit list|verify`: the admin audit trail through the API (an Admin or
//! Auditor key).

use super::{params, print_json, show_list, Api};
use anyhow::bail;
use clap::Subcommand;
use portunus_model::{AdminAuditEntry, AdminAuditRecord, AuditHash, Role};
use serde_json::Value;
use std::collections::BTreeMap;

/// `portunus admin audit ...`
#[derive(Subcommand, Debug)]
pub enum AuditCmd {
    /// List the trail of administrative API calls, newest first.
    List {
        /// Only calls of this action (e.g. CreateUser).
        #[arg(long)]
        action: Option<String>,
        /// Only calls signed with this AccessKey (`--access-key-id` names the caller's own).
        #[arg(long = "signed-by", id = "signed_by", value_name = "ACCESS_KEY_ID")]
        access_key_id: Option<String>,
        /// Only entries at or after this time (unix milliseconds).
        #[arg(long)]
        since_ms: Option<u64>,
        /// Only entries at or before this time (unix milliseconds).
        #[arg(long)]
        until_ms: Option<u64>,
    },
    /// Check the trail's hash chain: the node walks it, and this command fetches every kept
    /// entry and recomputes each hash itself, so a node that lies about its chain is caught
    /// too. Fails when any link is broken.
    Verify {
        /// A head (hex) noted earlier, e.g. from a previous `verify`: it must still be an
        /// entry of the chain, so entries before it were not rewritten since.
        #[arg(long)]
        head: Option<String>,
    },
}

pub(super) async fn audit(api: &Api, cmd: AuditCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::List {
            action,
            access_key_id,
            since_ms,
            until_ms,
        } => {
            let since = since_ms.map(|t| t.to_string());
            let until = until_ms.map(|t| t.to_string());
            let p = params(&[
                ("ActionName", action.as_deref()),
                ("AccessKeyId", access_key_id.as_deref()),
                ("StartTime", since.as_deref()),
                ("EndTime", until.as_deref()),
            ]);
            let mut items = api.all("ListAdminAuditLogs", "AdminAuditLogs", &p).await?;
            for i in &mut items {
                i["When"] = portunus_ops::client::utc_text(i["Time"].as_u64().unwrap_or(0)).into();
                i["Params"] = params_text(&i["Parameters"]).into();
            }
            let columns = [
                ("SEQ", "Seq"),
                ("TIME", "When"),
                ("ACCESS KEY", "AccessKeyId"),
                ("ROLE", "Role"),
                ("USER", "UserId"),
                ("SOURCE", "Source"),
                ("ACTION", "ActionName"),
                ("RESULT", "Result"),
                ("PARAMETERS", "Params"),
            ];
            show_list(items, &columns, json)
        }
        AuditCmd::Verify { head } => {
            let body = api.call("VerifyAdminAuditLog", &[]).await?;
            if json {
                print_json(&body)?;
            } else {
                say!(
                    "entries {}..{} ({} kept), head {}",
                    body["FirstSeq"],
                    body["LastSeq"],
                    body["EntryCount"],
                    body["Head"].as_str().unwrap_or("")
                );
            }
            match body["Verified"].as_bool() {
                Some(true) => {}
                Some(false) => bail!(
                    "the admin audit chain is broken at entry {}: {}",
                    body["BrokenAtSeq"],
                    body["Problem"].as_str().unwrap_or("")
                ),
                None => bail!("the node's answer does not say whether the chain verifies"),
            }
            let items = api.all("ListAdminAuditLogs", "AdminAuditLogs", &[]).await?;
            let checked = recompute(&body, items, head.as_deref())?;
            if !json {
                say!("recomputed {checked} entries here: the admin audit chain verifies");
            }
            Ok(())
        }
    }
}

/// Recomputes the chain from the listed entries: each entry's hash from its fields, each link
/// to the entry before it (the first to the node's anchor), the newest to the node's head, and
/// `noted` (if given) among the hashes. Entries appended while listing are ignored past the
/// head the node reported. Returns how many entries were checked.
fn recompute(answer: &Value, items: Vec<Value>, noted: Option<&str>) -> anyhow::Result<usize> {
    let text = |v: &Value, k: &str| -> anyhow::Result<String> {
        match v[k].as_str() {
            Some(s) => Ok(s.to_string()),
            None => bail!("the node's answer has no {k}: {v}"),
        }
    };
    let hash = |v: &Value, k: &str| -> anyhow::Result<AuditHash> {
        let h = text(v, k)?;
        match hex::decode(&h)
            .ok()
            .and_then(|b| AuditHash::try_from(b).ok())
        {
            Some(h) => Ok(h),
            None => bail!("{k} {h:?} is not a SHA-256 in hex"),
        }
    };
    let (anchor, head) = (hash(answer, "Anchor")?, hash(answer, "Head")?);
    let last = answer["LastSeq"].as_u64().unwrap_or(0);
    let mut by_seq = BTreeMap::new();
    for v in items {
        match v["Seq"].as_u64() {
            Some(seq) if seq <= last => {
                by_seq.insert(seq, v);
            }
            Some(_) => {}
            None => bail!("an entry without Seq: {v}"),
        }
    }
    let mut expected = anchor;
    let mut prev: Option<u64> = None;
    let mut seen = Vec::with_capacity(by_seq.len());
    for (seq, v) in &by_seq {
        if prev.is_some_and(|p| p + 1 != *seq) {
            bail!("entry {seq} does not follow entry {prev:?}: entries are missing");
        }
        let entry = entry_of(*seq, v)?;
        if entry.prev_hash != expected {
            bail!("entry {seq} does not link to the entry before it");
        }
        expected = entry.hash();
        if hash(v, "Hash")? != expected {
            bail!("entry {seq}'s contents do not match its hash");
        }
        seen.push(expected);
        prev = Some(*seq);
    }
    if expected != head {
        bail!("the newest entry does not match the head the node reports");
    }
    if let Some(noted) = noted {
        let found = seen
            .iter()
            .chain([&anchor])
            .any(|h| hex::encode(h) == noted.trim());
        if !found {
            bail!(
                "the head {noted} noted earlier is not in the chain: entries before it were \
                 rewritten, or pruned past the retention"
            );
        }
    }
    Ok(seen.len())
}

/// An entry rebuilt from its API view.
fn entry_of(seq: u64, v: &Value) -> anyhow::Result<AdminAuditEntry> {
    let s = |k: &str| v[k].as_str().map(str::to_string);
    let role = match v["Role"].as_str() {
        Some("Admin") => Role::Admin,
        Some("Auditor") => Role::Auditor,
        Some("Operator") => Role::Operator,
        other => bail!("entry {seq} has an unknown role {other:?}"),
    };
    let user_id = match v["UserId"].as_str() {
        Some("") | None => None,
        Some(u) => Some(u.parse()?),
    };
    let mut params = BTreeMap::new();
    if let Some(m) = v["Parameters"].as_object() {
        for (k, p) in m {
            params.insert(k.clone(), p.as_str().unwrap_or_default().to_string());
        }
    }
    let prev_hash = match s("PrevHash").and_then(|h| hex::decode(h).ok()) {
        Some(b) => match AuditHash::try_from(b) {
            Ok(h) => h,
            Err(_) => bail!("entry {seq}'s PrevHash is not a SHA-256"),
        },
        None => bail!("entry {seq} has no PrevHash"),
    };
    Ok(AdminAuditEntry {
        seq,
        at_ms: v["Time"].as_u64().unwrap_or(0),
        record: AdminAuditRecord {
            access_key_id: s("AccessKeyId").unwrap_or_default(),
            role,
            user_id,
            source: s("Source").unwrap_or_default(),
            action: s("ActionName").unwrap_or_default(),
            params,
            result: s("Result").unwrap_or_default(),
        },
        prev_hash,
    })
}

/// `Name=Value` pairs, space-separated.
fn params_text(v: &Value) -> String {
    match v.as_object() {
        Some(m) => m
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect::<Vec<_>>()
            .join(" "),
        None => String::new(),
    }
}
