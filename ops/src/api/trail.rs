//! The admin audit trail's API side: what one call leaves in the replicated, hash-chained log
//! (`Command::RecordAdminAudit`), with every secret parameter removed.
//!
//! Redaction is driven by the action table: a parameter marked [`ParamSpec::secret`] is recorded
//! as given but without its value; a parameter the action does not declare is recorded without
//! its value too, so a secret cannot reach the log by being sent under an undeclared name; a
//! field of an indexed list (`Name.N.Field`) whose field is named like any secret parameter of
//! the table is redacted as well. A test checks that every parameter whose name suggests a
//! secret is marked.

use super::auth::Caller;
use super::params::Params;
use super::table::{Action, ParamSpec, COMMON};
use crate::Backend;
use portunus_model::{AdminAuditRecord, Command};
use std::collections::BTreeMap;

/// What a secret parameter's value is recorded as.
pub const REDACTED: &str = "<redacted>";
/// What an undeclared parameter's value is recorded as.
pub const NOT_RECORDED: &str = "<not recorded>";
/// Longest value kept (longer ones are cut, ending with `...`).
const MAX_VALUE_CHARS: usize = 512;

/// The parameters as recorded: secrets and undeclared values removed.
pub fn redact(action: &Action, params: &Params) -> BTreeMap<String, String> {
    params
        .iter()
        .filter(|(k, _)| !matches!(*k, "Action" | "Version"))
        .map(|(k, v)| (k.to_string(), recorded_value(action, k, v)))
        .collect()
}

fn recorded_value(action: &Action, name: &str, value: &str) -> String {
    let spec = action
        .params
        .iter()
        .chain(COMMON.iter())
        .find(|s| declares(s, name));
    match spec {
        None => NOT_RECORDED.to_string(),
        Some(s) if s.secret => REDACTED.to_string(),
        Some(s) if s.name != name && is_secret_name(name.rsplit('.').next().unwrap_or(name)) => {
            REDACTED.to_string()
        }
        Some(_) => cut(value),
    }
}

/// `spec` declares `name` itself or, for indexed lists, one of its `Name.N[.Field]` entries.
fn declares(spec: &ParamSpec, name: &str) -> bool {
    name == spec.name
        || (spec.ty == super::table::Ty::Indexed
            && name
                .strip_prefix(spec.name)
                .is_some_and(|rest| rest.starts_with('.')))
}

/// Whether any action marks a parameter of this name secret.
fn is_secret_name(name: &str) -> bool {
    super::actions::all()
        .flat_map(|a| a.params.iter())
        .any(|p| p.secret && p.name == name)
}

fn cut(value: &str) -> String {
    if value.chars().count() <= MAX_VALUE_CHARS {
        return value.to_string();
    }
    let mut s: String = value.chars().take(MAX_VALUE_CHARS).collect();
    s.push_str("...");
    s
}

/// The call's entry, answered "OK" (see [`super::fold`] for when and with what answer it is
/// appended).
pub fn entry(action: &Action, caller: &Caller, source: &str, params: &Params) -> AdminAuditRecord {
    AdminAuditRecord {
        access_key_id: caller.access_key_id.clone(),
        role: caller.role,
        user_id: caller.user_id,
        source: source.to_string(),
        action: action.name.to_string(),
        params: redact(action, params),
        result: "OK".to_string(),
    }
}

/// Appends an entry to the trail on its own. A failure to append is logged (without
/// parameters) and does not change the call's answer: the change, if any, is already applied.
pub async fn append(backend: &dyn Backend, record: AdminAuditRecord) {
    let (action, access_key_id) = (record.action.clone(), record.access_key_id.clone());
    let answer = backend.propose(Command::RecordAdminAudit(record)).await;
    if let Err(e) = answer.and_then(|r| r.into_result().map_err(Into::into)) {
        tracing::warn!(
            action,
            access_key_id,
            error = %e,
            "the admin audit entry of an API call could not be appended"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        let mut p = Params::default();
        let owned = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        assert!(p.extend(owned).is_ok());
        p
    }

    #[test]
    fn secrets_and_undeclared_values_never_reach_the_record() {
        let Some(create) = super::super::table::find("CreateUser") else {
            panic!("CreateUser is served");
        };
        let got = redact(
            create,
            &params(&[
                ("Action", "CreateUser"),
                ("UserName", "alice"),
                ("Password", "Hunter2-secret"),
                ("SneakyPassword", "also-secret"),
            ]),
        );
        assert_eq!(got.get("UserName").map(String::as_str), Some("alice"));
        assert_eq!(got.get("Password").map(String::as_str), Some(REDACTED));
        assert_eq!(
            got.get("SneakyPassword").map(String::as_str),
            Some(NOT_RECORDED)
        );
        assert!(!got.contains_key("Action"));
        let text = format!("{got:?}");
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn an_indexed_field_named_like_a_secret_is_redacted() {
        let Some(tag) = super::super::table::find("TagResources") else {
            panic!("TagResources is served");
        };
        let got = redact(
            tag,
            &params(&[("Tag.1.Key", "env"), ("Tag.1.Password", "p4ss")]),
        );
        assert_eq!(got.get("Tag.1.Key").map(String::as_str), Some("env"));
        assert_eq!(
            got.get("Tag.1.Password").map(String::as_str),
            Some(REDACTED)
        );
    }

    /// A new secret parameter cannot slip through unmarked: every parameter whose name looks
    /// like a secret is marked, or listed here as known not to be one.
    #[test]
    fn every_secret_looking_parameter_is_marked() {
        const NOT_SECRET: &[&str] = &[
            "NeedResetPassword",
            "PublicKey",
            "PublicKeyName",
            "PublicKeyId",
            "HostShareKeyId",
            "HostShareKeyName",
            "TagKey",
            "TokenId",
            "NextToken",
            "Keyword",
            "HostPrivateAddress",
            "DatabasePrivateAddress",
            "CredentialType",
            "AccessKeyId",
            "RequirePinnedHostKeys",
            "EnablePortalPrivateAccess",
            "TokenValiditySeconds",
            "TokenRenewSeconds",
            "TokenMaxRenewCount",
            "TokenDefaultUseCount",
            "TokenSelfRenew",
        ];
        let words = ["password", "secret", "key", "token", "private", "phrase"];
        for a in super::super::actions::all() {
            for p in a.params {
                let lower = p.name.to_lowercase();
                if words.iter().any(|w| lower.contains(w)) && !NOT_SECRET.contains(&p.name) {
                    assert!(
                        p.secret,
                        "{}.{} looks secret but is not marked",
                        a.name, p.name
                    );
                }
            }
        }
    }

    #[test]
    fn writes_and_token_issues_change_state_and_listings_do_not() {
        let find = |n| super::super::table::find(n).map(Action::changes_state);
        assert_eq!(find("CreateUser"), Some(true));
        assert_eq!(find("GenerateAssetOperationToken"), Some(true));
        assert_eq!(find("RenewAssetOperationToken"), Some(true));
        assert_eq!(find("ListOperationHosts"), Some(false));
        assert_eq!(find("ListUsers"), Some(false));
    }
}
