//! `portunus-bench`: runs one benchmark, prints its table and writes JSON + Markdown results.

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "portunus-bench", about = "Portunus benchmark harness")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Plain-TCP forwarding throughput and CPU cost: raw, copy relay, splice relay, HAProxy.
    Forward(portunus_bench::forward::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Forward(args) => runtime.block_on(portunus_bench::forward::main(args)),
    }
}
