//! DPoP: the `htu` normalization and the proof reader (`portcullis_jwt::dpop`).
//!
//! Any text, read as an `htu`: either refused, or normalized to an `http`/`https` URI
//! with no query, no fragment and no dot segments, which normalizes to itself (so two
//! URIs are compared as fixed points, and equivalence is transitive). Read as a proof
//! for a fixed request: an answer, never a panic (a proof that verifies cannot be made
//! without a key, so only refusals are reachable).

use std::time::{Duration, UNIX_EPOCH};

use portcullis_jwt::dpop::fuzzing::normalize_htu;
use portcullis_jwt::dpop::{DpopRequest, DpopValidation};

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(once) = normalize_htu(text) {
        let rest = once
            .strip_prefix("https://")
            .or_else(|| once.strip_prefix("http://"))
            .unwrap_or_else(|| panic!("{text:?} normalized to {once:?}: not http(s)"));
        assert!(
            !once.contains(['?', '#']),
            "{text:?} kept a query or fragment: {once:?}"
        );
        let path = rest.find('/').map_or("", |i| &rest[i..]);
        assert!(
            path.starts_with('/'),
            "{text:?} normalized to {once:?}: no path"
        );
        assert!(
            !path
                .split('/')
                .any(|segment| segment == "." || segment == ".."),
            "{text:?} kept a dot segment: {once:?}"
        );
        assert_eq!(
            normalize_htu(&once).as_deref(),
            Some(once.as_str()),
            "{text:?} normalized to {once:?}, which is not a fixed point"
        );
    }
    let validation = DpopValidation::builder()
        .build()
        .expect("the defaults build");
    let request = DpopRequest::new("GET", "https://api.example/orders").access_token("a.b.c");
    let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let _ = validation.verify(text, &request, now);
}
