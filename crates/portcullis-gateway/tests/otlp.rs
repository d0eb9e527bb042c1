//! The OTLP exporter (cargo feature `otlp`): spans posted to a loopback collector stub
//! as OTLP/HTTP JSON, joined into the client's trace, with the attributes that say what
//! happened and never a token or a secret. Without the feature, `[tracing.otlp]` is
//! refused when the file is read.

#![allow(clippy::unwrap_used)] // Test setup panics on purpose.

mod common;

#[cfg(not(feature = "otlp"))]
#[test]
fn without_the_feature_the_exporter_is_refused_as_read() {
    let (path, message) = common::refused(
        "[tracing]\n[tracing.otlp]\nendpoint = \"http://127.0.0.1:4318/v1/traces\"\n",
    );
    assert_eq!(path, "tracing.otlp");
    assert!(message.contains("otlp"), "{message}");
}

#[cfg(feature = "otlp")]
mod exporter {
    use std::convert::Infallible;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use http_body_util::{BodyExt as _, Full};
    use hyper::service::service_fn;
    use portcullis_gateway::Config;
    use portcullis_testkit::fixture::unix_now;
    use portcullis_testkit::{EchoUpstream, TestIssuer, TestServer};
    use serde_json::Value;
    use tracing_subscriber::layer::SubscriberExt as _;

