//! The `portunus` binary: parse the command line, set up logging, run.

use clap::Parser;
use portunus_node::cli::{self, Cli, Commands};
use portunus_node::NodeConfig;
use tracing_subscriber::EnvFilter;

fn init_logging(filter: &str, json: bool) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Up(args) => match NodeConfig::resolve(*args) {
            Ok(config) => {
                init_logging(&config.log_filter, config.log_json);
                cli::up(config).await
            }
            Err(e) => Err(e.into()),
        },
        Commands::Cluster(args) => {
            init_logging("warn", false);
            cli::cluster(args).await
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portunus: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
