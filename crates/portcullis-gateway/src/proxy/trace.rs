//! W3C Trace Context (`traceparent`, `tracestate`) on the way to the upstream.
//!
//! Both headers are end to end, so they always pass through. With `[tracing]` the
//! gateway also starts a trace when a request carries no valid `traceparent` (a new
//! trace id and parent id; an orphan `tracestate` is dropped, W3C Trace Context §3.3),
//! so the upstream's spans and the gateway's access log share one trace id.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::config::TracingConfig;

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// A trace id: 16 bytes, written as 32 lower-case hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TraceId([u8; 16]);

impl TraceId {
    /// The 32 hex digits.
    pub(crate) fn to_hex(self) -> String {
        hex(&self.0)
    }
}

/// The trace id of a valid `traceparent` value (W3C Trace Context §3.2): version 00
/// exactly as specified, a later version as long as its first four fields parse (§4.3);
/// `None` for anything else, ids of all zeros included.
pub(crate) fn parse_traceparent(value: &[u8]) -> Option<TraceId> {
    if value.len() < 55 || (value.len() > 55 && value[55] != b'-') {
        return None;
    }
    let field = |from: usize, len: usize| {
        let digits = value.get(from..from + len)?;
        digits
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
            .then_some(digits)
    };
    let version = field(0, 2)?;
    if version == b"ff" || (version == b"00" && value.len() != 55) {
        return None;
    }
    let separators = [2, 35, 52].iter().all(|&i| value[i] == b'-');
    let trace = field(3, 32)?;
    let parent = field(36, 16)?;
    field(53, 2)?;
    if !separators || trace.iter().all(|b| *b == b'0') || parent.iter().all(|b| *b == b'0') {
        return None;
    }
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(trace.chunks_exact(2)) {
        *byte = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
    Some(TraceId(id))
}

fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    out
}

/// Random bytes from the system's generator; never all zeros (an invalid id).
fn random_id<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    while bytes.iter().all(|b| *b == 0) {
        // The system generator does not fail where the gateway runs; if it ever did,
        // the id would come out weak, never the request.
        if aws_lc_rs::rand::fill(&mut bytes).is_err() {
            bytes = std::array::from_fn(|i| u8::try_from(i + 1).unwrap_or(1));
        }
    }
    bytes
}

/// The request's trace, after making sure it has one: its valid `traceparent` kept
/// (with its `tracestate`), or a new trace started in its place.
pub(crate) fn ensure(headers: &mut HeaderMap, config: &TracingConfig) -> TraceId {
    if let Some(trace) = single_traceparent(headers).and_then(parse_traceparent) {
        return trace;
    }
    let trace = TraceId(random_id());
    let parent: [u8; 8] = random_id();
    let flags = if config.sampled { "01" } else { "00" };
    set_traceparent(headers, trace, &parent, flags);
    headers.remove(TRACESTATE);
    trace
}

fn single_traceparent(headers: &HeaderMap) -> Option<&[u8]> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => Some(value.as_bytes()),
        _ => None,
    }
}

fn set_traceparent(headers: &mut HeaderMap, trace: TraceId, parent: &[u8; 8], flags: &str) {
    let value = format!("00-{}-{}-{flags}", hex(&trace.0), hex(parent));
    if let Ok(value) = HeaderValue::try_from(value) {
        headers.insert(TRACEPARENT, value);
    }
}

/// The gateway's own place in a trace it exports spans for.
#[derive(Debug)]
pub(crate) struct OwnSpan {
    /// The `request` span's id, as hex: the parent id the upstream is told.
    pub(crate) span_id: String,
    /// The client's span it replaced, as hex; `None` for a trace the gateway started.
    pub(crate) parent_id: Option<String>,
    /// The trace's `sampled` flag: unsampled traces are not exported.
    pub(crate) sampled: bool,
}

