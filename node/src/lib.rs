//! The Portunus node: configuration, startup, drain and the CLI. It is the only crate that knows
//! `raft`, `proxy` and `ops`, and it holds the adapters that implement each crate's ports over
//! the others. `main`, the tests and the benchmarks all start a node through [`start`].

mod api_tls;
pub mod audit;
mod audit_export;
mod backend;
mod bootstrap;
pub mod cli;
pub mod config;
mod db_cancel;
mod db_kill;
mod directory;
mod directory_sync;
mod duties;
#[doc(hidden)]
pub mod fuzzing;
mod gate;
mod host_key;
mod http;
mod identity;
mod live;
mod metered;
mod probe;
mod rekey;
mod running;
pub mod seal;
pub mod secret_file;
mod ssh;
mod store_usage;
#[cfg(feature = "test-util")]
pub mod testing;
mod verify;
mod web;

pub use bootstrap::{hash_password, AdminCredentials};
pub use config::{NodeConfig, Role, UpArgs};
pub use running::{start, RunningNode};
