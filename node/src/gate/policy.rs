//! The control policy governing a session, as the gate applies it: source addresses and logon
//! hours are checked before a session opens (before a token's use is spent or a slot taken),
//! the rest travels with the permit as [`Controls`] for the data path.

use portunus_model::{AssetRef, Policy, SessionAccount, State};
use portunus_proxy::commands::CommandRules;
use portunus_proxy::gate::{Controls, Refusal, RefusalKind, SftpOps};
use std::net::IpAddr;

/// The policy governing `user` on `asset` as `account` (a hosted account id, None for an
/// account the engineer names himself).
pub(crate) fn governing(
    s: &State,
    user: u64,
    asset: AssetRef,
    account: Option<u64>,
) -> Option<&Policy> {
    match (asset, account) {
        (AssetRef::Host(h), Some(a)) => s.policy_for_host(user, h, a),
        (AssetRef::Host(_), None) => None,
        (AssetRef::Database(d), a) => s.policy_for_database(user, d, a),
    }
}

/// The account of a session grant, as [`governing`] takes it.
pub(crate) fn hosted(account: &SessionAccount) -> Option<u64> {
    match account {
        SessionAccount::Hosted(a) => Some(*a),
        SessionAccount::Custom(_) => None,
    }
}

fn refused(policy: &Policy, what: String) -> Refusal {
    Refusal {
        kind: RefusalKind::NotAuthorized,
        message: format!(
            "{what} (control policy \"{}\"); ask your administrator to change the restriction",
            policy.basics.name
        ),
    }
}

/// Whether a session may open now from `client`: the policy's source addresses and logon
/// hours. A time zone this node cannot read refuses (the check cannot be made).
pub(crate) fn admission(
    policy: Option<&Policy>,
    client: IpAddr,
    now_ms: u64,
) -> Result<(), Refusal> {
    let Some(p) = policy else {
        return Ok(());
    };
    if !p.ip_acl.allows(client) {
        return Err(refused(
            p,
            format!("Logons from the source address {client} are blocked by the administrator"),
        ));
    }
    let Some(hours) = &p.hours else {
        return Ok(());
    };
    let local = jiff::tz::TimeZone::get(&hours.time_zone).and_then(|tz| {
        let now = jiff::Timestamp::from_millisecond(i64::try_from(now_ms).unwrap_or(i64::MAX))?;
        Ok(now.to_zoned_datetime(tz))
    });
    let local = match local {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(zone = %hours.time_zone, error = %e, "a policy's time zone cannot be read");
            return Err(refused(
                p,
                format!(
                    "Logon hours cannot be checked on this node (time zone {} unknown here)",
                    hours.time_zone
                ),
            ));
        }
    };
    let weekday = usize::from(local.weekday().to_monday_zero_offset().unsigned_abs());
    let hour = u32::from(local.hour().unsigned_abs());
    if hours.allows(weekday, hour) {
        return Ok(());
    }
    Err(refused(
        p,
        format!(
            "Logons are not allowed at this time ({} {}:00 in {})",
            local.weekday_name(),
            hour,
            hours.time_zone
        ),
    ))
}

trait WeekdayName {
    fn weekday_name(&self) -> &'static str;
}

impl WeekdayName for jiff::ZonedDateTime {
    fn weekday_name(&self) -> &'static str {
        use jiff::civil::Weekday::*;
        match self.weekday() {
            Monday => "Monday",
            Tuesday => "Tuesday",
            Wednesday => "Wednesday",
            Thursday => "Thursday",
            Friday => "Friday",
            Saturday => "Saturday",
            Sunday => "Sunday",
        }
    }
}

