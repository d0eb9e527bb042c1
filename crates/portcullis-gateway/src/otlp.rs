//! An OpenTelemetry exporter for the gateway's spans (cargo feature `otlp`), with no
//! dependency beyond what the gateway already links: spans are written as OTLP/HTTP
//! JSON (`POST {endpoint}` with `application/json`, the OTLP specification's JSON
//! encoding of `ExportTraceServiceRequest`) by the hyper client, to a collector on a
//! loopback or private hop (an OpenTelemetry Collector sidecar), in cleartext.
//!
//! [`OtlpLayer`] is a `tracing-subscriber` layer: it gives each span a span id, takes
//! the trace id from the span's `trace_id` field (the gateway's `request` span records
//! the W3C trace id, and the span and parent ids of the `traceparent` the upstream is
//! sent, so the upstream's spans are its children and it a child of the client's) or
//! from its parent, keeps the span's fields as attributes, and at
//! the span's close queues it (a bounded queue: when the exporter falls behind, spans
//! are dropped and counted, never waited for). [`OtlpExporter`] sends the queue in
//! batches. Spans record what the gateway and the library put in their fields, which
//! never include a token or a secret.
//!
//! ```no_run
//! # async fn run(config: portcullis_gateway::Config) {
//! use tracing_subscriber::layer::SubscriberExt as _;
//! if let Some((layer, exporter)) = portcullis_gateway::otlp::pipeline(&config) {
//!     let subscriber = tracing_subscriber::registry().with(layer.with_default_filter());
//!     let _guard = tracing::subscriber::set_default(subscriber);
//!     let flush = exporter.flusher();
//!     tokio::spawn(exporter.run());
//!     // ... serve ...
//!     flush.flush().await;
//! }
//! # }
//! ```

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::Config;

/// Spans waiting to be sent, at most; beyond, new ones are dropped.
const QUEUE: usize = 4096;
/// Spans per export request, at most.
const BATCH: usize = 512;
/// How often a partial batch is sent.
const INTERVAL: Duration = Duration::from_secs(2);
/// How long one export request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The most of a collector's answer read (an `ExportTraceServiceResponse`: a few bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// The layer and the exporter for `config`'s `[tracing.otlp]`, if it has one. Spawn
/// [`OtlpExporter::run`] on a Tokio runtime.
pub fn pipeline(config: &Config) -> Option<(OtlpLayer, OtlpExporter)> {
    let otlp = config.tracing.as_ref()?.otlp.as_ref()?;
    let (sender, receiver) = mpsc::channel(QUEUE);
    let (flush_tx, flush_rx) = mpsc::channel(4);
    let dropped = Arc::new(AtomicU64::new(0));
    let layer = OtlpLayer {
        sender,
        dropped: dropped.clone(),
    };
    let exporter = OtlpExporter {
        receiver,
        flush_rx,
        flush_tx,
        endpoint: otlp.endpoint.clone(),
        service_name: otlp.service_name.clone(),
        dropped,
    };
    Some((layer, exporter))
}

/// A `tracing-subscriber` layer that queues closed spans for an [`OtlpExporter`].
pub struct OtlpLayer {
    sender: mpsc::Sender<Value>,
    dropped: Arc<AtomicU64>,
}

impl fmt::Debug for OtlpLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLayer").finish_non_exhaustive()
    }
}

impl OtlpLayer {
    /// The layer with the filter it is meant to run with: the spans of the gateway and
    /// `portcullis-issuer` (DEBUG: requests, key set fetches, discovery, introspection)
    /// and of the `portcullis` layers (INFO), whatever `RUST_LOG` says for the logs.
    pub fn with_default_filter<S>(self) -> Filtered<OtlpLayer, Targets, S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let targets = Targets::new()
            .with_target("portcullis_gateway", Level::DEBUG)
            .with_target("portcullis_issuer", Level::DEBUG)
            .with_target("portcullis", Level::INFO);
        self.with_filter(targets)
    }
}

