//! The Portunus data path: every byte between a user and a target crosses this crate.
//!
//! - [`forward`] moves the bytes of a plain-TCP leg, with splice(2) where the kernel allows it
//!   and a bounded user-space copy otherwise.
//! - [`gate`] holds the ports through which the data path asks for decisions
//!   ([`gate::SessionGate`]) and reports what it saw ([`gate::AuditSink`]).
//! - [`proxy_protocol`] reads the PROXY v2 header a trusted load balancer puts in front of a
//!   connection, so that limits and audit see the real client.
//! - [`db`] joins the database gateway (`portunus-db`: MySQL and PostgreSQL spoken by the bastion, hosted
//!   credentials injected, statements audited) to the gate and the audit sink.
//! - [`ssh`] is the SSH gateway (russh): logins, tunnels, shells, SFTP, recording.
//! - [`preauth`] caps the connections that have not logged in yet (SSH and database ports).
//! - `testing` (feature `test-util`) holds a fake gate and an in-memory audit sink.
//! - [`route`] reaches a target straight or through its network domain's proxies (SSH, HTTP
//!   CONNECT, SOCKS5).
//! - [`relay`] is a tiny raw TCP relay listener built on [`forward`], used by tests and the
//!   benchmark harness.

pub mod commands;
pub mod db;
pub mod forward;
pub mod gate;
pub mod live;
pub mod preauth;
/// The PROXY v2 header, from its own crate (the API listener reads it too).
pub use portunus_proxy_protocol as proxy_protocol;
pub mod relay;
pub mod route;
pub mod ssh;
#[cfg(feature = "test-util")]
pub mod testing;
