//! PostgreSQL: the frontend/backend protocol (version 3) as far as the gateway needs it.
//!
//! - [`wire`]: message framing (the startup packet has no type byte), the startup packet and
//!   its SSL/GSS/cancel variants, `ErrorResponse`/`NoticeResponse` fields.
//! - [`auth`]: the authentication requests a server sends and the gateway's answers from a
//!   hosted password (trust, cleartext, MD5, SCRAM-SHA-256 in [`scram`]).
//! - [`frontend`]: what a client asks (simple and extended query messages), for rules and audit.
//! - [`scan`]: where each server message ends and what the few that matter said, so that data
//!   rows flow through without being decoded or copied.
//! - [`session`]: the async driver joining a client and a target.

pub mod auth;
pub mod frontend;
pub mod scan;
pub mod scram;
pub mod session;

pub mod wire;
