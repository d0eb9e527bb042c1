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
        /// How often the configuration file is compared with what was loaded, in
        /// seconds; a change reloads it (as SIGHUP does). 0: on SIGHUP only.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        watch_config: u64,
    },
    /// Validates a configuration file and exits: 0 if it would start, 2 if not. Reads
    /// key files and client secrets as `run` does; contacts no issuer.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Reads a token from standard input and says why the gateway would refuse it (or
    /// that it would accept it): every rule of the issuer its `iss` names, in order,
    /// in plain words. Contacts nothing unless --fetch. Never prints the signature.
    /// Exits 0 if no rule refuses the token (on that route), 1 if one does, 2 for a
    /// configuration or input error.
    Explain {
        /// The configuration file.
        #[arg(long, short)]
        config: PathBuf,
        /// Also check the requirement of the route a METHOD request for PATH takes.
        #[arg(long, num_args = 2, value_names = ["METHOD", "PATH"])]
        route: Option<Vec<String>>,
        /// With --route: the request's host, for routes that name one.
        #[arg(long, requires = "route")]
        host: Option<String>,
        /// Print the token's payload (decoded; unverified unless accepted).
        #[arg(long)]
        show_claims: bool,
        /// Fetch the issuer's key set (discovery or jwks_uri) to check the signature.
        #[arg(long)]
        fetch: bool,
        /// Judge the token at this time (Unix seconds) instead of now: a testing aid.
        #[arg(long, value_name = "UNIX_SECONDS")]
        now: Option<u64>,
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

/// Logging as [`init_logging`] sets it up, and the gateway's spans exported to the
/// collector of `[tracing.otlp]` (with their own filter, whatever `RUST_LOG` says).
/// Without that table, plain logging and no exporter.
#[cfg(feature = "otlp")]
fn init_logging_and_export(
    format: LogFormat,
    config: &Config,
) -> Option<portcullis_gateway::otlp::OtlpExporter> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let Some((otlp, exporter)) = portcullis_gateway::otlp::pipeline(config) else {
        init_logging(format, "info");
        return None;
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let logs: Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync> =
        match format {
            LogFormat::Text => Box::new(logs),
            LogFormat::Json => Box::new(logs.json()),
        };
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(otlp.with_default_filter())
        .init();
    Some(exporter)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Run {
        config,
        ready_file,
        watch_config,
    } = &cli.command
    {
        // Logging starts once the file is read: it may ask for an exporter.
        return run(cli.log_format, config, ready_file.as_deref(), *watch_config);
    }
    init_logging(cli.log_format, "info");
    match cli.command {
        Command::CheckConfig { file } => check_config(&file),
        // Handled above, before logging starts.
        Command::Run { .. } => ExitCode::FAILURE,
        Command::Explain {
            config,
            route,
            host,
            show_claims,
            fetch,
            now,
        } => explain(&config, route.as_deref(), host, show_claims, fetch, now),
    }
}

/// The longest standard input `explain` reads: far over any token size limit, so an
/// over-long token is reported as such rather than cut.
const MAX_EXPLAIN_INPUT: u64 = 1024 * 1024;

fn explain(
    file: &Path,
    route: Option<&[String]>,
    host: Option<String>,
    show_claims: bool,
    fetch: bool,
    now: Option<u64>,
) -> ExitCode {
    use portcullis_gateway::explain::{ExplainOptions, explain};
    use std::io::Read as _;

    let fail = |message: &str| {
        let _ = writeln!(std::io::stderr(), "error: {message}");
        ExitCode::from(2)
    };
    let config = match Config::from_file(file) {
        Ok(config) => config,
        Err(error) => return fail(&error.to_string()),
    };
    let mut options = ExplainOptions::new().show_claims(show_claims).fetch(fetch);
    if let Some(host) = host {
        options = options.host(host);
    }
    if let Some(now) = now {
        options = options.now(std::time::UNIX_EPOCH + std::time::Duration::from_secs(now));
    }
    if let Some([method, path]) = route {
        match http::Method::from_bytes(method.as_bytes()) {
            Ok(method) => options = options.route(method, path.clone()),
            Err(_) => return fail(&format!("--route: {method:?} is not an HTTP method")),
        }
    }
    let mut input = Vec::new();
    if let Err(error) = std::io::stdin()
        .take(MAX_EXPLAIN_INPUT)
        .read_to_end(&mut input)
    {
        return fail(&format!("standard input: {error}"));
    }
    let Ok(token) = String::from_utf8(input) else {
        return fail("standard input is not UTF-8 text");
    };
    if token.trim().is_empty() {
        return fail("no token on standard input");
    }
    let Some(rt) = runtime() else {
        return ExitCode::from(2);
    };
    match rt.block_on(explain(&config, &token, &options)) {
        Ok(report) => {
            let mut stdout = std::io::stdout().lock();
            let _ = write!(stdout, "{report}");
            let _ = stdout.flush();
            if report.accepted() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => fail(&error.to_string()),
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
                "{}: ok ({} listeners, {} decision listeners, {} issuers, {} routes)",
                file.display(),
                config.listen_addrs().len(),
                config.decision_addrs().len(),
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

fn run(format: LogFormat, file: &Path, ready_file: Option<&Path>, watch_config: u64) -> ExitCode {
    // What the running configuration was read from, to tell when the file changes.
    let loaded = std::fs::read(file).unwrap_or_default();
    let config = match Config::from_file(file) {
        Ok(config) => config,
        Err(error) => {
            init_logging(format, "info");
            let _ = writeln!(std::io::stderr(), "error: {error}");
            return ExitCode::from(2);
        }
    };
    #[cfg(feature = "otlp")]
    let exporter = init_logging_and_export(format, &config);
    #[cfg(not(feature = "otlp"))]
    init_logging(format, "info");
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    let result = rt.block_on(async move {
        #[cfg(feature = "otlp")]
        let flush = exporter.map(|exporter| {
            let flush = exporter.flusher();
            tokio::spawn(exporter.run());
            flush
        });
        tracing::info!(config = config.source(), "starting");
        let shutdown = shutdown_signal()
            .map_err(|e| portcullis_gateway::StartError::from(format!("signal handlers: {e}")))?;
        let hangup = hangup_signal()
            .map_err(|e| portcullis_gateway::StartError::from(format!("signal handlers: {e}")))?;
        let mut gateway = Gateway::bind(config).await?;
        gateway.on_event(|reported| event(&reported.to_json()));
        let reloader = gateway.reloader();
        let path = file.to_owned();
        let on_hangup = reloader.clone();
        tokio::spawn(hangup.for_each(move || {
            let (reloader, path) = (on_hangup.clone(), path.clone());
            // Reading files blocks; keep it off the runtime's workers.
            drop(tokio::task::spawn_blocking(move || {
                let _ = reloader.reload_file(&path);
            }));
        }));
        if watch_config > 0 {
            tokio::spawn(watch_config_file(
                reloader,
                file.to_owned(),
                loaded,
                std::time::Duration::from_secs(watch_config),
            ));
        }
        let listening = serde_json::json!({
            "event": "listening",
            "listeners": gateway.local_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "tls": gateway.tls_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "operations": gateway.operations_addr().map(|a| a.to_string()),
            "decision": gateway.decision_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
            "decision_grpc": gateway.decision_grpc_addrs().iter().map(ToString::to_string).collect::<Vec<_>>(),
        })
        .to_string();
        if let Some(path) = ready_file {
            std::fs::write(path, format!("{listening}\n")).map_err(|e| {
                portcullis_gateway::StartError::from(format!("{}: {e}", path.display()))
            })?;
        }
        event(&listening);
        let served = gateway
            .serve(async {
                shutdown.await;
                event(r#"{"event":"draining"}"#);
            })
            .await;
        #[cfg(feature = "otlp")]
        if let Some(flush) = flush {
            flush.flush().await;
        }
        served
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

/// Reloads the configuration whenever the file's bytes differ from those last loaded
/// (a changed file that is refused is not retried until it changes again).
async fn watch_config_file(
    reloader: portcullis_gateway::Reloader,
    path: PathBuf,
    mut loaded: Vec<u8>,
    interval: std::time::Duration,
) {
    loop {
        tokio::time::sleep(interval).await;
        let (reader, read_path) = (reloader.clone(), path.clone());
        let Ok(Some(current)) = tokio::task::spawn_blocking(move || {
            let current = std::fs::read(&read_path).ok()?;
            Some(current)
        })
        .await
        else {
            continue;
        };
        if current == loaded {
            continue;
        }
        loaded = current;
        let reload_path = path.clone();
        let _ = tokio::task::spawn_blocking(move || reader.reload_file(&reload_path)).await;
    }
}

/// SIGHUP, registered before anything is announced (its default action ends the
/// process): each one reloads the files the gateway reads.
struct Hangup {
    #[cfg(unix)]
    signal: tokio::signal::unix::Signal,
}

fn hangup_signal() -> std::io::Result<Hangup> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Hangup {
            signal: signal(SignalKind::hangup())?,
        })
    }
    #[cfg(not(unix))]
    {
        Ok(Hangup {})
    }
}

impl Hangup {
    /// Calls `on_signal` for every SIGHUP (never, where there are none).
    async fn for_each(self, on_signal: impl Fn()) {
        #[cfg(unix)]
        {
            let mut signal = self.signal;
            while signal.recv().await.is_some() {
                on_signal();
            }
        }
        #[cfg(not(unix))]
        {
            let _ = on_signal;
            std::future::pending::<()>().await;
        }
    }
}
