//! `portunus admin user totp`: a user's TOTP authenticator (the API's EnrollUserTotp,
//! ConfirmUserTotp and ResetUserTotp extensions). With the user's own (Operator) AccessKey the
//! user is the key's; an Admin key names the user.

use super::{print_json, Api};
use clap::Subcommand;

/// `portunus admin user totp ...`
#[derive(Subcommand, Debug)]
pub enum TotpCmd {
    /// Start an enrolment: prints the secret, the otpauth:// URI for an authenticator app and
    /// ten recovery codes, once. Nothing is asked at login until `confirm` gives a first code.
    Enroll {
        /// The user (id or name; an Admin key only). Default: the AccessKey's own user.
        user: Option<String>,
    },
    /// Activate the enrolment with the authenticator's current six-digit code.
    Confirm {
        /// The code the authenticator shows now.
        code: String,
        /// The user (id or name; an Admin key only). Default: the AccessKey's own user.
        #[arg(long)]
        user: Option<String>,
    },
    /// Remove a user's authenticator and recovery codes (a lost device; an Admin key): the
    /// user enrolls again.
    Reset {
        /// The user (id or name).
        user: String,
    },
}

async fn user_param(api: &Api, user: Option<&str>) -> anyhow::Result<Vec<(String, String)>> {
    Ok(match user {
        Some(u) => vec![("UserId".to_string(), api.user_id(u).await?)],
        None => Vec::new(),
    })
}

pub(super) async fn totp(api: &Api, cmd: TotpCmd, json: bool) -> anyhow::Result<()> {
    match cmd {
        TotpCmd::Enroll { user } => {
            let params = user_param(api, user.as_deref()).await?;
            let body = api.call("EnrollUserTotp", &params).await?;
            if json {
                return print_json(&body);
            }
            say!("secret:  {}", body["Secret"].as_str().unwrap_or("?"));
            say!("uri:     {}", body["OtpauthUri"].as_str().unwrap_or("?"));
            say!("recovery codes (each works once; keep them apart from the device):");
            for c in body["RecoveryCodes"].as_array().into_iter().flatten() {
                say!("  {}", c.as_str().unwrap_or("?"));
            }
            say!("then: portunus admin user totp confirm CODE (the code the app shows)");
            Ok(())
        }
        TotpCmd::Confirm { code, user } => {
            let mut params = user_param(api, user.as_deref()).await?;
            params.push(("Code".into(), code));
            let body = api.call("ConfirmUserTotp", &params).await?;
            if json {
                return print_json(&body);
            }
            say!("authenticator active");
            Ok(())
        }
        TotpCmd::Reset { user } => {
            let params = user_param(api, Some(&user)).await?;
            let body = api.call("ResetUserTotp", &params).await?;
            if json {
                return print_json(&body);
            }
            say!("authenticator removed");
            Ok(())
        }
    }
}
