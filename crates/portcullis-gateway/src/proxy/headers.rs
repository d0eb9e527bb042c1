//! What the upstream is sent: hop-by-hop headers removed, spoofed claim headers
//! removed, claim headers added.

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use portcullis_jwt::Claims;

use crate::config::ForwardConfig;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    // `TE: trailers` is what gRPC needs end to end; any other TE is hop-by-hop.
    let te_trailers = headers
        .get(header::TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_trailers {
        headers.remove(header::TE);
    }
}

/// Rewrites the inbound headers for the upstream: removes what clients must not set
/// (claim headers, always), strips or keeps `Authorization`, and adds claim headers.
pub(crate) fn rewrite_headers(
    headers: &mut HeaderMap,
    forward: &ForwardConfig,
    claims: Option<&Claims>,
) {
    strip_hop_by_hop(headers);
    // Claim headers and their look-alikes (`x_auth_subject` for `x-auth-subject`). An
    // empty Vec does not allocate, so a clean request pays only the comparisons.
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| forward.is_spoofed(name))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
    if !forward.forward_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    let Some(claims) = claims else { return };
    insert_claim_headers(headers, forward, claims);
}

/// Adds the headers the configuration forwards for `claims` (`[forward]`): what the
/// proxy sends the upstream, and what a decision tells the proxy in front to send.
pub(crate) fn insert_claim_headers(
    headers: &mut HeaderMap,
    forward: &ForwardConfig,
    claims: &Claims,
) {
    for (claim, name) in &forward.claims {
        if let Some(value) = claims
            .lookup(claim)
            .and_then(|v| claim_value(v, &forward.array_separator))
        {
            headers.insert(name.clone(), value);
        }
    }
    if let Some(name) = &forward.payload_header {
        let encoded =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.payload_json());
        if let Ok(value) = HeaderValue::try_from(encoded) {
            headers.insert(name.clone(), value);
        }
    }
}

/// A claim as a header value: strings as they are, arrays joined, objects as JSON.
/// `None` for null and for values a header cannot carry (control characters).
fn claim_value(value: &serde_json::Value, separator: &str) -> Option<HeaderValue> {
    fn scalar(value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
    let text = match value {
        // The common case, copied once (into the header value).
        serde_json::Value::String(s) => return HeaderValue::from_bytes(s.as_bytes()).ok(),
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(scalar)
            .collect::<Vec<_>>()
            .join(separator),
        other => scalar(other)?,
    };
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("5"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert!(!headers.contains_key("x-private"));
        assert!(!headers.contains_key(header::CONNECTION));
        assert!(!headers.contains_key("keep-alive"));
        assert_eq!(headers[header::TE], "trailers");
        assert!(headers.contains_key("x-kept"));
        headers.insert(header::TE, HeaderValue::from_static("gzip"));
        strip_hop_by_hop(&mut headers);
        assert!(!headers.contains_key(header::TE));
    }

    #[test]
    fn look_alike_claim_headers_go() {
        let forward = ForwardConfig {
            forward_authorization: false,
            claims: vec![
                (
                    portcullis_jwt::ClaimPath::parse("sub").unwrap(),
                    HeaderName::from_static("x-auth-subject"),
                ),
                (
                    portcullis_jwt::ClaimPath::parse("/ext/tid").unwrap(),
                    HeaderName::from_static("x_tenant"),
                ),
            ],
            array_separator: ",".to_owned(),
            payload_header: Some(HeaderName::from_static("x-auth-claims")),
        };
        let mut headers = HeaderMap::new();
        for name in [
            "x-auth-subject",
            "x_auth_subject",
            "x_auth-subject",
            "X_AUTH_SUBJECT",
            "x-tenant",
            "x_tenant",
            "x_auth_claims",
            "x_forwarded_for",
            "x_forwarded_proto",
            "x-forwarded-host_",
        ] {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("spoof"),
            );
        }
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.insert("x_other", HeaderValue::from_static("kept"));
        rewrite_headers(&mut headers, &forward, None);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["x-forwarded-for", "x-forwarded-host_", "x_other"]);
    }

    #[test]
    fn claim_values_as_headers() {
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(claim_value(&json(r#""alice""#), ",").unwrap(), "alice");
        assert_eq!(claim_value(&json(r#"["a","b",3]"#), ",").unwrap(), "a,b,3");
        assert_eq!(claim_value(&json("true"), ",").unwrap(), "true");
        assert_eq!(claim_value(&json(r#"{"a":1}"#), ",").unwrap(), r#"{"a":1}"#);
        assert!(claim_value(&json("null"), ",").is_none());
        assert!(claim_value(&json(r#""a\nb""#), ",").is_none());
    }
}
