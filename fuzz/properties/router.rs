//! What the `router` fuzz target asserts of the gateway's path check and router
//! (`crates/portcullis-gateway/src/router.rs`), shared with the seed test in
//! `crates/portcullis-gateway/tests/fuzz_seeds.rs` so the two cannot drift.
//!
//! The input is a request line and a routing table, as text, so that random bytes
//! become path segments and the seeds stay readable:
//!
//! ```text
//! GET /api/items/7                <- method and path of the request
//! exact /api/items/special        <- routes, one a line: kind, path, methods (optional)
//! pattern /api/items/{id} GET,HEAD
//! prefix /api
//! ```
//!
//! Routes the configuration would refuse are dropped.
//!
//! What must hold: a path the safety check passes routes identically after any
//! percent-encoding of unreserved characters (RFC 3986 §2.3: ALPHA / DIGIT / "-" / "." /
//! "_" / "~"), since an upstream decodes them (RFC 3986 §6.2.2.2) and serves the same
//! resource. Encoding a "." is the one exception: `%2E` is refused outright by the
//! check (it only ever serves to hide a dot segment), which fails closed. The variants
//! tried: every unreserved character encoded alone, all of them at once in upper and
//! in lower case hex, and a mixture chosen by the input's own bytes. (The hex digits of
//! an escape already in the path are not characters of it, and are left alone.)

use http::Method;
use portcullis_gateway::fuzzing::{PathMatch, Router, unsafe_path};

/// Single-character variants are tried for the first this many characters, so one
/// input costs time linear in its length.
const SINGLES: usize = 64;

pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.is_empty() {
        return;
    }
    let mut lines = text.split('\n');
    let request = lines.next().unwrap_or_default();
    let (method, path) = request.split_once(' ').unwrap_or(("GET", request));
    let Ok(method) = method.parse::<Method>() else {
        return;
    };
    let routes: Vec<(PathMatch, Option<Vec<Method>>)> = lines
        .filter_map(|line| {
            let mut words = line.split(' ');
            let kind = words.next()?;
            let route_path = words.next()?;
            let path = match kind {
                "exact" => PathMatch::exact(route_path),
                "prefix" => PathMatch::prefix(route_path),
                "pattern" => PathMatch::pattern(route_path),
                _ => return None,
            }
            .ok()?;
            let methods = match words.next() {
                None => None,
                Some(list) => Some(
                    list.split(',')
                        .map(str::parse)
                        .collect::<Result<_, _>>()
                        .ok()?,
                ),
            };
            Some((path, methods))
        })
        .collect();
    let router = Router::from_paths(routes);
    if unsafe_path(path).is_some() {
        return;
    }
    let route = router.find(&method, path);

    let bytes = path.as_bytes();
    // The hex digits of an escape already there are not characters of the path.
    let mut in_escape = vec![false; bytes.len()];
    let mut i = 0;
    while i + 2 < bytes.len() {
        if bytes[i] == b'%' && bytes[i + 1].is_ascii_hexdigit() && bytes[i + 2].is_ascii_hexdigit()
        {
            in_escape[i + 1] = true;
            in_escape[i + 2] = true;
            i += 3;
        } else {
            i += 1;
        }
    }
    let unreserved: Vec<usize> = (0..bytes.len())
        .filter(|&i| is_unreserved(bytes[i]) && !in_escape[i])
        .collect();
    // (which bytes to encode, lower-case hex?)
    let mut variants: Vec<(Vec<bool>, bool)> = Vec::new();
    for (n, &i) in unreserved.iter().take(SINGLES).enumerate() {
        let mut mask = vec![false; bytes.len()];
        mask[i] = true;
        variants.push((mask, n % 2 == 1));
    }
    let mut all = vec![false; bytes.len()];
    for &i in &unreserved {
        all[i] = true;
    }
    variants.push((all.clone(), false));
    variants.push((all, true));
    // A mixture chosen by the input's own bytes, so the fuzzer steers it.
    let bit = |i: usize, shift: u32| data[data.len() - 1 - i % data.len()] >> shift & 1 == 1;
    let mut mixed = vec![false; bytes.len()];
    for &i in &unreserved {
        mixed[i] = bit(i, 0);
    }
    variants.push((mixed, bit(0, 1)));

    for (mask, lower) in variants {
        let encoded = encode(path, &mask, lower);
        let encodes_dot = (0..bytes.len()).any(|i| mask[i] && bytes[i] == b'.');
        assert_eq!(
            unsafe_path(&encoded).is_some(),
            encodes_dot,
            "{path:?} passes the check, {encoded:?} {}",
            if encodes_dot {
                "is not refused"
            } else {
                "is refused"
            }
        );
        if !encodes_dot {
            assert_eq!(
                router.find(&method, &encoded),
                route,
                "{path:?} and {encoded:?} route differently"
            );
        }
    }
}

/// RFC 3986 §2.3.
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// `path` with the bytes `mask` marks (all ASCII) percent-encoded.
fn encode(path: &str, mask: &[bool], lower: bool) -> String {
    const UPPER: &[u8; 16] = b"0123456789ABCDEF";
    const LOWER: &[u8; 16] = b"0123456789abcdef";
    let digits = if lower { LOWER } else { UPPER };
    let mut out = Vec::with_capacity(path.len() * 3);
    for (&b, &encode) in path.as_bytes().iter().zip(mask) {
        if encode {
            out.extend([
                b'%',
                digits[usize::from(b >> 4)],
                digits[usize::from(b & 15)],
            ]);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out).expect("only ASCII bytes were encoded")
}
