//! How long a fetched document may be reused: HTTP freshness (RFC 9111 §4.2) read from
//! a response's `Cache-Control`, `Age`, `Expires` and `Date`, then kept within bounds the
//! application sets, since the headers come from a server that may be wrong or hostile.
//!
//! [`RemoteKeySet`](crate::RemoteKeySet) uses [`bounded_lifetime`] for every JWK Set it
//! fetches (bounds from [`RemoteKeySetBuilder::ttl_bounds`](crate::RemoteKeySetBuilder::ttl_bounds)).

use std::ops::RangeInclusive;
use std::time::{Duration, SystemTime};

use http::{HeaderMap, header};

/// The lifetime the response asks for (RFC 9111 §4.2.1): `Cache-Control: max-age` less
/// `Age`, else `Expires` less `Date` (or less `now` without a `Date`). `no-store` and
/// `no-cache` ask for none: `Some(Duration::ZERO)`, as does an `Expires` that is not a
/// date (RFC 9111 §5.3). `None` if the response names no lifetime at all.
///
/// Of several `max-age` directives the shortest wins; a `max-age` that is not a number
/// is ignored. Runs in time linear in the size of the headers.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::{HeaderMap, HeaderValue, header};
/// use portcullis_issuer::freshness::lifetime;
///
/// let mut headers = HeaderMap::new();
/// headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=600"));
/// headers.insert(header::AGE, HeaderValue::from_static("100"));
/// assert_eq!(lifetime(&headers, SystemTime::now()), Some(Duration::from_secs(500)));
/// ```
pub fn lifetime(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let mut max_age = None;
    for value in headers.get_all(header::CACHE_CONTROL) {
        let Ok(value) = value.to_str() else { continue };
        for directive in value.split(',') {
            let directive = directive.trim();
            let (name, argument) = directive
                .split_once('=')
                .map_or((directive, None), |(n, a)| (n.trim(), Some(a.trim())));
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(Duration::ZERO);
            }
            if name.eq_ignore_ascii_case("max-age")
                && let Some(seconds) = argument
                    .map(|a| a.trim_matches('"'))
                    .and_then(|a| a.parse::<u64>().ok())
            {
                max_age = Some(max_age.map_or(seconds, |m: u64| m.min(seconds)));
            }
        }
    }
    if let Some(max_age) = max_age {
        let age = headers
            .get(header::AGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        return Some(Duration::from_secs(max_age.saturating_sub(age)));
    }
    let date = |name| {
        headers
            .get(name)
            .and_then(|v: &http::HeaderValue| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
    };
    let expires = headers.get(header::EXPIRES)?;
    let Some(expires) = date(header::EXPIRES) else {
        // An invalid Expires (such as "0") means already expired (RFC 9111 §5.3).
        return expires.to_str().ok().map(|_| Duration::ZERO);
    };
    let base = date(header::DATE).unwrap_or(now);
    Some(expires.duration_since(base).unwrap_or_default())
}

/// The lifetime a fetched document is kept: the response's own [`lifetime`], or
/// `default` if it names none, brought within `bounds` (so `no-store` means the shortest
/// lifetime allowed, and a year of `max-age` the longest). Always within `bounds`; if
/// `bounds` is empty (its start after its end), its end wins. Builders refuse such
/// bounds before they get here.
pub fn bounded_lifetime(
    headers: &HeaderMap,
    now: SystemTime,
    default: Duration,
    bounds: RangeInclusive<Duration>,
) -> Duration {
    let (min, max) = bounds.into_inner();
    lifetime(headers, now).unwrap_or(default).max(min).min(max)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), value.parse().unwrap());
        }
        map
    }

    #[test]
    fn lifetime_from_headers() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(lifetime(&headers(&[]), now), None);
        let h = headers(&[(header::CACHE_CONTROL, "public, max-age=600")]);
        assert_eq!(lifetime(&h, now), Some(Duration::from_secs(600)));
        let h = headers(&[(header::CACHE_CONTROL, "max-age=600"), (header::AGE, "100")]);
        assert_eq!(lifetime(&h, now), Some(Duration::from_secs(500)));
        let h = headers(&[(header::CACHE_CONTROL, "no-store")]);
        assert_eq!(lifetime(&h, now), Some(Duration::ZERO));
        let h = headers(&[
            (header::EXPIRES, "Wed, 21 Oct 2015 07:38:00 GMT"),
            (header::DATE, "Wed, 21 Oct 2015 07:28:00 GMT"),
        ]);
        assert_eq!(lifetime(&h, now), Some(Duration::from_secs(600)));
        let h = headers(&[(header::EXPIRES, "0")]);
        assert_eq!(lifetime(&h, now), Some(Duration::ZERO));
        // max-age wins over Expires.
        let h = headers(&[
            (header::EXPIRES, "Wed, 21 Oct 2015 07:38:00 GMT"),
            (header::CACHE_CONTROL, "max-age=60"),
        ]);
        assert_eq!(lifetime(&h, now), Some(Duration::from_secs(60)));
    }

    #[test]
    fn bounded() {
        let now = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let bounds = Duration::from_secs(60)..=Duration::from_secs(3600);
        let five = Duration::from_secs(300);
        let at = |pairs: &[(header::HeaderName, &str)]| {
            bounded_lifetime(&headers(pairs), now, five, bounds.clone())
        };
        assert_eq!(at(&[]), five);
        assert_eq!(at(&[(header::CACHE_CONTROL, "no-store")]), *bounds.start());
        assert_eq!(
            at(&[(header::CACHE_CONTROL, "max-age=31536000")]),
            *bounds.end()
        );
        assert_eq!(
            at(&[(header::CACHE_CONTROL, "max-age=600")]),
            Duration::from_secs(600)
        );
        let empty = Duration::from_secs(10)..=Duration::from_secs(5);
        assert_eq!(
            bounded_lifetime(&headers(&[]), now, five, empty),
            Duration::from_secs(5)
        );
    }
}
