//! The Portunus benchmark harness: Portunus side by side with raw loopback, HAProxy and sshd.
//!
//! Each benchmark is a module with an `Args` type (parsed by the `portunus-bench` binary), a
//! `run` function returning a serialisable report, and Markdown rendering of that report.

pub mod forward;
mod haproxy;
mod iperf;
mod sys;
