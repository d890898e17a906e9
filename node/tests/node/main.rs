//! The node's integration tests in one binary: each file is a module (`cargo test --release
//! --workspace --test node mysql_gateway::` runs one file's tests). One binary links the whole
//! node once instead of once per file.

mod fixture;

mod db_policies;
mod login_limits;
mod mysql_gateway;
mod network_domains;
mod pg_gateway;
mod public_door;
mod slots;
mod ssh_gateway;
mod sso_launcher;
mod two_factor;
mod web_console;
mod web_portal;
mod web_sql;
mod web_sso;
mod web_terminal;
mod withdrawn;
