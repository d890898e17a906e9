//! Applying `ApiCall`: an API call's nonce, first change and admin audit entry in one log
//! entry (one commit where there were three in a row).

use super::{Handled, State};
use crate::admin_audit::ADMIN_AUDIT_RETENTION;
use crate::command::Command;
use crate::rejection::Rejection;
use crate::response::Response;

impl State {
    pub(super) fn apply_api_call(&mut self, now: u64, cmd: &Command) -> Handled {
        let Command::ApiCall {
            nonce,
            audit,
            change,
        } = cmd
        else {
            return None;
        };
        if let Some(n) = nonce {
            // A refused nonce refuses the call: nothing else is applied.
            if let Err(r) = self.record_nonce(now, &n.access_key_id, n.key, n.request_ms) {
                return Some(Err(r));
            }
        }
        let answer = match change.as_deref() {
            None => Response::Done,
            Some(Command::Batch(_) | Command::ApiCall { .. }) => Response::Rejected(
                Rejection::invalid("command", "an API call's change cannot nest commands"),
            ),
            Some(c) => self.apply_command(now, c),
        };
        // A refused change leaves no entry here: the caller records the one its answer names.
        let audit_seq = match (audit, &answer) {
            (Some(record), a) if !matches!(a, Response::Rejected(_)) => Some(
                self.admin_audit
                    .append(now, record.clone(), ADMIN_AUDIT_RETENTION),
            ),
            _ => None,
        };
        Some(Ok(Response::ApiCalled {
            change: Box::new(answer),
            audit_seq,
        }))
    }
}

#[cfg(test)]
mod tests {
    use crate::admin_audit::AdminAuditRecord;
    use crate::command::{Command, NonceRecord};
    use crate::rejection::Rejection;
    use crate::response::Response;
    use crate::settings::Role;
    use crate::state::tests::Fx;
    use std::collections::BTreeMap;

    fn fixture() -> Fx {
        let mut fx = Fx::new();
        fx.done(Command::CreateAccessKey {
            access_key_id: "ak".into(),
            secret: crate::Sealed(vec![1]),
            role: Role::Admin,
            user_id: None,
            comment: String::new(),
        });
        fx
    }

    fn nonce(n: u8, at: u64) -> Option<NonceRecord> {
        Some(NonceRecord {
            access_key_id: "ak".into(),
            key: [n; 16],
            request_ms: at,
        })
    }

    fn audit(action: &str, result: &str) -> Option<AdminAuditRecord> {
        Some(AdminAuditRecord {
            access_key_id: "ak".into(),
            role: Role::Admin,
            user_id: None,
            source: "127.0.0.1:1".into(),
            action: action.into(),
            params: BTreeMap::new(),
            result: result.into(),
        })
    }

    fn create_group(name: &str) -> Option<Box<Command>> {
        Some(Box::new(Command::CreateUserGroup {
            name: name.into(),
            comment: String::new(),
        }))
    }

    fn groups(fx: &Fx) -> Vec<String> {
        fx.st.user_groups().map(|g| g.name.clone()).collect()
    }

    #[test]
    fn nonce_change_and_audit_apply_together_and_a_replay_applies_nothing() {
        let mut fx = fixture();
        let at = fx.now;
        let call = Command::ApiCall {
            nonce: nonce(1, at),
            audit: audit("CreateUserGroup", "OK"),
            change: create_group("ops"),
        };
        let Response::ApiCalled { change, audit_seq } = fx.run(call.clone()) else {
            panic!("an accepted call is answered with ApiCalled");
        };
        assert!(matches!(*change, Response::Created { .. }), "{change:?}");
        assert_eq!(audit_seq, Some(fx.st.admin_audit().last_seq()));
        assert!(fx.st.nonce_used(&[1; 16], fx.now));
        assert_eq!(groups(&fx), ["ops"]);
        let entries = fx.st.admin_audit().last_seq();
        // The same call again (another name, so only the nonce can refuse it): nothing applied.
        let Command::ApiCall { nonce, audit, .. } = call else {
            unreachable!()
        };
        let replay = Command::ApiCall {
            nonce,
            audit,
            change: create_group("dev"),
        };
        assert_eq!(fx.reject(replay), Rejection::NonceUsed);
        assert_eq!(groups(&fx), ["ops"]);
        assert_eq!(fx.st.admin_audit().last_seq(), entries);
    }

