//! What the `token_extraction` fuzz target asserts of the bearer-token extraction in
//! `crates/portcullis/src/token.rs`, shared with the seed test in
//! `crates/portcullis/tests/fuzz_seeds.rs` so the two cannot drift.
//!
//! The input is a request, written as text so that random bytes become headers and the
//! seeds stay readable:
//!
//! ```text
//! authorization header:x-token cookie:at query:access_token   <- the token sources
//! /path?access_token=abc                                       <- the request target
//! authorization: Bearer abc                                    <- headers, one a line
//! cookie: theme=dark; at=abc
//! ```
//!
//! Unknown sources, invalid names or values and an invalid target (which becomes `/`)
//! are dropped, as a server would never hand them over.
//!
//! What must hold: an extracted token is an RFC 6750 §2.1 `b64token` (checked against
//! the grammar written out below, not the crate's fast check); anything else is
//! refused as malformed (`invalid_request`), never passed on; a request that carries
//! nothing in any configured place has no token; and the crate's `is_b64token` agrees
//! with the grammar on every header value.

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};
use portcullis::TokenSource;
use portcullis::token::fuzzing::{extract, is_b64token};

pub(crate) fn check(data: &[u8]) {
    let (sources, headers, uri) = request(data);
    let checked = extract(&sources, &headers, &uri);
    if let Ok(Some(token)) = &checked {
        assert!(b64token(token.as_bytes()), "not a b64token: {token:?}");
    }
    if !carries_anything(&sources, &headers, &uri) {
        assert_eq!(checked, Ok(None), "a token out of nowhere");
    }
    for value in headers.values() {
        assert_eq!(is_b64token(value.as_bytes()), b64token(value.as_bytes()));
    }
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..body_len];
    !body.is_empty()
        && body
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Whether any configured place holds anything at all: if none does, there is no token.
fn carries_anything(sources: &[TokenSource], headers: &HeaderMap, uri: &Uri) -> bool {
    sources.iter().any(|source| match source {
        TokenSource::AuthorizationHeader => headers.contains_key(AUTHORIZATION),
        TokenSource::Header(name) => headers.contains_key(name),
        TokenSource::Cookie(name) => {
            let needle = format!("{name}=");
            headers.get_all(COOKIE).iter().any(|value| {
                value
                    .as_bytes()
                    .windows(needle.len())
                    .any(|w| w == needle.as_bytes())
            })
        }
        TokenSource::Query(name) => uri.query().is_some_and(|query| query.contains(&**name)),
        _ => true,
    })
}

fn request(data: &[u8]) -> (Vec<TokenSource>, HeaderMap, Uri) {
    let mut lines = data.split(|&b| b == b'\n');
    let sources = lines
        .next()
        .unwrap_or_default()
        .split(|&b| b == b' ')
        .filter_map(|word| {
            let word = std::str::from_utf8(word).ok()?;
            let (kind, name) = word.split_once(':').unwrap_or((word, ""));
            match kind {
                "authorization" => Some(TokenSource::AuthorizationHeader),
                "header" => HeaderName::from_bytes(name.as_bytes())
                    .ok()
                    .map(TokenSource::Header),
                "cookie" if !name.is_empty() => Some(TokenSource::Cookie(name.into())),
                "query" if !name.is_empty() => Some(TokenSource::Query(name.into())),
                _ => None,
            }
        })
        .collect();
    let uri =
        Uri::try_from(lines.next().unwrap_or_default()).unwrap_or_else(|_| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let value = line[colon + 1..]
            .strip_prefix(b" ")
            .unwrap_or(&line[colon + 1..]);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(value),
        ) {
            headers.append(name, value);
        }
    }
    (sources, headers, uri)
}
