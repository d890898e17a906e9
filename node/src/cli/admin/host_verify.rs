//! `portunus admin host verify HOST [--account A]`: `VerifyHostAccount` for one or every SSH
//! account of a host, one line each.

use super::{params, print_json, Api};
use anyhow::bail;
use serde_json::Value;

pub(super) async fn verify(
    api: &Api,
    host: &str,
    account: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let host_id = api.host_id(host).await?;
    let accounts = api
        .all(
            "ListHostAccounts",
            "HostAccounts",
            &params(&[("HostId", Some(&host_id)), ("ProtocolName", Some("SSH"))]),
        )
        .await?;
    let chosen: Vec<&Value> = accounts
        .iter()
        .filter(|a| match account {
            None => true,
            Some(want) => a["HostAccountName"] == want || a["HostAccountId"] == want,
        })
        .collect();
    if chosen.is_empty() {
        match account {
            Some(a) => bail!("host {host} has no SSH account '{a}'"),
            None => bail!("host {host} has no SSH account to verify"),
        }
    }
    let mut results = Vec::new();
    for a in chosen {
        let Some(id) = a["HostAccountId"].as_str().map(str::to_string) else {
            bail!("the account list has an entry without HostAccountId: {a}");
        };
        let body = api
            .call(
                "VerifyHostAccount",
                &params(&[("HostAccountId", Some(&id))]),
            )
            .await?;
        if !json {
            say!(
                "{} {}: {}",
                a["HostAccountName"].as_str().unwrap_or("?"),
                body["Result"].as_str().unwrap_or("?"),
                body["Message"].as_str().unwrap_or("")
            );
        }
        results.push(body);
    }
    let failed = results.iter().filter(|r| r["Result"] != "OK").count();
    if json {
        print_json(&Value::Array(results))?;
    }
    if failed > 0 {
        bail!("{failed} account(s) of host {host} failed verification");
    }
    Ok(())
}
