//! MySQL and MariaDB: the client/server protocol as far as the gateway needs it.
//!
//! - [`wire`]: packets and the protocol's integer and string encodings.
//! - [`handshake`]: the server greeting, the client's login and the capabilities both sides may
//!   keep (the gateway offers the client only what the target offers and it can follow).
//! - [`auth`]: answers to the target's authentication methods from a hosted password.
//! - [`command`]: what a client asks (`COM_QUERY`, prepared statements...), for audit.
//! - [`scan`]: where a server's answer ends and what it said, from packet headers only, so
//!   result rows flow through without per-row work.
//! - [`session`]: the async driver joining a client and a target.

pub mod auth;
pub mod command;
pub mod handshake;
pub mod scan;
pub mod session;
pub mod wire;
