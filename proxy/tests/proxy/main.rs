//! The SSH gateway's tests against a real sshd and the OpenSSH client, in one binary: each file
//! is a module (`cargo test --release --workspace --test proxy ssh_sftp::`).

mod env;

mod ssh_pty;
mod ssh_sftp;
mod ssh_shell;
mod ssh_tunnel;
