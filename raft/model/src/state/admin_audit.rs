//! Applying `RecordAdminAudit` and reading the admin audit log.

use super::{Handled, State};
use crate::admin_audit::{AdminAuditLog, ADMIN_AUDIT_RETENTION};
use crate::command::Command;
use crate::response::Response;

impl State {
    pub(super) fn apply_admin_audit(&mut self, now: u64, cmd: &Command) -> Handled {
        match cmd {
            Command::RecordAdminAudit(record) => {
                let seq = self
                    .admin_audit
                    .append(now, record.clone(), ADMIN_AUDIT_RETENTION);
                Some(Ok(Response::Created { id: seq }))
            }
            _ => None,
        }
    }

    /// The administrative audit trail.
    pub fn admin_audit(&self) -> &AdminAuditLog {
        &self.admin_audit
    }
}

#[cfg(test)]
mod tests {
    use crate::admin_audit::{AdminAuditRecord, ChainBreak};
    use crate::command::{Command, Request};
    use crate::response::Response;
    use crate::settings::Role;
    use crate::state::State;
    use std::collections::BTreeMap;

    fn rec(action: &str) -> Command {
        Command::RecordAdminAudit(AdminAuditRecord {
            access_key_id: "AK".into(),
            role: Role::Admin,
            user_id: None,
            source: "10.0.0.1:1".into(),
            action: action.into(),
            params: BTreeMap::new(),
            result: "OK".into(),
        })
    }

    #[test]
    fn records_apply_in_log_order_with_the_leaders_time_and_in_batches() {
        let mut s = State::default();
        let r = s.apply(&Request {
            now_ms: 10,
            command: rec("CreateUser"),
            id: None,
        });
        assert_eq!(r, Response::Created { id: 1 });
        let r = s.apply(&Request {
            now_ms: 20,
            command: Command::Batch(vec![rec("ModifyUser"), rec("DeleteUser")]),
            id: None,
        });
        assert_eq!(
            r,
            Response::Batch(vec![
                Response::Created { id: 2 },
                Response::Created { id: 3 }
            ])
        );
        let got: Vec<(u64, u64, &str)> = s
            .admin_audit()
            .entries()
            .map(|e| (e.seq, e.at_ms, e.record.action.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, 10, "CreateUser"),
                (2, 20, "ModifyUser"),
                (3, 20, "DeleteUser")
            ]
        );
        assert_eq!(s.admin_audit().verify(), Ok::<(), ChainBreak>(()));
        // A replica applying the same log reaches the same chain.
        let mut t = State::default();
        t.apply(&Request {
            now_ms: 10,
            command: rec("CreateUser"),
            id: None,
        });
        t.apply(&Request {
            now_ms: 20,
            command: Command::Batch(vec![rec("ModifyUser"), rec("DeleteUser")]),
            id: None,
        });
        assert_eq!(t.admin_audit().head(), s.admin_audit().head());
    }
}