    use super::common::{AUDIENCE, Http, InProcess, refused};

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// A collector that keeps every body posted to it.
    async fn collector() -> (TestServer, Arc<Mutex<Vec<Value>>>) {
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        let server = TestServer::start(service_fn(
            move |request: http::Request<hyper::body::Incoming>| {
                let kept = kept.clone();
                async move {
                    let body = request.into_body().collect().await.unwrap().to_bytes();
                    kept.lock()
                        .unwrap()
                        .push(serde_json::from_slice::<Value>(&body).unwrap());
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"{}"))))
                }
            },
        ))
        .await;
        (server, bodies)
    }

    fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
        span["attributes"]
            .as_array()?
            .iter()
            .find(|a| a["key"] == key)
            .map(|a| &a["value"])
    }

    #[test]
    fn the_endpoint_is_checked_as_read() {
        let (path, _) =
            refused("[tracing.otlp]\nendpoint = \"https://collector:4318/v1/traces\"\n");
        assert_eq!(path, "tracing.otlp.endpoint");
        let (path, _) = refused("[tracing.otlp]\nendpoint = \"http://c/v1/traces\"\nheaders = 1\n");
        assert_eq!(path, "tracing.otlp.headers");
    }

    #[tokio::test]
    async fn spans_reach_the_collector_without_tokens_or_secrets() {
        let (collector, bodies) = collector().await;
        let issuer = TestIssuer::start().await;
        let upstream = EchoUpstream::start().await;
        let dir = tempfile::tempdir().unwrap();
        let text = super::common::introspecting_config(
            &issuer,
            &upstream,
            dir.path(),
            &format!(
                "[tracing]\n[tracing.otlp]\nendpoint = \"{}/v1/traces\"\nservice_name = \"edge-test\"",
                collector.url()
            ),
        );
        let config = Config::from_toml(&text, "otlp.toml").unwrap();
        let (layer, exporter) = portcullis_gateway::otlp::pipeline(&config).unwrap();
        let flush = exporter.flusher();
        let subscriber = tracing_subscriber::registry().with(layer.with_default_filter());
        // The test's runtime is one thread: every task of the gateway records here.
        let guard = tracing::subscriber::set_default(subscriber);
        let exporting = tokio::spawn(exporter.run());

        let gateway = InProcess::from_config(&text).await;
        let http = Http::http1();
        let url = gateway.url("/read");
        let jwt = issuer.mint_with(AUDIENCE, unix_now(), |t| t.claim("scope", "read"));
        let opaque = issuer.mint_opaque(AUDIENCE, unix_now(), "read");
        let answer = http.get(&url, Some(&jwt), &[("traceparent", PARENT)]).await;
        assert_eq!(answer.status, 200);
        let sent_upstream = answer.json()["headers"]["traceparent"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(http.get(&url, Some(&opaque), &[]).await.status, 200);
        // A trace the client does not sample is not exported.
        const UNSAMPLED: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00";
        let answer = http
            .get(&url, Some(&jwt), &[("traceparent", UNSAMPLED)])
            .await;
        assert_eq!(answer.status, 200);
        assert!(
            answer.json()["headers"]["traceparent"]
                .as_str()
                .unwrap()
                .ends_with("-00")
        );
        assert_eq!(
            http.get(&url, Some(&format!("{jwt}x")), &[]).await.status,
            401
        );
        gateway.stop().await;
        flush.flush().await;
        drop(guard);
        let _ = exporting.await;

        let bodies = bodies.lock().unwrap().clone();
        let text = serde_json::to_string(&bodies).unwrap();
        let resource = &bodies[0]["resourceSpans"][0];
        assert_eq!(
            resource["resource"]["attributes"][0]["value"]["stringValue"],
            "edge-test"
        );
        let spans: Vec<&Value> = bodies
            .iter()
            .flat_map(|b| {
                b["resourceSpans"][0]["scopeSpans"][0]["spans"]
                    .as_array()
                    .unwrap()
            })
            .collect();
        let named = |name: &'static str| spans.iter().copied().filter(move |s| s["name"] == name);
        for name in [
            "request",
            "portcullis",
            "jwks_fetch",
            "discovery",
            "introspection",
        ] {
            assert!(named(name).next().is_some(), "no {name} span in {text}");
        }
        // The first request joined the client's trace; the library's span is its child.
        let request = named("request")
            .find(|s| s["traceId"] == "4bf92f3577b34da6a3ce929d0e0e4736")
            .unwrap_or_else(|| panic!("the client's trace: {text}"));
        assert_eq!(request["kind"], 2);
        // The client's span is its parent; it is the upstream's.
        assert_eq!(request["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(
            sent_upstream,
            format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
                request["spanId"].as_str().unwrap()
            )
        );
        assert!(attribute(request, "span_id").is_none());
        assert!(!text.contains("0af7651916cd43dd8448eb211c80319c"), "{text}");
        assert_eq!(attribute(request, "route").unwrap()["stringValue"], "read");
        assert_eq!(
            attribute(request, "decision").unwrap()["stringValue"],
            "allow"
        );
        assert_eq!(attribute(request, "status").unwrap()["intValue"], "200");
        assert!(attribute(request, "key_id").is_some(), "{request}");
        assert!(
            named("portcullis")
                .any(|s| s["parentSpanId"] == request["spanId"]
                    && s["traceId"] == request["traceId"]),
            "{text}"
        );
        assert!(
            named("request")
                .any(|s| attribute(s, "decision").is_some_and(|d| d["stringValue"] == "deny")),
            "{text}"
        );
        assert!(
            named("introspection")
                .any(|s| attribute(s, "active").is_some_and(|a| a["boolValue"] == true)),
            "{text}"
        );
        let signature = jwt.rsplit('.').next().unwrap();
        for secret in [
            jwt.as_str(),
            signature,
            opaque.as_str(),
            portcullis_testkit::INTROSPECTION_CLIENT_SECRET,
        ] {
            assert!(
                !text.contains(secret),
                "a token or secret was exported: {text}"
            );
        }
    }

    /// A response body that sends one byte, then never ends.
    struct NeverEnds(bool);

    impl hyper::body::Body for NeverEnds {
        type Data = Bytes;
        type Error = Infallible;
        fn poll_frame(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Infallible>>> {
            if self.0 {
                return std::task::Poll::Pending;
            }
            self.0 = true;
            std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from_static(b"{")))))
        }
    }

    /// A collector that accepts a batch and never ends its answer does not stall the
    /// exporter: the answer is read for at most the export timeout, and the next batch
    /// goes. (On Tokio's paused clock: the timeouts pass as soon as all is idle.)
    #[tokio::test(start_paused = true)]
    async fn a_collector_answer_that_never_ends_does_not_stall_the_exporter() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let posts = Arc::new(AtomicUsize::new(0));
        let counted = posts.clone();
        let collector = TestServer::start(service_fn(
            move |request: http::Request<hyper::body::Incoming>| {
                let counted = counted.clone();
                async move {
                    let _ = request.into_body().collect().await;
                    counted.fetch_add(1, Ordering::SeqCst);
                    Ok::<_, Infallible>(http::Response::new(NeverEnds(false)))
                }
            },
        ))
        .await;
        let text = format!(
            "{}[tracing]\n[tracing.otlp]\nendpoint = \"{}/v1/traces\"\n",
            super::common::MINIMAL,
            collector.url()
        );
        let config = Config::from_toml(&text, "otlp.toml").unwrap();
        let (layer, exporter) = portcullis_gateway::otlp::pipeline(&config).unwrap();
        let flush = exporter.flusher();
        let subscriber = tracing_subscriber::registry().with(layer.with_default_filter());
        let guard = tracing::subscriber::set_default(subscriber);
        let exporting = tokio::spawn(exporter.run());
        for _ in 0..2 {
            drop(tracing::debug_span!(target: "portcullis_gateway", "request").entered());
            flush.flush().await;
        }
        flush.flush().await;
        assert_eq!(posts.load(Ordering::SeqCst), 2);
        drop(guard);
        exporting.abort();
    }
}
