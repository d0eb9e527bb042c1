//! The `demo` subcommand.

/// Runs the demo.
///
/// # Errors
/// Something on loopback could not be started.
pub async fn run(_once: bool) -> Result<(), Box<dyn std::error::Error>> {
    Ok(())
}
