//! The Portunus benchmark harness: Portunus side by side with raw loopback, HAProxy and sshd.
//!
//! Each benchmark is a module with an `Args` type (parsed by the `portunus-bench` binary) and a
//! `run` function returning a [`suite::Outcome`]: its Markdown table, its JSON and the goals of
//! issue 6 it checked. [`suite`] writes `results/<name>.{json,md}` and the combined
//! `results/all.{json,md}`.

mod api;
pub mod apiwrites;
pub mod db;
pub mod failover;
pub mod forward;
mod haproxy;
mod iperf;
pub mod largestate;
pub mod logins;
pub mod memory;
mod plot;
mod portunus;
mod sshc;
mod sshd;
pub mod stats;
pub mod suite;
mod sys;
pub mod tunnel;
pub mod webpages;
pub mod writes;

/// The `forward` report as a suite outcome (its ratios become goals).
pub fn forward_outcome(report: &forward::Report) -> suite::Outcome {
    let goals = report
        .ratios
        .iter()
        .filter_map(|r| {
            let met = r.met?;
            let measured = r
                .value
                .map_or("not measured".into(), |v| format!("{v:.2}x"));
            let goal = format!("{} >= {:.2}x", r.name, r.goal.unwrap_or_default());
            Some(suite::Goal::new("forward", &goal, measured, met))
        })
        .collect();
    suite::Outcome {
        name: "forward",
        markdown: report.to_markdown(),
        json: serde_json::to_value(report).unwrap_or_default(),
        goals,
    }
}
