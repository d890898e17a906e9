//! The served actions, one module per area; [`all`] is the action table.

pub mod admin_audit;
pub mod approvals;
pub mod auto_ops;
pub mod cloud;
pub mod databases;
pub mod delegations;
pub mod domains;
pub mod export;
pub mod grant_lists;
pub mod grants;
pub mod host_accounts;
pub mod host_groups;
pub mod hosts;
pub mod instance;
pub mod instance_settings;
pub mod operations;
pub mod policies;
pub mod projects;
pub mod rules;
pub mod secrets;
pub mod sessions;
pub mod settings;
pub mod shared_keys;
pub mod sql_rules;
pub mod tags;
pub mod tickets;
pub mod tokens;
pub mod totp;
pub mod user_groups;
pub mod user_keys;
pub mod users;

use super::table::Action;

/// Every served action.
pub fn all() -> impl Iterator<Item = &'static Action> {
    [
        hosts::ACTIONS,
        cloud::ACTIONS,
        host_accounts::ACTIONS,
        users::ACTIONS,
        user_keys::ACTIONS,
        user_groups::ACTIONS,
        databases::ACTIONS,
        host_groups::ACTIONS,
        grants::ACTIONS,
        grant_lists::ACTIONS,
        tokens::ACTIONS,
        operations::ACTIONS,
        rules::ACTIONS,
        shared_keys::ACTIONS,
        domains::ACTIONS,
        settings::ACTIONS,
        tags::ACTIONS,
        instance::ACTIONS,
        instance_settings::ACTIONS,
        admin_audit::ACTIONS,
        sessions::ACTIONS,
        sql_rules::ACTIONS,
        policies::ACTIONS,
        approvals::ACTIONS,
        tickets::ACTIONS,
        projects::ACTIONS,
        auto_ops::ACTIONS,
        export::ACTIONS,
        delegations::ACTIONS,
        secrets::ACTIONS,
        totp::ACTIONS,
    ]
    .into_iter()
    .flatten()
}