/// When the gateway exports its own spans: a span id for its `request` span, written
/// into the `traceparent` the upstream receives (so the upstream's spans are its
/// children), with the parent id it replaced. Called after [`ensure`].
pub(crate) fn take_over(headers: &mut HeaderMap, trace: TraceId, started: bool) -> OwnSpan {
    let current = single_traceparent(headers)
        .map(<[u8]>::to_vec)
        .unwrap_or_default();
    let parent = (!started)
        .then(|| current.get(36..52))
        .flatten()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let flags = current.get(53..55).map_or_else(
        || "01".to_owned(),
        |f| String::from_utf8_lossy(f).into_owned(),
    );
    let span: [u8; 8] = random_id();
    set_traceparent(headers, trace, &span, &flags);
    // Bit 0 of the flags (W3C Trace Context §3.2.2.5).
    let sampled = u8::from_str_radix(&flags, 16).map_or(true, |f| f & 1 == 1);
    OwnSpan {
        span_id: hex(&span),
        parent_id: parent,
        sampled,
    }
}

/// Whether `headers` carry a valid `traceparent` (before [`ensure`]).
pub(crate) fn has_valid_traceparent(headers: &HeaderMap) -> bool {
    single_traceparent(headers)
        .and_then(parse_traceparent)
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_specification_examples() {
        let trace = parse_traceparent(VALID.as_bytes()).unwrap();
        assert_eq!(trace.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        // A later version may add fields after a dash.
        let later = "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future";
        assert!(parse_traceparent(later.as_bytes()).is_some());
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
        ] {
            assert!(parse_traceparent(bad.as_bytes()).is_none(), "{bad}");
        }
    }

    #[test]
    fn exported_spans_take_the_parent_place() {
        let config = TracingConfig {
            sampled: true,
            otlp: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        let trace = ensure(&mut headers, &config);
        let own = take_over(&mut headers, trace, false);
        assert_eq!(own.parent_id.as_deref(), Some("00f067aa0ba902b7"));
        assert!(own.sampled);
        assert_eq!(
            headers[TRACEPARENT],
            format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", own.span_id)
        );
        let mut headers = HeaderMap::new();
        let unsampled = TracingConfig {
            sampled: false,
            otlp: None,
        };
        let trace = ensure(&mut headers, &unsampled);
        let own = take_over(&mut headers, trace, true);
        assert_eq!(own.parent_id, None);
        assert!(!own.sampled);
        assert!(
            headers[TRACEPARENT]
                .to_str()
                .unwrap()
                .contains(&own.span_id)
        );
    }

    #[test]
    fn a_valid_trace_is_kept_and_a_missing_one_started() {
        let config = TracingConfig {
            sampled: true,
            otlp: None,
        };
        let mut headers = HeaderMap::new();
        headers.insert(TRACEPARENT, HeaderValue::from_static(VALID));
        headers.insert(TRACESTATE, HeaderValue::from_static("congo=t61rcWkgMzE"));
        let trace = ensure(&mut headers, &config);
        assert_eq!(trace.to_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(headers[TRACEPARENT], VALID);
        assert_eq!(headers[TRACESTATE], "congo=t61rcWkgMzE");

        // An invalid one is replaced, and the state that went with it dropped.
        headers.insert(TRACEPARENT, HeaderValue::from_static("garbage"));
        let started = ensure(&mut headers, &config);
        let value = headers[TRACEPARENT].to_str().unwrap().to_owned();
        assert_eq!(parse_traceparent(value.as_bytes()), Some(started));
        assert!(value.ends_with("-01"));
        assert!(!headers.contains_key(TRACESTATE));

        // Two are as bad as none.
        headers.append(TRACEPARENT, HeaderValue::from_static(VALID));
        let again = ensure(
            &mut headers,
            &TracingConfig {
                sampled: false,
                otlp: None,
            },
        );
        assert_ne!(again, started);
        assert!(headers[TRACEPARENT].to_str().unwrap().ends_with("-00"));
        assert_eq!(headers.get_all(TRACEPARENT).iter().count(), 1);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn parsing_never_panics(value in proptest::collection::vec(any::<u8>(), 0..80)) {
                let _ = parse_traceparent(&value);
            }

            #[test]
            fn started_traces_parse(sampled: bool) {
                let mut headers = HeaderMap::new();
                let trace = ensure(&mut headers, &TracingConfig { sampled, otlp: None });
                let value = headers[TRACEPARENT].as_bytes().to_vec();
                prop_assert_eq!(parse_traceparent(&value), Some(trace));
            }
        }
    }
}
