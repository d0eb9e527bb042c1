//! Prometheus text exposition, without a metrics library: the label sets are known at
//! start-up (routes × reasons), so every counter is a pre-allocated atomic and the hot
//! path takes no lock and allocates nothing.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::auth::IssuerCounters;

// `Reason::ALL` lists the reasons in declaration order, so `reason as usize` is its
// index (checked at compile time).
const _: () = {
    let mut i = 0;
    while i < Reason::ALL.len() {
        assert!(Reason::ALL[i] as usize == i);
        i += 1;
    }
};

/// Why a request was allowed or denied: the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// Allowed: the token satisfied the route.
    Authorized,
    /// Allowed: an anonymous route.
    Anonymous,
    NoRoute,
    BadPath,
    InvalidRequest,
    MissingToken,
    InvalidToken,
    /// A DPoP proof missing, invalid or replayed.
    InvalidDpopProof,
    /// A DPoP proof without the gateway's current nonce (the client retries with it).
    DpopNonceRequired,
    InsufficientScope,
    /// The token lacks a role the route requires (`roles_all`, `roles_any`).
    InsufficientRole,
    /// The user's authentication is weaker or older than the route's step-up
    /// requirement (`acr_values`, `max_age`; RFC 9470).
    InsufficientUserAuthentication,
    ClaimMismatch,
    IssuerUnavailable,
    BodyTooLarge,
    UpstreamError,
    UpstreamTimeout,
    /// An HTTP/2 extended CONNECT for a protocol the route does not allow.
    UpgradeNotAllowed,
    /// A CORS preflight the route's policy answered (before authentication, as
    /// browsers send it without credentials): neither forwarded nor refused.
    CorsPreflight,
}

impl Reason {
    const ALL: [Reason; 19] = [
        Reason::Authorized,
        Reason::Anonymous,
        Reason::NoRoute,
        Reason::BadPath,
        Reason::InvalidRequest,
        Reason::MissingToken,
        Reason::InvalidToken,
        Reason::InvalidDpopProof,
        Reason::DpopNonceRequired,
        Reason::InsufficientScope,
        Reason::InsufficientRole,
        Reason::InsufficientUserAuthentication,
        Reason::ClaimMismatch,
        Reason::IssuerUnavailable,
        Reason::BodyTooLarge,
        Reason::UpstreamError,
        Reason::UpstreamTimeout,
        Reason::UpgradeNotAllowed,
        Reason::CorsPreflight,
    ];
    const COUNT: usize = Reason::ALL.len();

    pub(crate) const fn label(self) -> &'static str {
        match self {
            Reason::Authorized => "authorized",
            Reason::Anonymous => "anonymous",
            Reason::NoRoute => "no_route",
            Reason::BadPath => "bad_path",
            Reason::InvalidRequest => "invalid_request",
            Reason::MissingToken => "missing_token",
            Reason::InvalidToken => "invalid_token",
            Reason::InvalidDpopProof => "invalid_dpop_proof",
            Reason::DpopNonceRequired => "use_dpop_nonce",
            Reason::InsufficientScope => "insufficient_scope",
            Reason::InsufficientRole => "insufficient_role",
            Reason::InsufficientUserAuthentication => "insufficient_user_authentication",
            Reason::ClaimMismatch => "claim_mismatch",
            Reason::IssuerUnavailable => "issuer_unavailable",
            Reason::BodyTooLarge => "body_too_large",
            Reason::UpstreamError => "upstream_error",
            Reason::UpstreamTimeout => "upstream_timeout",
            Reason::UpgradeNotAllowed => "upgrade_not_allowed",
            Reason::CorsPreflight => "cors_preflight",
        }
    }

    /// The `decision` label: whether the gateway let the request through to the
    /// upstream (upstream failures happen after an `allow`), refused it, or answered a
    /// CORS preflight itself (`preflight`: browsers send one before many requests, and
    /// counting them as refusals would hide the real ones).
    pub(crate) const fn decision(self) -> &'static str {
        match self {
            Reason::CorsPreflight => "preflight",
            Reason::Authorized
            | Reason::Anonymous
            | Reason::UpstreamError
            | Reason::UpstreamTimeout
            | Reason::BodyTooLarge => "allow",
            _ => "deny",
        }
    }
}

const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Debug)]
struct RouteCounters {
    by_reason: [AtomicU64; Reason::COUNT],
    /// Cumulative counts are computed at render time; each bucket here counts only its
    /// own interval, plus one overflow bucket.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl RouteCounters {
    fn new() -> RouteCounters {
        RouteCounters {
            by_reason: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_nanos: AtomicU64::new(0),
        }
    }
}

/// Every metric the gateway exposes.
#[derive(Debug)]
pub(crate) struct Metrics {
    route_names: Vec<String>,
    /// One per route, then one for "no route".
    routes: Vec<RouteCounters>,
}

impl Metrics {
    pub(crate) fn new(route_names: Vec<String>) -> Metrics {
        let routes = (0..=route_names.len())
            .map(|_| RouteCounters::new())
            .collect();
        Metrics {
            route_names,
            routes,
        }
    }

    /// The routes counted, in order.
    pub(crate) fn route_names(&self) -> &[String] {
        &self.route_names
    }

