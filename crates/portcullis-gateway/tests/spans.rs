//! What the gateway and the library record in spans and events, captured at TRACE with
//! every span's fields at its close: the request span, the key set fetch and discovery
//! spans, the introspection span are there; the tokens and the client secret are not.

#![allow(clippy::unwrap_used)] // Test setup panics on purpose.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{AUDIENCE, Http, InProcess};
use portcullis_testkit::fixture::unix_now;
use portcullis_testkit::{EchoUpstream, TestIssuer};
use tracing_subscriber::fmt::format::FmtSpan;

/// Everything the subscriber writes, kept.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn spans_name_what_happened_and_never_a_token_or_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_span_events(FmtSpan::CLOSE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // The test's runtime is one thread: every task of the gateway records here.
    let _guard = tracing::subscriber::set_default(subscriber);

    let issuer = TestIssuer::start().await;
    let upstream = EchoUpstream::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::introspecting_config(
        &issuer,
        &upstream,
        dir.path(),
        "[log]\naccess = true\n[tracing]",
    );
    let gateway = InProcess::from_config(&config).await;
    let http = Http::http1();
    let jwt = issuer.mint_with(AUDIENCE, unix_now(), |t| t.claim("scope", "read"));
    let opaque = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
    let url = gateway.url("/read");
    assert_eq!(http.get(&url, Some(&jwt), &[]).await.status, 200);
    assert_eq!(http.get(&url, Some(&opaque), &[]).await.status, 200);
    let tampered = format!("{jwt}x");
    assert_eq!(http.get(&url, Some(&tampered), &[]).await.status, 401);
    gateway.stop().await;

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    for span in ["request", "jwks_fetch", "discovery", "introspection"] {
        assert!(
            text.contains(&format!("{span}{{")) || text.contains(&format!("{span}:")),
            "no {span} span in:\n{text}"
        );
    }
    assert!(
        text.contains("decision=\"allow\"") || text.contains("decision=allow"),
        "{text}"
    );
    assert!(text.contains("trace_id"), "{text}");
    let signature = jwt.rsplit('.').next().unwrap();
    for secret in [
        jwt.as_str(),
        signature,
        opaque.as_str(),
        portcullis_testkit::INTROSPECTION_CLIENT_SECRET,
    ] {
        assert!(
            !text.contains(secret),
            "a token or secret was recorded:\n{text}"
        );
    }
}