/// What the layer keeps of an open span.
struct SpanData {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    start: SystemTime,
    attributes: Vec<(&'static str, Value)>,
    /// The trace's `sampled` flag, from the `request` span or the parent: an unsampled
    /// trace is not exported.
    sampled: bool,
}

/// Reads a span's fields into attributes; a `trace_id` field of 32 hex digits becomes
/// the span's trace id.
struct Attributes_<'a>(&'a mut SpanData);

impl Attributes_<'_> {
    fn set(&mut self, name: &'static str, value: Value) {
        if name == "sampled"
            && let Value::Bool(sampled) = value
        {
            self.0.sampled = sampled;
            return;
        }
        if let Value::String(hex) = &value {
            match name {
                "trace_id" => {
                    if let Some(id) = from_hex::<16>(hex) {
                        self.0.trace_id = id;
                    }
                }
                // The ids the gateway gave the upstream in `traceparent`.
                "span_id" => {
                    if let Some(id) = from_hex::<8>(hex) {
                        self.0.span_id = id;
                    }
                    return;
                }
                "parent_span_id" => {
                    self.0.parent_span_id = from_hex::<8>(hex).or(self.0.parent_span_id);
                    return;
                }
                _ => {}
            }
        }
        match self.0.attributes.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.attributes.push((name, value)),
        }
    }
}