    /// Records one request; `route` is `None` when no route matched.
    pub(crate) fn record(&self, route: Option<usize>, reason: Reason, elapsed: Duration) {
        let counters = &self.routes[route.unwrap_or(self.route_names.len())];
        let index = reason as usize;
        counters.by_reason[index].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        counters.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        counters.sum_nanos.fetch_add(
            u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn route_label(&self, index: usize) -> &str {
        self.route_names.get(index).map_or("", String::as_str)
    }

    /// The Prometheus text format (version 0.0.4).
    pub(crate) fn render(&self, ready: bool, issuers: &[IssuerCounters]) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP portcullis_gateway_requests_total Requests by route, decision and reason.\n\
             # TYPE portcullis_gateway_requests_total counter\n",
        );
        for (index, counters) in self.routes.iter().enumerate() {
            let route = escape(self.route_label(index));
            for (reason, count) in Reason::ALL.iter().zip(&counters.by_reason) {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "portcullis_gateway_requests_total{{route=\"{route}\",decision=\"{}\",reason=\"{}\"}} {count}",
                        reason.decision(),
                        reason.label()
                    );
                }
            }
        }
        out.push_str(
            "# HELP portcullis_gateway_request_duration_seconds Time from request to response headers.\n\
             # TYPE portcullis_gateway_request_duration_seconds histogram\n",
        );
        for (index, counters) in self.routes.iter().enumerate() {
            let total: u64 = counters
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .sum();
            if total == 0 {
                continue;
            }
            let route = escape(self.route_label(index));
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&counters.buckets) {
                cumulative += count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "portcullis_gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ = writeln!(
                out,
                "portcullis_gateway_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            #[allow(clippy::cast_precision_loss)] // Seconds as f64 are what Prometheus wants.
            let sum = counters.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "portcullis_gateway_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "portcullis_gateway_request_duration_seconds_count{{route=\"{route}\"}} {total}"
            );
        }
        let issuer_metrics: [(&str, &str, &str, StatField); 13] = [
            (
                "introspections_total",
                "counter",
                "Introspection requests sent.",
                |c| c.introspections,
            ),
            (
                "introspection_failures_total",
                "counter",
                "Introspection requests with no usable answer.",
                |c| c.introspection_failures,
            ),
            (
                "introspection_cache_hits_total",
                "counter",
                "Introspection results served from the cache.",
                |c| c.introspection_cache_hits,
            ),
            (
                "introspection_cache_misses_total",
                "counter",
                "Introspection cache lookups that found nothing.",
                |c| c.introspection_cache_misses,
            ),
            (
                "introspection_cache_expired_total",
                "counter",
                "Introspection cache lookups that found an expired entry (asked again).",
                |c| c.introspection_cache_expired,
            ),
            (
                "jwks_fetches_total",
                "counter",
                "Key set fetches started (discovery included).",
                |c| c.fetches,
            ),
            (
                "jwks_fetch_failures_total",
                "counter",
                "Key set fetches that failed.",
                |c| c.fetch_failures,
            ),
            (
                "jwks_unknown_kid_refetches_total",
                "counter",
                "Key set fetches caused by a token with an unknown kid.",
                |c| c.unknown_kid_refetches,
            ),
            (
                "jwks_negative_cache_hits_total",
                "counter",
                "Tokens refused at once: their kid was unknown after the last fetch.",
                |c| c.negative_cache_hits,
            ),
            (
                "token_cache_hits_total",
                "counter",
                "JWTs answered from the verified-token cache, without verifying again.",
                |c| c.token_cache_hits,
            ),
            (
                "token_cache_misses_total",
                "counter",
                "Verified-token cache lookups that found nothing.",
                |c| c.token_cache_misses,
            ),
            (
                "token_cache_expired_total",
                "counter",
                "Verified-token cache lookups that found an expired entry (verified again).",
                |c| c.token_cache_expired,
            ),
            (
                "jwks_keys",
                "gauge",
                "Usable keys in the current set.",
                |c| c.keys,
            ),
        ];
        for (name, kind, help, field) in issuer_metrics {
            let _ = writeln!(out, "# HELP portcullis_gateway_{name} {help}");
            let _ = writeln!(out, "# TYPE portcullis_gateway_{name} {kind}");
            for counters in issuers {
                let _ = writeln!(
                    out,
                    "portcullis_gateway_{name}{{issuer=\"{}\"}} {}",
                    escape(&counters.issuer),
                    field(counters)
                );
            }
        }
        out.push_str(
            "# HELP portcullis_gateway_ready Whether every issuer's keys are loaded.\n\
             # TYPE portcullis_gateway_ready gauge\n",
        );
        let _ = writeln!(out, "portcullis_gateway_ready {}", u8::from(ready));
        out
    }
}

/// Reads one counter of an [`IssuerCounters`].
type StatField = fn(&IssuerCounters) -> u64;

pub(crate) fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let metrics = Metrics::new(vec!["read".into()]);
        metrics.record(Some(0), Reason::Authorized, Duration::from_micros(700));
        metrics.record(Some(0), Reason::InsufficientScope, Duration::from_millis(3));
        metrics.record(None, Reason::NoRoute, Duration::from_micros(10));
        let text = metrics.render(true, &[]);
        assert!(text.contains(
            "portcullis_gateway_requests_total{route=\"read\",decision=\"allow\",reason=\"authorized\"} 1"
        ));
        assert!(text.contains(
            "portcullis_gateway_requests_total{route=\"\",decision=\"deny\",reason=\"no_route\"} 1"
        ));
        assert!(text.contains(
            "portcullis_gateway_request_duration_seconds_bucket{route=\"read\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "portcullis_gateway_request_duration_seconds_bucket{route=\"read\",le=\"0.005\"} 2"
        ));
        assert!(
            text.contains("portcullis_gateway_request_duration_seconds_count{route=\"read\"} 2")
        );
    }
}
