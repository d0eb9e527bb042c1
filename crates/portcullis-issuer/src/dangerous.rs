//! Escape hatches that weaken the issuer connection. Each one is logged when used.

use crate::http::HttpClientBuilder;

/// Allows plain `http` URLs to any host, not only loopback addresses. Anyone on the
/// network path can then substitute keys and have forged tokens accepted; use it only
/// inside a trusted network segment (a sidecar, a service mesh with its own mTLS).
/// Building the client logs a warning.
pub fn allow_plain_http(builder: HttpClientBuilder) -> HttpClientBuilder {
    builder.plain_http()
}
