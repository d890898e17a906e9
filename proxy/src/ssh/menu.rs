//! The interactive menu shown in the PTY when the login names no target: a numbered list of
//! the assets the gate allows, then of the asset's accounts.

use russh::server::Msg;
use russh::{Channel, ChannelMsg};

use super::conn::Conn;
use super::error::SshError;
use super::session::Setup;
use crate::gate::{AuditSink, SessionGate, Target, TargetSpec};

/// Asks the user to pick an asset and an account; returns the pick.
pub(crate) async fn choose<G: SessionGate, A: AuditSink>(
    conn: &Conn<G, A>,
    channel: &mut Channel<Msg>,
    setup: &mut Setup,
) -> Result<TargetSpec, SshError> {
    let targets = conn.shared.gate.targets(&conn.principal).await?;
    if targets.is_empty() {
        return Err(SshError::Client("no asset is authorized for you"));
    }
    let mut text = format!(
        "\r\nWelcome to Portunus, {}.\r\n\r\nAssets:\r\n",
        conn.principal.user_name
    );
    for (i, t) in targets.iter().enumerate() {
        text.push_str(&format!(
            "  {:>3}) {} ({}:{})\r\n",
            i + 1,
            t.asset_name,
            t.address,
            t.port
        ));
    }
    let asset = pick(channel, setup, &text, "Asset number: ", targets.len()).await?;
    let target: &Target = &targets[asset];
    let account = match target.accounts.len() {
        0 => {
            return Err(SshError::Client(
                "no account of this asset is authorized for you",
            ))
        }
        1 => 0,
        n => {
            let mut text = format!("\r\nAccounts on {}:\r\n", target.asset_name);
            for (i, (_, name)) in target.accounts.iter().enumerate() {
                text.push_str(&format!("  {:>3}) {name}\r\n", i + 1));
            }
            pick(channel, setup, &text, "Account number: ", n).await?
        }
    };
    let (account_id, account_name) = &target.accounts[account];
    let line = format!(
        "\r\nConnecting to {account_name}@{} ...\r\n",
        target.asset_name
    );
    channel.data_bytes(line.into_bytes()).await?;
    Ok(TargetSpec::Ids {
        asset_id: target.asset_id,
        account_id: *account_id,
    })
}

/// Shows `text` and reads numbers until one in `1..=max` (or `q` to quit).
async fn pick(
    channel: &mut Channel<Msg>,
    setup: &mut Setup,
    text: &str,
    prompt: &str,
    max: usize,
) -> Result<usize, SshError> {
    channel.data_bytes(text.as_bytes().to_vec()).await?;
    loop {
        channel.data_bytes(prompt.as_bytes().to_vec()).await?;
        let line = read_line(channel, setup).await?;
        let line = line.trim();
        if line.eq_ignore_ascii_case("q") {
            return Err(SshError::Client("no target chosen"));
        }
        match line.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => return Ok(n - 1),
            _ => {
                channel
                    .data_bytes(format!("Pick a number from 1 to {max}, or q.\r\n").into_bytes())
                    .await?
            }
        }
    }
}

/// Reads one line with echo, backspace and Ctrl-U; Ctrl-C or Ctrl-D quits.
async fn read_line(channel: &mut Channel<Msg>, setup: &mut Setup) -> Result<String, SshError> {
    let mut line = String::new();
    loop {
        let data = match channel.wait().await {
            Some(ChannelMsg::Data { data }) => data,
            Some(ChannelMsg::WindowChange {
                col_width,
                row_height,
                ..
            }) => {
                if let Some(pty) = setup.pty.as_mut() {
                    (pty.cols, pty.rows) = (col_width, row_height);
                }
                continue;
            }
            Some(ChannelMsg::Eof | ChannelMsg::Close) | None => {
                return Err(SshError::Client("the client left the menu"))
            }
            Some(_) => continue,
        };
        let mut echo = Vec::new();
        for &b in data.iter() {
            match b {
                b'\r' | b'\n' => {
                    channel.data_bytes(b"\r\n".to_vec()).await?;
                    return Ok(line);
                }
                0x7f | 0x08 if line.pop().is_some() => echo.extend_from_slice(b"\x08 \x08"),
                0x15 => {
                    for _ in 0..line.chars().count() {
                        echo.extend_from_slice(b"\x08 \x08");
                    }
                    line.clear();
                }
                0x03 | 0x04 => return Err(SshError::Client("no target chosen")),
                b if b.is_ascii_graphic() || b == b' ' => {
                    line.push(b as char);
                    echo.push(b);
                }
                _ => {}
            }
        }
        if !echo.is_empty() {
            channel.data_bytes(echo).await?;
        }
    }
}
