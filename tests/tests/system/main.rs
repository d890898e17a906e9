//! Whole-system tests with real node processes, in one binary: each file is a module (`cargo
//! test --release --workspace --test system replicated::` runs one file's tests).

mod login;

mod api_sdk;
mod audit_export;
mod chaos;
mod cli;
mod cluster;
mod db_gateway;
mod directory;
mod disk_faults;
mod five_nodes;
mod haproxy;
mod held_back;
mod host_verify;
mod instance_door;
mod logging;
mod lossy_leader;
mod policies;
mod power_loss;
mod private_files;
mod projects;
mod recording;
mod replicated;
mod seal_reload;
mod sealing;
mod session_trail;
mod sftp;
mod two_factor;
mod web_survivor;
mod witness;
