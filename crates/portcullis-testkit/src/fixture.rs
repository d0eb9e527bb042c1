//! The names and times tests agree on, so a token minted in one helper passes the
//! validation built in another.

use std::time::{SystemTime, UNIX_EPOCH};

/// An issuer identifier for tests that verify against static keys (a [`TestIssuer`]
/// has its own loopback URL instead).
///
/// [`TestIssuer`]: crate::TestIssuer
pub const ISSUER: &str = "https://issuer.test";

/// The audience of the resource server under test.
pub const AUDIENCE: &str = "https://api.test";

/// A fixed "now" (Unix seconds, November 2023) for tests on a manual clock.
pub const NOW: u64 = 1_700_000_000;

/// The system clock's time in Unix seconds, for tests against a real server's clock.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A TCP port on 127.0.0.1 that was free a moment ago, for a server that must be told
/// its port in a configuration file (nginx, Caddy) rather than bind port 0 and say
/// which it got.
///
/// # Panics
/// When no loopback port can be bound at all.
pub fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port on 127.0.0.1")
}
