//! What the control policy governing a session lets it do, as the data path checks it. The
//! node builds it from the policy when it admits the session; without a policy everything is
//! allowed ([`Controls::default`]).

use super::{Refusal, RefusalKind};
use crate::commands::CommandRules;

/// SFTP operations; each true = allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SftpOps {
    pub upload: bool,
    pub download: bool,
    pub mkdir: bool,
    pub remove: bool,
    pub rename: bool,
    pub rmdir: bool,
}

impl SftpOps {
    pub const ALL: SftpOps = SftpOps {
        upload: true,
        download: true,
        mkdir: true,
        remove: true,
        rename: true,
        rmdir: true,
    };
}

/// A session's controls.
#[derive(Clone, Debug)]
pub struct Controls {
    /// The governing policy's name; None when no policy governs the session.
    pub policy: Option<String>,
    pub shell: bool,
    pub exec: bool,
    pub sftp: bool,
    pub sftp_ops: SftpOps,
    /// `-L` tunnels.
    pub tunnels: bool,
    /// Command control of shells and execs.
    pub commands: Option<CommandRules>,
    /// Commands held for an administrator's approval (a list matched like a deny list).
    pub approval: Option<CommandRules>,
}

/// What command control says of a command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Run,
    Refused(Refusal),
    /// Held until an administrator accepts it.
    NeedsApproval,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            policy: None,
            shell: true,
            exec: true,
            sftp: true,
            sftp_ops: SftpOps::ALL,
            tunnels: true,
            commands: None,
            approval: None,
        }
    }
}

impl Controls {
    /// The refusal of `what` under this session's policy.
    pub fn refusal(&self, what: &str) -> Refusal {
        let by = match &self.policy {
            Some(p) => format!("control policy \"{p}\""),
            None => "a control policy".to_string(),
        };
        Refusal {
            kind: RefusalKind::NotAuthorized,
            message: format!("{what} is not allowed by {by}"),
        }
    }

    /// Why an interactive shell may not start, if it may not.
    pub fn shell_refusal(&self) -> Option<Refusal> {
        (!self.shell).then(|| self.refusal("an interactive shell (SSH channel)"))
    }

    /// Whether command control lets shells and execs run commands unchecked.
    pub fn checks_commands(&self) -> bool {
        self.commands.is_some() || self.approval.is_some()
    }

    /// What may happen to `command` as an exec.
    pub fn exec_verdict(&self, command: &str) -> Verdict {
        if !self.exec {
            return Verdict::Refused(self.refusal("running a remote command (exec)"));
        }
        self.verdict(command)
    }

    /// What may happen to the command line `line`. A deny list refuses what it lists, and
    /// holds for approval what the approval list has; an allow list runs what it lists, holds
    /// what the approval list has, and refuses the rest.
    pub fn verdict(&self, line: &str) -> Verdict {
        let controlled = self.command_refusal(line);
        let allow_list = self.commands.as_ref().is_some_and(CommandRules::allow_only);
        let approvable = self
            .approval
            .as_ref()
            .is_some_and(|a| a.check(line).is_err());
        match (controlled, allow_list, approvable) {
            (Some(_), true, true) | (None, false, true) => Verdict::NeedsApproval,
            (Some(r), _, _) => Verdict::Refused(r),
            (None, _, _) => Verdict::Run,
        }
    }

    /// The refusal of a held command an administrator rejected (or did not decide in time).
    pub fn approval_refusal(&self, line: &str, why: &str) -> Refusal {
        Refusal {
            kind: RefusalKind::NotAuthorized,
            message: format!("the command \"{line}\" was not run: {why}"),
        }
    }

    /// Why SFTP may not start, if it may not.
    pub fn sftp_refusal(&self) -> Option<Refusal> {
        (!self.sftp).then(|| self.refusal("SFTP"))
    }

    /// Why a `-L` tunnel may not run, if it may not.
    pub fn tunnel_refusal(&self) -> Option<Refusal> {
        (!self.tunnels).then(|| self.refusal("port forwarding (-L)"))
    }

    /// Why the command line `line` may not run, if it may not.
    pub fn command_refusal(&self, line: &str) -> Option<Refusal> {
        let refused = self.commands.as_ref()?.check(line).err()?;
        let what = match &refused.pattern {
            Some(p) => format!("the command \"{}\" (matches \"{p}\")", refused.command),
            None => format!(
                "the command \"{}\" (not on the allowed list)",
                refused.command
            ),
        };
        Some(self.refusal(&what))
    }
}
