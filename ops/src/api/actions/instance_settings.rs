//! The cluster's tunables (Portunus extensions GetInstanceSettings and ModifyInstanceSettings):
//! concurrency limits, O&M token defaults, the password lockout, the idle timeout, database TLS,
//! host key pins and the wait for a command approval: what `portunus cluster settings` changes
//! from a shell, for administrators' AccessKeys and the console's Settings page. A change names
//! only the settings it changes; the others keep their values.

use crate::api::call::{done, one, Call};
use crate::api::error::{ApiError, ApiResult};
use crate::api::table::{action, opt, Action, ParamSpec, Ty};
use portunus_model::{ClusterSettings, Command, DatabaseTargetTls, Rejection};
use serde_json::{json, Map, Value};

/// How a setting is written.
#[derive(Clone, Copy)]
enum Kind {
    /// A count (0 to 4294967295).
    Count,
    /// Seconds.
    Secs,
    Flag,
    /// A TLS mode for database targets (off, prefer, require, verify).
    Tls,
}

/// Each setting: its API name, its field in the state's settings, its kind.
const FIELDS: [(&str, &str, Kind); 17] = [
    ("MaxSessionsTotal", "max_sessions_total", Kind::Count),
    ("MaxSessionsPerUser", "max_sessions_per_user", Kind::Count),
    ("TokenValiditySeconds", "token_validity_secs", Kind::Secs),
    ("TokenRenewSeconds", "token_renew_secs", Kind::Secs),
    ("TokenMaxRenewCount", "token_max_renew_count", Kind::Count),
    (
        "TokenDefaultUseCount",
        "token_default_use_count",
        Kind::Count,
    ),
    ("TokenSelfRenew", "token_self_renew", Kind::Flag),
    ("LoginLockThreshold", "login_lock_threshold", Kind::Count),
    (
        "LoginLockWindowSeconds",
        "login_lock_window_secs",
        Kind::Secs,
    ),
    ("LoginLockSeconds", "login_lock_secs", Kind::Secs),
    ("LoginLockMaxSeconds", "login_lock_max_secs", Kind::Secs),
    (
        "SessionIdleTimeoutSeconds",
        "session_idle_timeout_secs",
        Kind::Secs,
    ),
    ("SqlAllowUnreadable", "sql_allow_unreadable", Kind::Flag),
    ("DatabaseRequireTls", "database_require_tls", Kind::Flag),
    ("DatabaseTargetTls", "database_target_tls", Kind::Tls),
    ("RequirePinnedHostKeys", "require_host_key_pins", Kind::Flag),
    (
        "CommandApprovalWaitSeconds",
        "command_approval_wait_secs",
        Kind::Secs,
    ),
];

/// ModifyInstanceSettings' parameters: every setting, optional.
const PARAMS: [ParamSpec; 17] = {
    let mut out = [opt("", Ty::Str); 17];
    let mut i = 0;
    while i < FIELDS.len() {
        let ty = match FIELDS[i].2 {
            Kind::Count | Kind::Secs => Ty::Int,
            Kind::Flag => Ty::Bool,
            Kind::Tls => Ty::Str,
        };
        out[i] = opt(FIELDS[i].0, ty);
        i += 1;
    }
    out
};

pub static ACTIONS: &[Action] = &[
    action!(
        "GetInstanceSettings",
        Read,
        get,
        "Queries the cluster's settings (Portunus extension): MaxSessionsTotal and \
         MaxSessionsPerUser (open O&M sessions; 0 = unlimited), the O&M token defaults \
         (TokenValiditySeconds, TokenRenewSeconds, TokenMaxRenewCount, TokenDefaultUseCount \
         with 0 = unlimited uses, TokenSelfRenew), the password lockout (LoginLockThreshold \
         wrong passwords within LoginLockWindowSeconds lock for LoginLockSeconds, doubling up \
         to LoginLockMaxSeconds; threshold 0 = never), SessionIdleTimeoutSeconds (0 = never), \
         SqlAllowUnreadable, DatabaseRequireTls, DatabaseTargetTls (off, prefer, require, \
         verify), RequirePinnedHostKeys and CommandApprovalWaitSeconds.",
        []
    ),
    action!(
        "ModifyInstanceSettings",
        Write,
        modify,
        "Changes the cluster's settings named (Portunus extension; the names and meanings of \
         GetInstanceSettings); the others keep their values. Every node applies them at once: \
         limits to the next session, the lockout to the next wrong password.",
        params: &PARAMS
    ),
];

/// The settings as the API names them.
fn view(s: &ClusterSettings) -> Result<Map<String, Value>, ApiError> {
    let fields = serde_json::to_value(s).map_err(|_| ApiError::Internal)?;
    Ok(FIELDS
        .iter()
        .map(|(api, field, kind)| {
            let value = match kind {
                Kind::Tls => json!(s.database_target_tls.name()),
                _ => fields[*field].clone(),
            };
            (api.to_string(), value)
        })
        .collect())
}

async fn get(c: &Call) -> ApiResult {
    let s = c.read(|s| s.settings().clone()).await?;
    Ok(one("Settings", Value::Object(view(&s)?)))
}

async fn modify(c: &Call) -> ApiResult {
    let before = c.read(|s| s.settings().clone()).await?;
    let mut fields = serde_json::to_value(&before).map_err(|_| ApiError::Internal)?;
    for (api, field, kind) in FIELDS {
        let Some(given) = c.p.opt(api) else {
            continue;
        };
        let value = match kind {
            Kind::Count => c.p.num::<u32>(api)?.map(Value::from),
            Kind::Secs => c.p.num::<u64>(api)?.map(Value::from),
            Kind::Flag => c.p.bool(api)?.map(Value::from),
            Kind::Tls => {
                let mode = DatabaseTargetTls::parse(given.trim()).ok_or_else(|| {
                    let names = DatabaseTargetTls::NAMES.join(", ");
                    ApiError::invalid(api, format!("expected one of {names}"))
                })?;
                Some(serde_json::to_value(mode).map_err(|_| ApiError::Internal)?)
            }
        };
        if let Some(value) = value {
            fields[field] = value;
        }
    }
    let settings: ClusterSettings =
        serde_json::from_value(fields).map_err(|_| ApiError::Internal)?;
    if settings == before {
        return Ok(done());
    }
    match c.propose(Command::UpdateSettings(settings)).await {
        // The state names the field; the caller knows the parameter.
        Err(ApiError::Rejected(Rejection::InvalidParameter { name, reason })) => {
            let api = FIELDS
                .iter()
                .find(|f| f.1 == name)
                .map_or(name, |f| f.0.to_string());
            Err(ApiError::invalid(&api, reason))
        }
        other => other.map(|_| done()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_has_an_api_name_and_every_name_a_setting() {
        let fields = serde_json::to_value(ClusterSettings::default()).unwrap();
        let fields = fields.as_object().unwrap();
        assert_eq!(fields.len(), FIELDS.len(), "a setting without an API name");
        for (api, field, _) in FIELDS {
            assert!(fields.contains_key(field), "{api}: no field {field}");
        }
        let shown = view(&ClusterSettings::default()).unwrap();
        assert_eq!(shown["DatabaseTargetTls"], "prefer");
        assert_eq!(shown["CommandApprovalWaitSeconds"], 300);
        assert_eq!(shown["TokenSelfRenew"], true);
    }
}
