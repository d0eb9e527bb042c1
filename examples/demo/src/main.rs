//! The Portcullis demo: starts a local issuer (discovery, JWKS, introspection), an echo
//! upstream and the gateway on loopback, tours them, then stays up printing `curl`
//! commands (`--once` exits after the tour).
//!
//! ```sh
//! cargo run -p portcullis-demo            # Ctrl-C stops it
//! cargo run -p portcullis-demo -- --once
//! ```

use std::process::ExitCode;

mod tour;

fn main() -> ExitCode {
    let once = match std::env::args().skip(1).collect::<Vec<_>>().as_slice() {
        [] => false,
        [flag] if flag == "--once" => true,
        _ => {
            eprintln!("usage: portcullis-demo [--once]");
            return ExitCode::from(2);
        }
    };
    // The tour is the output; only warnings and errors are logged beside it.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(tour::run(once)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error}");
            ExitCode::FAILURE
        }
    }
}
