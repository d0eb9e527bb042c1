//! TLS with rustls: termination on `[[server.tls]]` listeners (certificates by SNI,
//! ALPN `h2` and `http/1.1`, TLS 1.2 or later, optional client certificates), and the
//! configuration for `https://` upstreams.
//!
//! Certificate and key files are read at start, by `check-config`, and again whenever
//! they change (polled every `watch_interval`, and on SIGHUP): new handshakes get the
//! new files, established connections keep theirs. Files that do not load leave the
//! previous ones serving.

mod pem_files;
mod sni;
mod terminator;
mod upstream;

pub(crate) use terminator::{
    PreparedTls, TlsTerminator, server_config, verified_client_certificate,
};
pub(crate) use upstream::client_config;

/// In a request's extensions when it arrived over a TLS connection the gateway
/// terminated (`X-Forwarded-Proto: https` upstream).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Terminated;
