//! The `portcullis-gateway` command.

use std::future::Future;
use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use portcullis_gateway::{Config, Gateway};

/// Portcullis as a standalone process: OAuth 2.0 bearer-token checks in front of any
/// HTTP or gRPC upstream.
#[derive(Debug, Parser)]
#[command(name = "portcullis-gateway", version)]
struct Cli {
    /// Log format on standard error. Filter with RUST_LOG (default: info).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the gateway.
    Run {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Also write the "listening" line (JSON with the bound addresses) to this file
        /// once every listener is bound.
        #[arg(long)]
        ready_file: Option<PathBuf>,
    },
    /// Validates a configuration file and exits: 0 if it would start, 2 if not. Reads
    /// key files and client secrets as `run` does; contacts no issuer.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
}

fn init_logging(format: LogFormat, default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only for a person at a terminal: escape codes in a log file or a
    // collector's pipe are noise (and NO_COLOR says no, https://no-color.org).
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// One machine-readable line on standard output; tests and scripts read these instead
/// of guessing ports or sleeping.
fn event(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format, "info");
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        Command::Run { config, ready_file } => run(&config, ready_file.as_deref()),
    }
}

fn runtime() -> Option<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| tracing::error!(%error, "cannot start the runtime"))
        .ok()
}

fn check_config(file: &Path) -> ExitCode {
    let checked = Config::from_file(file).and_then(|config| {
        config.check_sources()?;
        Ok(config)
    });
    match checked {
        Ok(config) => {
            event(&format!(
                "{}: ok ({} listeners, {} issuers, {} routes)",
                file.display(),
                config.listen_addrs().len(),
                config.issuer_count(),
                config.route_count()
            ));
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(file: &Path, ready_file: Option<&Path>) -> ExitCode {
    let config = match Config::from_file(file) {
        Ok(config) => config,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            return ExitCode::from(2);
        }
    };
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let result = rt.block_on(async move {
        tracing::info!(config = config.source(), "starting");
        let shutdown = shutdown_signal()
            .map_err(|e| portcullis_gateway::StartError::from(format!("signal handlers: {e}")))?;
        let gateway = Gateway::bind(config).await?;
        let listening = serde_json::json!({
            "event": "listening",
            "listeners": gateway.local_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "operations": gateway.operations_addr().map(|a| a.to_string()),
            "decision": gateway.decision_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
        .to_string();
        if let Some(path) = ready_file {
            std::fs::write(path, format!("{listening}\n")).map_err(|e| {
                portcullis_gateway::StartError::from(format!("{}: {e}", path.display()))
            })?;
        }
        event(&listening);
        gateway
            .serve(async {
                shutdown.await;
                event(r#"{"event":"draining"}"#);
            })
            .await
    });
    match result {
        Ok(()) => {
            event(r#"{"event":"stopped"}"#);
            ExitCode::SUCCESS
        }
        // What check-config refuses too: the same exit status.
        Err(portcullis_gateway::StartError::Config(error)) => {
            let _ = writeln!(std::io::stderr(), "error: {error}");
            ExitCode::from(2)
        }
        Err(error) => {
            tracing::error!(%error, "cannot start");
            let _ = writeln!(std::io::stderr(), "error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Registers the SIGTERM and SIGINT handlers now, before anything is announced, so a
/// signal sent right after the "listening" line is never lost to the default action;
/// the returned future completes on the first of them.
fn shutdown_signal() -> std::io::Result<impl Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut terminate = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