    #[test]
    fn a_refused_change_keeps_the_nonce_and_leaves_no_audit_entry() {
        let mut fx = fixture();
        fx.created(*create_group("ops").unwrap_or_else(|| unreachable!()));
        let entries = fx.st.admin_audit().last_seq();
        let at = fx.now;
        let r = fx.run(Command::ApiCall {
            nonce: nonce(2, at),
            audit: audit("CreateUserGroup", "OK"),
            change: create_group("ops"),
        });
        let Response::ApiCalled { change, audit_seq } = r else {
            panic!("the nonce was accepted: {r:?}");
        };
        assert!(
            matches!(
                &*change,
                Response::Rejected(Rejection::AlreadyExists { .. })
            ),
            "{change:?}"
        );
        assert_eq!(audit_seq, None);
        assert_eq!(fx.st.admin_audit().last_seq(), entries);
        assert!(fx.st.nonce_used(&[2; 16], fx.now));
    }

    #[test]
    fn without_a_change_the_nonce_and_the_entry_are_recorded() {
        let mut fx = fixture();
        let at = fx.now;
        let r = fx.run(Command::ApiCall {
            nonce: nonce(3, at),
            audit: audit("CreateUserGroup", "InvalidParameter"),
            change: None,
        });
        let seq = fx.st.admin_audit().last_seq();
        assert_eq!(
            r,
            Response::ApiCalled {
                change: Box::new(Response::Done),
                audit_seq: Some(seq),
            }
        );
        let result = fx
            .st
            .admin_audit()
            .entry(seq)
            .map(|e| e.record.result.clone());
        assert_eq!(result.as_deref(), Some("InvalidParameter"));
        assert!(fx.st.nonce_used(&[3; 16], fx.now));
        // A read's call: the nonce alone.
        let before = fx.st.admin_audit().last_seq();
        let r = fx.run(Command::ApiCall {
            nonce: nonce(4, at),
            audit: None,
            change: None,
        });
        assert!(
            matches!(
                r,
                Response::ApiCalled {
                    audit_seq: None,
                    ..
                }
            ),
            "{r:?}"
        );
        assert_eq!(fx.st.admin_audit().last_seq(), before);
    }

    #[test]
    fn a_nested_change_is_refused_and_the_web_console_form_needs_no_nonce() {
        let mut fx = fixture();
        let at = fx.now;
        let nested = Command::ApiCall {
            nonce: nonce(5, at),
            audit: audit("CreateUserGroup", "OK"),
            change: Some(Box::new(Command::Batch(vec![
                *create_group("a").unwrap_or_else(|| unreachable!())
            ]))),
        };
        let r = fx.run(nested);
        let Response::ApiCalled { change, audit_seq } = r else {
            panic!("the nonce was accepted: {r:?}");
        };
        assert!(matches!(*change, Response::Rejected(_)), "{change:?}");
        assert_eq!(audit_seq, None);
        assert!(groups(&fx).is_empty());
        // The console's calls carry no nonce (its page proves itself otherwise).
        let r = fx.run(Command::ApiCall {
            nonce: None,
            audit: audit("CreateUserGroup", "OK"),
            change: create_group("web"),
        });
        assert!(
            matches!(
                r,
                Response::ApiCalled {
                    audit_seq: Some(_),
                    ..
                }
            ),
            "{r:?}"
        );
        assert_eq!(groups(&fx), ["web"]);
    }
}
