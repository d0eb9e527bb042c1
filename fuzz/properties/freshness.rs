//! What the `freshness` fuzz target asserts of `portcullis_issuer::freshness`, shared
//! with the seed test in `crates/portcullis-issuer/tests/fuzz_seeds.rs` so the two
//! cannot drift.
//!
//! The input is the bounds and the response headers of a fetch, as text:
//!
//! ```text
//! 60 3600 300                        <- min, max, default (seconds; swapped if min > max)
//! cache-control: public, max-age=600 <- headers, one a line
//! age: 100
//! ```
//!
//! What must hold: the lifetime kept is always within the bounds; it is the response's
//! own lifetime (or the default) clamped; `no-store`/`no-cache` ask for none; a
//! `max-age` is never exceeded; and a response that names no lifetime gets the default.
//! The directive reading below is written out independently of the crate's.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::header::{AGE, CACHE_CONTROL, EXPIRES};
use http::{HeaderMap, HeaderName, HeaderValue};
use portcullis_issuer::freshness::{bounded_lifetime, lifetime};

/// The time of the fetch; the seeds' `Date` and `Expires` headers are around it.
const NOW: u64 = 1_700_000_000;

pub(crate) fn check(data: &[u8]) {
    let mut lines = data.split(|&b| b == b'\n');
    let numbers: Vec<u64> = std::str::from_utf8(lines.next().unwrap_or_default())
        .unwrap_or_default()
        .split(' ')
        .filter_map(|n| n.parse::<u32>().ok().map(u64::from))
        .collect();
    let (mut min, mut max, default) = match numbers[..] {
        [min, max, default, ..] => (min, max, default),
        _ => (60, 3600, 300),
    };
    if min > max {
        std::mem::swap(&mut min, &mut max);
    }
    let (min, max, default) = (
        Duration::from_secs(min),
        Duration::from_secs(max),
        Duration::from_secs(default),
    );
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
    let now = UNIX_EPOCH + Duration::from_secs(NOW);

    let kept = bounded_lifetime(&headers, now, default, min..=max);
    assert!(
        min <= kept && kept <= max,
        "{kept:?} outside {min:?}..={max:?}"
    );
    let asked = lifetime(&headers, now);
    assert_eq!(kept, asked.unwrap_or(default).clamp(min, max));

    let directives = directives(&headers);
    let has = |name: &str| directives.iter().any(|(n, _)| n == name);
    if has("no-store") || has("no-cache") {
        assert_eq!(asked, Some(Duration::ZERO), "no-store or no-cache ignored");
        return;
    }
    let max_ages: Vec<u64> = directives
        .iter()
        .filter(|(name, _)| name == "max-age")
        .filter_map(|(_, argument)| argument.as_deref()?.trim_matches('"').parse().ok())
        .collect();
    if let Some(&shortest) = max_ages.iter().min() {
        let asked = asked.expect("a max-age and no lifetime");
        assert!(
            asked <= Duration::from_secs(shortest),
            "{asked:?} over max-age"
        );
        if headers.get(AGE).is_none() {
            assert_eq!(asked, Duration::from_secs(shortest));
        }
    } else if headers.get(EXPIRES).is_none() {
        assert_eq!(asked, None, "a lifetime from neither max-age nor Expires");
        assert_eq!(kept, default.clamp(min, max));
    }
    // Whatever the headers, the expiry computed from it does not overflow.
    let _: SystemTime = now + kept;
}

/// Every `Cache-Control` directive, lowercased name and optional argument.
fn directives(headers: &HeaderMap) -> Vec<(String, Option<String>)> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|directive| {
            let mut parts = directive.splitn(2, '=');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            (name, parts.next().map(|a| a.trim().to_owned()))
        })
        .collect()
}
