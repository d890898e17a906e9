//! The Portunus data path: every byte between a user and a target crosses this crate.
//!
//! - [`forward`] moves the bytes of a plain-TCP leg, with splice(2) where the kernel allows it
//!   and a bounded user-space copy otherwise.
//! - [`gate`] holds the ports through which the data path asks for decisions
//!   ([`gate::SessionGate`]) and reports what it saw ([`gate::AuditSink`]).
//! - [`relay`] is a tiny raw TCP relay listener built on [`forward`], used by tests and the
//!   benchmark harness.

pub mod forward;
pub mod gate;
pub mod relay;