impl Visit for Attributes_<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.set(field.name(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.set(field.name(), Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.set(field.name(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.set(field.name(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.set(field.name(), Value::from(format!("{value:?}")));
    }
}

fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let digits = text.as_bytes();
    if digits.len() != N * 2 {
        return None;
    }
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    while bytes.iter().all(|b| *b == 0) {
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            bytes[0] = 1;
        }
    }
    bytes
}

fn unix_nanos(time: SystemTime) -> String {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

/// An OTLP `AnyValue`.
fn any_value(value: &Value) -> Value {
    match value {
        Value::Bool(b) => json!({ "boolValue": b }),
        // OTLP/JSON writes 64-bit integers as strings.
        Value::Number(n) if n.is_i64() || n.is_u64() => json!({ "intValue": n.to_string() }),
        Value::String(s) => json!({ "stringValue": s }),
        other => json!({ "stringValue": other.to_string() }),
    }
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<SpanData>()
                .map(|d| (d.trace_id, d.span_id, d.sampled))
        });
        let mut data = SpanData {
            trace_id: parent.map_or_else(random, |(trace, _, _)| trace),
            span_id: random(),
            parent_span_id: parent.map(|(_, span_id, _)| span_id),
            start: SystemTime::now(),
            attributes: Vec::new(),
            sampled: parent.is_none_or(|(_, _, sampled)| sampled),
        };
        attrs.record(&mut Attributes_(&mut data));
        span.extensions_mut().insert(data);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(data) = span.extensions_mut().get_mut::<SpanData>()
        {
            values.record(&mut Attributes_(data));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(data) = span.extensions_mut().remove::<SpanData>() else {
            return;
        };
        if !data.sampled {
            return;
        }
        let name = span.name();
        let kind = match name {
            "request" => 2,                                    // SERVER
            "jwks_fetch" | "discovery" | "introspection" => 3, // CLIENT
            _ => 1,                                            // INTERNAL
        };
        let mut otlp = json!({
            "traceId": to_hex(&data.trace_id),
            "spanId": to_hex(&data.span_id),
            "name": name,
            "kind": kind,
            "startTimeUnixNano": unix_nanos(data.start),
            "endTimeUnixNano": unix_nanos(SystemTime::now()),
            "attributes": data.attributes.iter().map(|(key, value)| {
                json!({ "key": key, "value": any_value(value) })
            }).collect::<Vec<_>>(),
        });
        if let Some(parent) = data.parent_span_id {
            otlp["parentSpanId"] = Value::from(to_hex(&parent));
        }
        if self.sender.try_send(otlp).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Sends the spans an [`OtlpLayer`] queues to the collector, in batches.
pub struct OtlpExporter {
    receiver: mpsc::Receiver<Value>,
    flush_rx: mpsc::Receiver<oneshot::Sender<()>>,
    flush_tx: mpsc::Sender<oneshot::Sender<()>>,
    endpoint: Uri,
    service_name: String,
    dropped: Arc<AtomicU64>,
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

/// Asks a running [`OtlpExporter`] to send what it holds now.
#[derive(Debug, Clone)]
pub struct OtlpFlush(mpsc::Sender<oneshot::Sender<()>>);

impl OtlpFlush {
    /// Sends every span queued so far and waits for the export to end (sent or
    /// failed), for at most the export timeout.
    pub async fn flush(&self) {
        let (done, sent) = oneshot::channel();
        if self.0.send(done).await.is_ok() {
            let _ = tokio::time::timeout(TIMEOUT, sent).await;
        }
    }
}

impl OtlpExporter {
    /// A handle that flushes this exporter once it runs.
    pub fn flusher(&self) -> OtlpFlush {
        OtlpFlush(self.flush_tx.clone())
    }

    /// Sends batches until every [`OtlpLayer`] is gone, then what is left.
    pub async fn run(mut self) {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut batch = Vec::with_capacity(BATCH);
        let mut tick = tokio::time::interval(INTERVAL);
        loop {
            let mut flushed = None;
            let open = tokio::select! {
                span = self.receiver.recv() => match span {
                    Some(span) => { batch.push(span); batch.len() < BATCH }
                    None => false,
                },
                Some(done) = self.flush_rx.recv() => {
                    while let Ok(span) = self.receiver.try_recv() {
                        batch.push(span);
                    }
                    flushed = Some(done);
                    false
                }
                _ = tick.tick() => false,
            };
            if open && flushed.is_none() {
                continue;
            }
            if !batch.is_empty() {
                self.export(&client, std::mem::take(&mut batch)).await;
            }
            if let Some(done) = flushed {
                let _ = done.send(());
            }
            if self.receiver.is_closed() && self.receiver.is_empty() {
                return;
            }
        }
    }

    async fn export(&self, client: &Client<HttpConnector, Full<Bytes>>, spans: Vec<Value>) {
        let body = json!({
            "resourceSpans": [{
                "resource": { "attributes": [
                    { "key": "service.name", "value": { "stringValue": self.service_name } }
                ]},
                "scopeSpans": [{
                    "scope": { "name": "portcullis-gateway", "version": env!("CARGO_PKG_VERSION") },
                    "spans": spans,
                }],
            }],
        });
        let request = Request::post(self.endpoint.clone())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body.to_string())));
        let Ok(request) = request else { return };
        let count = spans_len(&body);
        match tokio::time::timeout(TIMEOUT, client.request(request)).await {
            Ok(Ok(response)) if response.status().is_success() => {
                // Read to its end so the connection is reused, but bounded: a collector's
                // answer is small, and one that never ends must not stall the exporter.
                let answer = Limited::new(response.into_body(), MAX_ANSWER_BYTES).collect();
                let _ = tokio::time::timeout(TIMEOUT, answer).await;
            }
            Ok(Ok(response)) => {
                tracing::warn!(
                    status = response.status().as_u16(),
                    spans = count,
                    "OTLP export refused"
                );
            }
            Ok(Err(error)) => tracing::warn!(%error, spans = count, "OTLP export failed"),
            Err(_) => tracing::warn!(spans = count, "OTLP export timed out"),
        }
        let dropped = self.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "OTLP spans dropped: the export queue was full");
        }
    }
}

fn spans_len(body: &Value) -> usize {
    body["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips() {
        let id: [u8; 8] = random();
        assert_eq!(from_hex::<8>(&to_hex(&id)), Some(id));
        assert_eq!(from_hex::<2>("0g0a"), None);
        assert_eq!(from_hex::<2>("0a"), None);
    }

    #[test]
    fn values_as_otlp() {
        assert_eq!(any_value(&json!(3)), json!({ "intValue": "3" }));
        assert_eq!(any_value(&json!(true)), json!({ "boolValue": true }));
        assert_eq!(any_value(&json!("x")), json!({ "stringValue": "x" }));
    }
}
