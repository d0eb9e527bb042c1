//! What the gateway reports while it runs, beside its logs: one machine-readable event
//! per reload, for the binary to print as a JSON line and for tests to wait on.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Something that happened while serving.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GatewayEvent {
    /// A TLS listener's certificate files changed and now serve new handshakes.
    CertificatesReloaded {
        /// The listener's addresses.
        listeners: Vec<SocketAddr>,
    },
    /// A TLS listener's files changed but do not load; the previous ones keep serving.
    CertificatesRefused {
        /// The listener's addresses.
        listeners: Vec<SocketAddr>,
        /// Why, with the key path of the file (never its contents).
        error: String,
    },
    /// A new configuration checked and now serves new requests.
    ConfigReloaded {
        /// Where it came from (the file).
        source: String,
    },
    /// A new configuration was refused; the running one keeps serving.
    ConfigRefused {
        /// Why, with the file and key path, as `check-config` says it.
        error: String,
    },
}

impl GatewayEvent {
    /// The event as one line of JSON: `{"event":"certificates_reloaded",...}`.
    pub fn to_json(&self) -> String {
        let addrs = |listeners: &[SocketAddr]| {
            listeners
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        };
        match self {
            GatewayEvent::CertificatesReloaded { listeners } => serde_json::json!({
                "event": "certificates_reloaded",
                "listeners": addrs(listeners),
            }),
            GatewayEvent::CertificatesRefused { listeners, error } => serde_json::json!({
                "event": "certificates_refused",
                "listeners": addrs(listeners),
                "error": error,
            }),
            GatewayEvent::ConfigReloaded { source } => serde_json::json!({
                "event": "config_reloaded",
                "config": source,
            }),
            GatewayEvent::ConfigRefused { error } => serde_json::json!({
                "event": "config_refused",
                "error": error,
            }),
        }
        .to_string()
    }

    /// Logs the event (errors at `error`, the rest at `info`).
    pub(crate) fn log(&self) {
        match self {
            GatewayEvent::CertificatesReloaded { listeners } => {
                tracing::info!(?listeners, "TLS certificates reloaded");
            }
            GatewayEvent::CertificatesRefused { listeners, error } => {
                tracing::error!(?listeners, %error, "TLS certificates not reloaded; the previous ones keep serving");
            }
            GatewayEvent::ConfigReloaded { source } => {
                tracing::info!(config = %source, "configuration reloaded");
            }
            GatewayEvent::ConfigRefused { error } => {
                tracing::error!(%error, "configuration not reloaded; the running one keeps serving");
            }
        }
    }
}

/// Where events go: logged always, then handed to the embedder's callback.
#[derive(Clone, Default)]
pub(crate) struct EventSink(Option<Arc<Callback>>);

/// The embedder's event callback.
type Callback = dyn Fn(&GatewayEvent) + Send + Sync;

impl EventSink {
    pub(crate) fn new(callback: impl Fn(&GatewayEvent) + Send + Sync + 'static) -> EventSink {
        EventSink(Some(Arc::new(callback)))
    }

    pub(crate) fn emit(&self, event: &GatewayEvent) {
        event.log();
        if let Some(callback) = &self.0 {
            callback(event);
        }
    }
}

impl fmt::Debug for EventSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventSink")
            .field("callback", &self.0.is_some())
            .finish()
    }
}