/// What the data path enforces of `policy`. Patterns the API let in but this node cannot
/// compile refuse every command (fail closed) rather than none.
pub(crate) fn controls(policy: Option<&Policy>) -> Controls {
    let Some(p) = policy else {
        return Controls::default();
    };
    let ssh = &p.ssh;
    let c = &p.commands;
    let commands = (c.mode == portunus_model::ListMode::AllowOnly || !c.commands.is_empty())
        .then(|| {
            let allow_only = c.mode == portunus_model::ListMode::AllowOnly;
            CommandRules::new(allow_only, &c.commands).unwrap_or_else(|e| {
                tracing::error!(policy = %p.basics.name, error = %e, "a command pattern does not compile; every command is refused");
                CommandRules::refuse_all()
            })
        });
    let approval = (!c.approval.is_empty()).then(|| {
        CommandRules::new(false, &c.approval).unwrap_or_else(|e| {
            tracing::error!(policy = %p.basics.name, error = %e, "an approval pattern does not compile; every command waits for approval");
            CommandRules::new(false, &["/./".to_string()]).unwrap_or_else(|_| CommandRules::refuse_all())
        })
    });
    Controls {
        policy: Some(p.basics.name.clone()),
        shell: ssh.shell,
        exec: ssh.exec,
        sftp: ssh.sftp,
        sftp_ops: SftpOps {
            upload: ssh.sftp_upload,
            download: ssh.sftp_download,
            mkdir: ssh.sftp_mkdir,
            remove: ssh.sftp_remove,
            rename: ssh.sftp_rename,
            rmdir: ssh.sftp_rmdir,
        },
        tunnels: ssh.tunnels(),
        commands,
        approval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portunus_model::{
        AccessHours, AssetScope, CommandControl, IpAcl, PolicyBasics, RdpOptions, SshOptions,
        UserScope,
    };

    fn policy(hours: AccessHours) -> Policy {
        Policy {
            id: 1,
            basics: PolicyBasics {
                name: "night-shift".into(),
                comment: String::new(),
                priority: 1,
            },
            created_at_ms: 0,
            users: UserScope::All,
            assets: AssetScope::All,
            commands: CommandControl::default(),
            ssh: SshOptions::default(),
            rdp: RdpOptions::default(),
            ip_acl: IpAcl::default(),
            hours: Some(hours),
            approval: false,
        }
    }

    /// Milliseconds of a UTC time.
    fn utc(text: &str) -> u64 {
        let t: jiff::Timestamp = text.parse().unwrap();
        t.as_millisecond() as u64
    }

    #[test]
    fn logon_hours_are_read_in_the_policys_time_zone_and_may_cross_midnight() {
        // Monday from 22:00 to Tuesday 02:00 in Shanghai (UTC+8): two days' worth of hours.
        let mut week = [0u32; 7];
        week[0] = (1 << 22) | (1 << 23);
        week[1] = (1 << 0) | (1 << 1);
        let p = policy(AccessHours {
            week,
            time_zone: "Asia/Shanghai".into(),
        });
        let client: IpAddr = "192.0.2.7".parse().unwrap();
        let at = |t: &str| admission(Some(&p), client, utc(t));
        // Monday 22:30 in Shanghai is Monday 14:30 UTC.
        assert!(at("2026-12-07T14:30:00Z").is_ok());
        // Tuesday 01:59 in Shanghai is still Monday (17:59) in UTC: Shanghai's weekday counts.
        assert!(at("2026-12-07T17:59:00Z").is_ok());
        // Tuesday 02:00 in Shanghai: the window is over; the words say when, where and why.
        let late = at("2026-12-07T18:00:00Z").unwrap_err();
        assert_eq!(late.kind, RefusalKind::NotAuthorized);
        assert!(
            late.message
                .starts_with("Logons are not allowed at this time (Tuesday 2:00 in Asia/Shanghai)")
                && late.message.contains("\"night-shift\""),
            "{}",
            late.message
        );
        // Monday 21:59 in Shanghai (13:59 UTC): not yet.
        assert!(at("2026-12-07T13:59:00Z").is_err());
        // The same UTC instant in a zone where it is Monday 22:00 allows; in UTC it does not.
        let utc_policy = policy(AccessHours {
            week,
            time_zone: "UTC".into(),
        });
        assert!(admission(Some(&utc_policy), client, utc("2026-12-07T14:30:00Z")).is_err());
        assert!(admission(Some(&utc_policy), client, utc("2026-12-07T22:30:00Z")).is_ok());
    }

    #[test]
    fn a_time_zone_this_node_cannot_read_refuses_the_logon() {
        let p = policy(AccessHours {
            week: [u32::MAX >> 8; 7],
            time_zone: "Mars/Olympus_Mons".into(),
        });
        let refused = admission(
            Some(&p),
            "192.0.2.7".parse().unwrap(),
            utc("2026-12-07T14:30:00Z"),
        )
        .unwrap_err();
        assert!(
            refused
                .message
                .contains("time zone Mars/Olympus_Mons unknown here"),
            "{}",
            refused.message
        );
    }
}
