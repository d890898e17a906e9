//! What every benchmark hands back: its Markdown table, its JSON, and the goals it checked; and
//! the writing of `results/<name>.{json,md}` plus the combined `results/all.md`.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// One goal of issue 6, checked in one run.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub bench: String,
    pub goal: String,
    pub measured: String,
    pub met: bool,
}

impl Goal {
    pub fn new(bench: &str, goal: &str, measured: String, met: bool) -> Self {
        Self {
            bench: bench.into(),
            goal: goal.into(),
            measured,
            met,
        }
    }

    pub fn verdict(&self) -> &'static str {
        if self.met {
            "met"
        } else {
            "MISSED"
        }
    }
}

/// The outcome of one benchmark.
pub struct Outcome {
    pub name: &'static str,
    pub markdown: String,
    pub json: serde_json::Value,
    pub goals: Vec<Goal>,
}

/// The goals as a Markdown table.
pub fn goals_table(goals: &[Goal]) -> String {
    let mut md = String::from("| Bench | Goal | Measured | Verdict |\n|---|---|---|---|\n");
    for g in goals {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            g.bench,
            g.goal,
            g.measured,
            g.verdict()
        ));
    }
    md
}

/// Writes `<out>/<name>.json` and `<out>/<name>.md` and prints the Markdown.
pub fn write(out: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {out:?}"))?;
    let mut md = outcome.markdown.clone();
    if !outcome.goals.is_empty() {
        md.push('\n');
        md.push_str(&goals_table(&outcome.goals));
    }
    let json = serde_json::json!({ "result": outcome.json, "goals": outcome.goals });
    std::fs::write(
        out.join(format!("{}.json", outcome.name)),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    std::fs::write(out.join(format!("{}.md", outcome.name)), &md)?;
    println!("{md}");
    Ok(())
}

/// Writes the combined `<out>/all.md` and `<out>/all.json` of a whole-suite run.
pub fn write_all(
    out: &Path,
    outcomes: &[Outcome],
    failures: &[(String, String)],
) -> anyhow::Result<()> {
    let goals: Vec<Goal> = outcomes.iter().flat_map(|o| o.goals.clone()).collect();
    let mut md = String::from("# Portunus benchmark suite\n\n## Goals\n\n");
    md.push_str(&goals_table(&goals));
    for (name, err) in failures {
        md.push_str(&format!("\n**{name} did not complete:** {err}\n"));
    }
    for o in outcomes {
        md.push_str(&format!("\n## {}\n\n{}", o.name, o.markdown));
    }
    std::fs::write(out.join("all.md"), &md)?;
    let json = serde_json::json!({
        "goals": goals,
        "failures": failures,
        "results": outcomes.iter().map(|o| (o.name.to_string(), o.json.clone())).collect::<serde_json::Map<_, _>>(),
    });
    std::fs::write(
        out.join("all.json"),
        serde_json::to_string_pretty(&json)? + "\n",
    )?;
    println!("{}", goals_table(&goals));
    Ok(())
}
