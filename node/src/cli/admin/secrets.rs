//! `portunus admin secrets reseal`: after a sealing key rotation, seal every stored secret again
//! under the current key (API `ResealSecrets`, an Admin key).

use super::{print_json, Api};
use anyhow::bail;
use clap::Subcommand;

/// `portunus admin secrets ...`
#[derive(Subcommand, Debug)]
pub enum SecretsCmd {
    /// Seal every stored secret again under the sealing key the answering node seals with (run
    /// it once every engine has the new --seal-key-file and the old key as
    /// --previous-seal-key-file). Fails while anything is left under another key.
    Reseal,
}

pub(super) async fn secrets(api: &Api, cmd: SecretsCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        SecretsCmd::Reseal => {
            let body = api.call("ResealSecrets", &[]).await?;
            if json {
                print_json(&body)?;
            } else {
                say!(
                    "key {}: resealed {}, already current {}, changed meanwhile {}, remaining {}",
                    body["KeyId"].as_str().unwrap_or("?"),
                    body["Resealed"],
                    body["AlreadyCurrent"],
                    body["ChangedMeanwhile"],
                    body["Remaining"]
                );
                for f in body["Failed"].as_array().into_iter().flatten() {
                    say!(
                        "  {}: {}",
                        f["Place"].as_str().unwrap_or("?"),
                        f["Error"].as_str().unwrap_or("?")
                    );
                }
            }
            match body["Remaining"].as_u64() {
                Some(0) => Ok(()),
                Some(n) => bail!("{n} stored secrets are not under the current sealing key yet"),
                None => bail!("the answer has no Remaining count: {body}"),
            }
        }
    }
}
