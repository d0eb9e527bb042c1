//! What the store reports: connected or not, latency, errors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// A snapshot of a store's state and counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoreHealth {
    /// Whether a connection is established now.
    pub connected: bool,
    /// Commands answered.
    pub commands: u64,
    /// Commands that failed (not connected, timed out, refused) and connection
    /// attempts that failed.
    pub errors: u64,
    /// The sum of the answered commands' round trips (with `commands`, the mean).
    pub latency_total: Duration,
    /// The last answered command's round trip.
    pub last_latency: Duration,
    /// Connections established (the first one included).
    pub connections: u64,
}

pub(crate) struct Counters {
    commands: AtomicU64,
    errors: AtomicU64,
    latency_total_us: AtomicU64,
    last_latency_us: AtomicU64,
    connections: AtomicU64,
    connected: watch::Sender<bool>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            commands: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency_total_us: AtomicU64::new(0),
            last_latency_us: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            connected: watch::Sender::new(false),
        }
    }
}

impl Counters {
    pub(crate) fn success(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.commands.fetch_add(1, Ordering::Relaxed);
        self.latency_total_us.fetch_add(micros, Ordering::Relaxed);
        self.last_latency_us.store(micros, Ordering::Relaxed);
    }

    pub(crate) fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn reconnected(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn set_connected(&self, connected: bool) {
        self.connected.send_replace(connected);
    }

    pub(crate) fn subscribe_connected(&self) -> watch::Receiver<bool> {
        self.connected.subscribe()
    }

    pub(crate) fn snapshot(&self, connected: bool) -> StoreHealth {
        StoreHealth {
            connected,
            commands: self.commands.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency_total: Duration::from_micros(self.latency_total_us.load(Ordering::Relaxed)),
            last_latency: Duration::from_micros(self.last_latency_us.load(Ordering::Relaxed)),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }
}
