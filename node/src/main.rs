//! The `portunus` binary: parse the command line, set up logging, run.

use clap::Parser;
use portunus_node::cli::{self, Cli, Commands};
use portunus_node::NodeConfig;
use tracing_subscriber::EnvFilter;

/// Install the global subscriber; the returned closure changes the filter while running.
fn init_logging(filter: &str, json: bool) -> cli::LogReload {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    let layer = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry.with(layer.json()).init();
    } else {
        registry.with(layer).init();
    }
    Box::new(move |text: &str| {
        let f =
            EnvFilter::try_new(text).map_err(|e| format!("invalid log filter '{text}': {e}"))?;
        handle.reload(f).map_err(|e| e.to_string())
    })
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Started by OpenSSH as the askpass of a client `portunus sso` launched: answer its prompt
    // (OpenSSH's prompts are phrases; a subcommand is one word).
    if let Some(token) = std::env::var_os(cli::sso::ASKPASS_ENV) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let [prompt] = args.as_slice() {
            if prompt.contains(' ') {
                return match cli::sso::askpass(&token.to_string_lossy(), prompt) {
                    Ok(()) => std::process::ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("portunus: {e:#}");
                        std::process::ExitCode::FAILURE
                    }
                };
            }
        }
    }
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let result = match cli.command {
        Commands::Up(args) => {
            // Everything the node writes (the replicated store, recordings, audit files,
            // generated secrets) is for its own user alone, whatever umask it was started with.
            rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
            match NodeConfig::resolve(*args) {
                Ok(config) => {
                    let reload = init_logging(&config.log_filter, config.log_json);
                    cli::up(config, reload).await
                }
                Err(e) => Err(e.into()),
            }
        }
        Commands::Cluster(args) => {
            let _ = init_logging("warn", false);
            cli::cluster(args).await
        }
        Commands::Admin(args) => {
            let _ = init_logging("warn", false);
            cli::admin::run(*args).await
        }
        Commands::Sso(args) => cli::sso::run(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("portunus: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
