//! Applies SQL rule commands and answers which rules apply to a database session.

use super::validate::{self, found};
use super::{Handled, State};
use crate::command::Command;
use crate::ids::{DatabaseId, EntityKind, SqlRuleId, UserId};
use crate::rejection::Rejection;
use crate::response::Response;
use crate::sql_rule::{SqlMatcher, SqlRule, SqlRuleSpec};

/// At most this many values in one rule, and this long each.
const MAX_VALUES: usize = 64;
const MAX_VALUE_LEN: usize = 1024;

impl State {
    pub(super) fn apply_sql_rules(&mut self, now: u64, cmd: &Command) -> Handled {
        let r = match cmd {
            Command::CreateSqlRule(spec) => self.create_sql_rule(now, spec),
            Command::UpdateSqlRule { rule_id, spec } => self.update_sql_rule(*rule_id, spec),
            Command::DeleteSqlRule { rule_id } => {
                found(&self.sql_rules, EntityKind::SqlRule, *rule_id)
                    .map(|_| ())
                    .map(|()| {
                        self.sql_rules.remove(rule_id);
                        Response::Done
                    })
            }
            _ => return None,
        };
        Some(r)
    }

    fn check_sql_rule(&self, spec: &SqlRuleSpec, id: Option<SqlRuleId>) -> Result<(), Rejection> {
        validate::name("Name", &spec.name)?;
        validate::text("Comment", &spec.comment)?;
        let values = match &spec.matcher {
            SqlMatcher::Verbs(v) | SqlMatcher::Tables(v) => v.clone(),
            SqlMatcher::Regex(r) => vec![r.clone()],
            SqlMatcher::WithoutWhere => Vec::new(),
        };
        let needs_values = !matches!(spec.matcher, SqlMatcher::WithoutWhere);
        if needs_values && values.iter().all(|v| v.trim().is_empty()) {
            return Err(Rejection::invalid(
                "Values",
                "the rule needs at least one value",
            ));
        }
        if values.len() > MAX_VALUES || values.iter().any(|v| v.len() > MAX_VALUE_LEN) {
            return Err(Rejection::invalid(
                "Values",
                format!("at most {MAX_VALUES} values of {MAX_VALUE_LEN} bytes"),
            ));
        }
        if let SqlMatcher::Verbs(v) = &spec.matcher {
            if v.iter().any(|x| {
                x.split_whitespace().count() > 2
                    || !x
                        .chars()
                        .all(|c| c.is_ascii_alphabetic() || c == '_' || c == ' ')
            }) {
                return Err(Rejection::invalid(
                    "Values",
                    "a verb is one or two words, like DROP or DROP DATABASE",
                ));
            }
        }
        validate::all_found(&self.databases, EntityKind::Database, &spec.databases)?;
        validate::all_found(&self.users, EntityKind::User, &spec.users)?;
        validate::all_found(&self.user_groups, EntityKind::UserGroup, &spec.user_groups)?;
        let names = self
            .sql_rules
            .values()
            .map(|r| (r.id, r.spec.name.as_str()));
        validate::unique(EntityKind::SqlRule, &spec.name, id, names)
    }

    fn create_sql_rule(&mut self, now: u64, spec: &SqlRuleSpec) -> Result<Response, Rejection> {
        self.check_sql_rule(spec, None)?;
        let id = self.alloc_id();
        let rule = SqlRule {
            id,
            spec: spec.clone(),
            created_at_ms: now,
        };
        self.sql_rules.insert(id, rule);
        Ok(Response::Created { id })
    }

    fn update_sql_rule(
        &mut self,
        id: SqlRuleId,
        spec: &SqlRuleSpec,
    ) -> Result<Response, Rejection> {
        found(&self.sql_rules, EntityKind::SqlRule, id)?;
        self.check_sql_rule(spec, Some(id))?;
        if let Some(r) = self.sql_rules.get_mut(&id) {
            r.spec = spec.clone();
        }
        Ok(Response::Done)
    }

    pub fn sql_rule(&self, id: SqlRuleId) -> Option<&SqlRule> {
        self.sql_rules.get(&id)
    }

    pub fn sql_rules(&self) -> impl Iterator<Item = &SqlRule> {
        self.sql_rules.values()
    }

