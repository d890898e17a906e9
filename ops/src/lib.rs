//! Portunus's operations surface, served over HTTP by axum on every node: health for load
//! balancers, Prometheus metrics, and (growing) the Bastionhost-compatible management API.
//! It reaches the rest of the node only through its ports: [`NodeProbe`] (health, metrics)
//! and [`Backend`] (the replicated state, for the API). [`client`] is the other side: signed
//! calls to the API, for the admin command line and the benchmarks.

pub mod api;
mod backend;
pub mod client;
pub mod config_export;
mod health;
mod limits;
mod metrics;
mod server;
pub mod totp;

pub use api::{api_router, api_router_with};
pub use backend::{
    Backend, BackendError, BoxFuture, HostAccountCheck, NodeStore, ProxyCheck, StoredEvents,
};
pub use health::{NodeProbe, Readiness};
pub use limits::{ApiSettings, CutOff};
pub use metrics::Metrics;
/// The type of [`Metrics`]' labelled counters, for code that keeps them up to date.
pub use prometheus::IntCounterVec;
pub use server::{health_router, operator_router, serve};
