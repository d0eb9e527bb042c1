//! `portcullis-gateway`: Portcullis as a standalone reverse proxy.
//!
//! One binary and one TOML file put OAuth 2.0 bearer-token checks in front of any HTTP
//! or gRPC upstream: routes matched by method and path, each with a requirement
//! (anonymous, authenticated, scopes, claims); verified claims forwarded as headers;
//! RFC 6750 answers (and gRPC statuses) for everything refused. The commands, the
//! configuration file field by field, the answers, metrics and deployment caveats are in
//! the [gateway guide](guide::gateway).
//!
//! The library target exists so the binary stays thin and tests and the demo
//! (`cargo run -p portcullis-demo`) can run a gateway in-process: [`Config`] parses and
//! validates, [`Gateway`] binds and serves.

use bytes::Bytes;

mod access_log;
mod auth;
mod auth_rules;
mod config;
mod decision;
mod events;
pub mod explain;
pub mod guide;
mod host_router;
mod ip_network;
mod metrics;
#[cfg(feature = "otlp")]
pub mod otlp;
mod proxy;
mod reload;
mod respond;
mod router;
mod server;
mod store;
mod tls;

pub use config::{Config, ConfigFileError};

/// Not public API: the path check and the router, reachable for the `router` fuzz
/// target and its seed test (`fuzz/properties/router.rs`). May change in any release.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::router::{PathMatch, Router, Segment, unsafe_path};
}
pub use events::GatewayEvent;
pub use reload::Reloader;
pub use server::{Gateway, StartError};

#[doc(hidden)]
pub mod benching;

/// The boxed error bodies carry.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type the gateway answers with.
pub(crate) type Body = http_body_util::combinators::BoxBody<Bytes, BoxError>;