    /// The enabled rules applying to `user` on `database`, in id order.
    pub fn sql_rules_for(&self, database: DatabaseId, user: UserId) -> Vec<&SqlRule> {
        let groups = self
            .user_groups
            .values()
            .filter(|g| g.members.contains(&user))
            .map(|g| g.id)
            .collect();
        self.sql_rules
            .values()
            .filter(|r| r.applies(database, user, &groups))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Request;
    use crate::database::NewDatabase;
    use crate::user::NewUser;
    use std::collections::BTreeSet;

    fn apply(s: &mut State, command: Command) -> Response {
        s.apply(&Request {
            now_ms: 1,
            command,
            id: None,
        })
    }

    fn spec(name: &str, matcher: SqlMatcher, databases: BTreeSet<u64>) -> SqlRuleSpec {
        SqlRuleSpec {
            name: name.into(),
            comment: String::new(),
            enabled: true,
            matcher,
            databases,
            users: BTreeSet::new(),
            user_groups: BTreeSet::new(),
        }
    }

    fn created(r: Response) -> u64 {
        match r {
            Response::Created { id } => id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rules_apply_by_database_and_user_and_are_validated() {
        let mut s = State::default();
        let user = created(apply(
            &mut s,
            Command::CreateUser(NewUser {
                name: "alice".into(),
                ..Default::default()
            }),
        ));
        let db = |name: &str| NewDatabase {
            name: name.into(),
            engine: crate::database::DbEngine::MySql,
            address: "127.0.0.1".into(),
            port: 3306,
            source: Default::default(),
            source_instance_id: String::new(),
            comment: String::new(),
            network_domain_id: None,
            project_id: None,
        };
        let orders = created(apply(&mut s, Command::CreateDatabase(db("orders"))));
        let other = created(apply(&mut s, Command::CreateDatabase(db("other"))));
        let everywhere = created(apply(
            &mut s,
            Command::CreateSqlRule(spec(
                "no-drop",
                SqlMatcher::Verbs(vec!["DROP".into()]),
                BTreeSet::new(),
            )),
        ));
        let only_orders = created(apply(
            &mut s,
            Command::CreateSqlRule(spec("no-where", SqlMatcher::WithoutWhere, [orders].into())),
        ));
        let ids = |v: Vec<&SqlRule>| v.iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.sql_rules_for(orders, user)),
            vec![everywhere, only_orders]
        );
        assert_eq!(ids(s.sql_rules_for(other, user)), vec![everywhere]);
        // Someone else's rule does not apply to alice.
        let mut bobs = spec("bob-only", SqlMatcher::Regex("x".into()), BTreeSet::new());
        bobs.users = [user].into();
        let bob_rule = created(apply(&mut s, Command::CreateSqlRule(bobs)));
        assert_eq!(
            ids(s.sql_rules_for(other, user)),
            vec![everywhere, bob_rule]
        );
        assert_eq!(ids(s.sql_rules_for(other, user + 1000)), vec![everywhere]);
        // Deleting the database does not widen the rule that named it.
        apply(
            &mut s,
            Command::DeleteDatabase {
                database_id: orders,
            },
        );
        assert!(s
            .sql_rule(only_orders)
            .is_some_and(|r| !r.applies(other, user, &BTreeSet::new())));
        // Validation.
        let bad = [
            spec(
                "no-drop",
                SqlMatcher::Verbs(vec!["TRUNCATE".into()]),
                BTreeSet::new(),
            ),
            spec(
                "empty",
                SqlMatcher::Verbs(vec![" ".into()]),
                BTreeSet::new(),
            ),
            spec(
                "odd",
                SqlMatcher::Verbs(vec!["DROP; SELECT".into()]),
                BTreeSet::new(),
            ),
            spec("ghost", SqlMatcher::WithoutWhere, [999_999].into()),
        ];
        for b in bad {
            let name = b.name.clone();
            assert!(
                matches!(
                    apply(&mut s, Command::CreateSqlRule(b)),
                    Response::Rejected(_)
                ),
                "{name}"
            );
        }
        assert_eq!(s.sql_rules().count(), 3);
        assert!(matches!(
            apply(
                &mut s,
                Command::DeleteSqlRule {
                    rule_id: everywhere
                }
            ),
            Response::Done
        ));
        assert!(matches!(
            apply(
                &mut s,
                Command::DeleteSqlRule {
                    rule_id: everywhere
                }
            ),
            Response::Rejected(_)
        ));
    }
}
