//! The comparison form of an HTTP(S) URI for a DPoP proof's `htu` (RFC 9449 §4.3):
//! syntax-based and scheme-based normalization (RFC 3986 §6.2.2, §6.2.3), without the
//! query and fragment the proof does not cover.

use std::borrow::Cow;
use std::fmt::Write;

/// `uri` in the form two equivalent `http`/`https` URIs share, or `None` if it is not an
/// absolute `http` or `https` URI with a host (userinfo, which RFC 9110 §4.2.4 forbids
/// in HTTP URIs, included).
///
/// - scheme and host in lower case; an empty port, and the scheme's default port, left
///   out; a port written with leading zeros read as its number;
/// - percent-encodings with upper-case hex digits, and those of unreserved characters
///   decoded; a `%` not followed by two hex digits refuses the URI;
/// - `.` and `..` segments removed from the path; an empty path is `/`;
/// - the query and the fragment dropped.
pub(crate) fn normalize(uri: &str) -> Option<String> {
    let uri = uri.split_once('#').map_or(uri, |(before, _)| before);
    let uri = uri.split_once('?').map_or(uri, |(before, _)| before);
    let (scheme, rest) = uri.split_once("://")?;
    let default_port = if scheme.eq_ignore_ascii_case("http") {
        80
    } else if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        return None;
    };
    let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
    if authority.contains('@') {
        return None;
    }
    let (host, port) = split_port(authority)?;
    if host.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(uri.len() + 1);
    out.push_str(scheme);
    out.make_ascii_lowercase();
    out.push_str("://");
    // Decoded first, so an escaped letter is lower-cased too; the second pass puts the
    // hex digits of the escapes that remain back in upper case.
    if host.contains('%') {
        let host = normalize_escapes(host)?.to_ascii_lowercase();
        out.push_str(&normalize_escapes(&host)?);
    } else {
        let start = out.len();
        out.push_str(host);
        out[start..].make_ascii_lowercase();
    }
    if let Some(port) = port.filter(|&port| port != default_port) {
        // Writing to a String cannot fail.
        let _ = write!(out, ":{port}");
    }
    if path.is_empty() {
        out.push('/');
    } else {
        out.push_str(&remove_dot_segments(&normalize_escapes(path)?));
    }
    Some(out)
}

/// The host and the port (`None` when absent or empty) of an authority without userinfo.
fn split_port(authority: &str) -> Option<(&str, Option<u16>)> {
    // An IP literal's colons are inside its brackets.
    let host_end = if authority.starts_with('[') {
        authority.find(']')? + 1
    } else {
        authority.find(':').unwrap_or(authority.len())
    };
    let (host, port) = authority.split_at(host_end);
    match port.strip_prefix(':') {
        None if port.is_empty() => Some((host, None)),
        None => None,
        Some("") => Some((host, None)),
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            let digits = digits.trim_start_matches('0');
            if digits.is_empty() {
                return Some((host, Some(0)));
            }
            digits.parse().ok().map(|port| (host, Some(port)))
        }
        Some(_) => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encodings in upper case, and decoded where they stand for an unreserved
/// character. `None` for a `%` without two hex digits after it.
fn normalize_escapes(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains('%') {
        return Some(Cow::Borrowed(text));
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        if is_unreserved(value) {
            out.push(value);
        } else {
            out.push(b'%');
            out.extend(hex.iter().map(u8::to_ascii_uppercase));
        }
        i += 3;
    }
    // Only ASCII was replaced by ASCII, so the text is still UTF-8.
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// RFC 3986 §5.2.4, on an absolute path.
fn remove_dot_segments(path: &str) -> Cow<'_, str> {
    if !path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Cow::Borrowed(path);
    }
    let mut segments: Vec<&str> = Vec::new();
    // Each segment after a `/`; the last one decides whether the path ends in `/`.
    let parts: Vec<&str> = path.split('/').skip(1).collect();
    let mut trailing_slash = false;
    for (i, segment) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        match *segment {
            "." => trailing_slash = last,
            ".." => {
                segments.pop();
                trailing_slash = last;
            }
            other => {
                segments.push(other);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn equivalent_uris_meet() {
        let same = [
            ("https://api.example/orders", "https://api.example/orders"),
            (
                "HTTPS://API.Example:443/orders",
                "https://api.example/orders",
            ),
            ("https://api.example:/orders", "https://api.example/orders"),
            (
                "https://api.example:0443/orders",
                "https://api.example/orders",
            ),
            ("http://api.example:80", "http://api.example/"),
            ("https://api.example", "https://api.example/"),
            ("https://api.example/%6Frders", "https://api.example/orders"),
            ("https://api.example/a%2fb", "https://api.example/a%2Fb"),
            ("https://api.example/a/./b/../c", "https://api.example/a/c"),
            ("https://api.example/a/b/..", "https://api.example/a/"),
            ("https://api.example/../../a", "https://api.example/a"),
            (
                "https://api.example/orders?page=2",
                "https://api.example/orders",
            ),
            (
                "https://api.example/orders#top",
                "https://api.example/orders",
            ),
            ("https://[::1]:8443/x", "https://[::1]:8443/x"),
            ("https://[::1]:443/x", "https://[::1]/x"),
            ("https://%41PI.example/", "https://api.example/"),
            ("https://a%c3%a9.example/", "https://a%C3%A9.example/"),
        ];
        for (written, normal) in same {
            assert_eq!(normalize(written).as_deref(), Some(normal), "{written}");
        }
    }

    #[test]
    fn different_uris_stay_apart() {
        let pairs = [
            ("https://api.example/orders", "http://api.example/orders"),
            (
                "https://api.example/orders",
                "https://api.example:8443/orders",
            ),
            ("https://api.example/Orders", "https://api.example/orders"),
            ("https://api.example/orders/", "https://api.example/orders"),
            ("https://api.example/a%2Fb", "https://api.example/a/b"),
        ];
        for (a, b) in pairs {
            assert_ne!(normalize(a), normalize(b), "{a} and {b}");
        }
    }

    #[test]
    fn not_http_uris_are_refused() {
        for uri in [
            "",
            "/orders",
            "api.example/orders",
            "ftp://api.example/orders",
            "https:///orders",
            "https://user@api.example/orders",
            "https://api.example:https/orders",
            "https://api.example:99999/orders",
            "https://api.example/%zz",
            "https://api.example/%4",
            "https://[::1/orders",
        ] {
            assert_eq!(normalize(uri), None, "{uri:?}");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::normalize;

    proptest! {
        /// Normalizing twice changes nothing, and the result is again an `http(s)`
        /// URI that normalizes: comparisons are between fixed points.
        #[test]
        fn normalizing_is_idempotent(
            scheme in "(?i)https?",
            host in "([a-zA-Z0-9.-]|%[0-9a-fA-F]{2}){1,8}|\\[[0-9a-f:]{2,10}\\]",
            port in proptest::option::of("[0-9]{0,6}"),
            path in "(/([a-zA-Z0-9._~!$&'()*+,;=:@-]|%[0-9a-fA-F]{2}|\\.\\.?){0,4}){0,5}",
            rest in "[?#]?[ -~]{0,8}",
        ) {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let uri = format!("{scheme}://{host}{port}{path}{rest}");
            if let Some(once) = normalize(&uri) {
                let twice = normalize(&once);
                prop_assert_eq!(twice.as_deref(), Some(once.as_str()), "{}", uri);
            }
        }

        /// Any text at all: an answer, never a panic.
        #[test]
        fn any_text_is_answered(text in "\\PC{0,40}") {
            let _ = normalize(&text);
        }
    }
}
