//! W3C Trace Context through the gateway: `traceparent` and `tracestate` reach the
//! upstream as sent; with `[tracing]`, a request without a valid `traceparent` gets a
//! new trace.

#![allow(clippy::unwrap_used)] // Test setup panics on purpose.

mod common;

use common::{Http, InProcess};
use portcullis_testkit::EchoUpstream;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const ROUTE: &str = "[[routes]]\npath = \"/open\"\nrequire = \"anonymous\"\n";

/// The headers the upstream received for `GET /open` with `headers`.
async fn received(gateway: &InProcess, headers: &[(&str, &str)]) -> serde_json::Value {
    let answer = Http::http1()
        .get(&gateway.url("/open"), None, headers)
        .await;
    assert_eq!(answer.status, 200);
    answer.json()["headers"].clone()
}

fn is_traceparent(value: &serde_json::Value, flags: &str) -> bool {
    let Some(text) = value.as_str() else {
        return false;
    };
    let parts: Vec<&str> = text.split('-').collect();
    parts.len() == 4
        && parts[0] == "00"
        && parts[1].len() == 32
        && parts[2].len() == 16
        && parts[3] == flags
        && text
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn trace_context_passes_through() {
    let upstream = EchoUpstream::start().await;
    let gateway = InProcess::start(upstream.addr(), "", ROUTE).await;
    let headers = received(
        &gateway,
        &[("traceparent", PARENT), ("tracestate", "congo=t61rcWkgMzE")],
    )
    .await;
    assert_eq!(headers["traceparent"], PARENT);
    assert_eq!(headers["tracestate"], "congo=t61rcWkgMzE");
    // Without `[tracing]` the gateway starts nothing.
    let headers = received(&gateway, &[]).await;
    assert!(headers.get("traceparent").is_none());
    gateway.stop().await;
}

#[tokio::test]
async fn with_tracing_a_request_without_a_trace_gets_one() {
    let upstream = EchoUpstream::start().await;
    let rest = format!("[tracing]\nsampled = false\n{ROUTE}");
    let gateway = InProcess::start(upstream.addr(), "", &rest).await;
    let headers = received(&gateway, &[]).await;
    assert!(is_traceparent(&headers["traceparent"], "00"), "{headers}");
    let first = headers["traceparent"].clone();
    let headers = received(&gateway, &[]).await;
    assert_ne!(headers["traceparent"], first, "a new trace each time");
    // A valid one is kept; an invalid one is replaced and its state dropped.
    let headers = received(&gateway, &[("traceparent", PARENT)]).await;
    assert_eq!(headers["traceparent"], PARENT);
    let headers = received(
        &gateway,
        &[("traceparent", "00-nonsense"), ("tracestate", "a=b")],
    )
    .await;
    assert!(is_traceparent(&headers["traceparent"], "00"), "{headers}");
    assert!(headers.get("tracestate").is_none());
    gateway.stop().await;
}
