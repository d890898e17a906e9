//! What every benchmark hands back: its Markdown table, its JSON, and the goals it checked; and
//! the writing of `results/<name>.{json,md}` plus the combined `results/all.md`.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The benchmarks in the order `all` runs them (and `collect` puts them in `all.md`).
pub const NAMES: [&str; 11] = [
    "forward",
    "tunnel",
    "logins",
    "writes",
    "api-writes",
    "failover",
    "failover-5",
    "memory",
    "db",
    "large-state",
    "web-pages",
];

/// One goal of issue 6, checked in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
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

/// The line that says what a result was measured on.
fn measured_on(commit: Option<&str>) -> String {
    let now = std::time::SystemTime::now();
    let commit = commit.unwrap_or("unknown");
    format!("Measured on commit `{commit}`, {} UTC.\n\n", utc(now))
}

/// Writes `<out>/<name>.json` and `<out>/<name>.md` (each saying the commit measured) and
/// prints the Markdown.
pub fn write(out: &Path, outcome: &Outcome) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("create {out:?}"))?;
    let commit = commit();
    let mut md = measured_on(commit.as_deref());
    md.push_str(&outcome.markdown);
    if !outcome.goals.is_empty() {
        md.push('\n');
        md.push_str(&goals_table(&outcome.goals));
    }
    let json = serde_json::json!({
        "result": outcome.json,
        "goals": outcome.goals,
        "ran_at": utc(std::time::SystemTime::now()),
        "commit": commit,
    });
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
    let mut md = String::from("# Portunus benchmark suite\n\n");
    md.push_str(&measured_on(commit().as_deref()));
    md.push_str("## Goals\n\n");
    md.push_str(&goals_table(&goals));
    for (name, err) in failures {
        md.push_str(&format!("\n**{name} did not complete:** {err}\n"));
    }
    for o in outcomes {
        md.push_str(&format!("\n## {}\n\n{}", o.name, o.markdown));
    }
    std::fs::write(out.join("all.md"), &md)?;
    let json = serde_json::json!({
        "commit": commit(),
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

/// Reads back what [`write`] wrote for `name`; None if that benchmark has no results in `out`.
pub fn read(out: &Path, name: &'static str) -> anyhow::Result<Option<Outcome>> {
    let json_path = out.join(format!("{name}.json"));
    if !json_path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&json_path).with_context(|| format!("read {json_path:?}"))?;
    let mut json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parse {json_path:?}"))?;
    let goals: Vec<Goal> = serde_json::from_value(json["goals"].take())
        .with_context(|| format!("{json_path:?}: goals"))?;
    let md_path = out.join(format!("{name}.md"));
    let md = std::fs::read_to_string(&md_path).with_context(|| format!("read {md_path:?}"))?;
    // `write` appended the goals table after a blank line: the outcome's Markdown is before it.
    let table = format!("\n{}", goals_table(&goals));
    let markdown = match md.strip_suffix(&table) {
        Some(before) if !goals.is_empty() => before.to_owned(),
        _ => md,
    };
    Ok(Some(Outcome {
        name,
        markdown,
        json: json["result"].take(),
        goals,
    }))
}

/// Rebuilds `<out>/all.{json,md}` from the latest `<out>/<name>.{json,md}` of every benchmark
/// (for instance after rerunning one benchmark alone).
pub fn collect(out: &Path) -> anyhow::Result<()> {
    let mut outcomes = Vec::new();
    let mut runs = Vec::new();
    for name in NAMES {
        match read(out, name)? {
            Some(o) => {
                runs.push(format!("{name} {}", when_run(out, name)));
                outcomes.push(o);
            }
            None => eprintln!("collect: no results for {name} in {out:?}"),
        }
    }
    write_all(out, &outcomes, &[])?;
    // Say that the tables come from separate runs.
    let path = out.join("all.md");
    let md = std::fs::read_to_string(&path)?;
    let title = "# Portunus benchmark suite\n\n";
    let note = format!(
        "Collected (`portunus-bench collect`) from each benchmark's latest run, UTC: {}.\n\n",
        runs.join(", ")
    );
    let md = match md.strip_prefix(title) {
        Some(rest) => {
            // The collecting run's own "Measured on" line does not apply: each table has its.
            let rest = match rest.strip_prefix("Measured on commit") {
                Some(r) => r.split_once("\n\n").map_or(r, |x| x.1),
                None => rest,
            };
            format!("{title}{note}{rest}")
        }
        None => md,
    };
    std::fs::write(&path, md)?;
    Ok(())
}

/// `YYYY-MM-DD HH:MM` (UTC) of the last commit that changed `path` (results written before
/// they recorded their own time): a checkout's file times say when it was checked out.
fn committed_at(path: &Path) -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["log", "-1", "--format=%ct", "--"])
        .arg(path)
        .output()
        .ok()?;
    let secs: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(utc(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
    ))
}

/// The commit the benchmarks run on (`git rev-parse --short HEAD`, `-dirty` when tracked files
/// outside `bench/results` differ from it: results a run writes do not make the next one
/// dirty), or None outside a git checkout.
fn commit() -> Option<String> {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "--short", "HEAD"])?;
    let status = [
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        ".",
        ":!bench/results",
    ];
    let dirty = git(&status).is_some_and(|s| !s.is_empty());
    Some(if dirty { format!("{head}-dirty") } else { head })
}

/// When (and on which commit) `<out>/<name>.json` was measured: as it says, else the file's
/// time (results written before the run time was recorded; a checkout resets it).
fn when_run(out: &Path, name: &str) -> String {
    let path = out.join(format!("{name}.json"));
    let json: Option<serde_json::Value> = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let recorded = json.as_ref().and_then(|j| {
        (j["ran_at"].as_str())
            .or(j["measured_at"].as_str())
            .map(str::to_string)
    });
    let when = recorded.or_else(|| committed_at(&path)).unwrap_or_else(|| {
        std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map(utc)
            .unwrap_or_else(|_| "?".into())
    });
    match json.as_ref().and_then(|j| j["commit"].as_str()) {
        Some(c) => format!("{when} (commit {c})"),
        None => when,
    }
}

/// `YYYY-MM-DD HH:MM` (UTC) of a time.
fn utc(t: std::time::SystemTime) -> String {
    let ms = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    // `YYYY-MM-DDTHH:MM:SSZ` from the API's formatter, cut to the minute.
    let full = portunus_ops::client::utc_text(ms);
    format!("{} {}", &full[..10], &full[11..16])
}
