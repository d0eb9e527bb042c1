//! Where a request carries its access token, and how it is taken out.
//!
//! RFC 6750 §2 defines three ways to send a bearer token. Only the `Authorization`
//! header is enabled by default. A custom header or a cookie can be added. The URI
//! query parameter is supported only because some clients (WebSocket handshakes,
//! server-sent events) cannot set headers: tokens in URLs end up in logs, browser
//! history and `Referer` headers, and RFC 9700 §4.3.2 says not to use it. The form
//! body method is not supported (it would mean buffering the body before routing).

use std::borrow::Cow;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderName, Uri};

/// Why a token that is not a `b64token` (or not UTF-8) is refused.
pub(crate) const MALFORMED_TOKEN: &str = "malformed bearer token";

/// One place a request may carry its token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenSource {
    /// `Authorization: Bearer <token>` (RFC 6750 §2.1). The scheme is case-insensitive,
    /// one or more spaces may follow it, the token must be a `b64token`, and exactly one
    /// `Authorization` header may be present.
    AuthorizationHeader,
    /// A custom header whose whole value is the token (no scheme), sent at most once.
    Header(HeaderName),
    /// A cookie with this name, sent at most once.
    Cookie(Box<str>),
    /// A URI query parameter (RFC 6750 §2.3 uses `access_token`). Discouraged: see the
    /// module documentation.
    Query(Box<str>),
}

/// What the request holds.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Extracted<'a> {
    /// No bearer credentials at all (possibly another scheme, such as Basic).
    None,
    /// One token, sent as a bearer token.
    Token(Cow<'a, str>),
    /// One token sent with `Authorization: DPoP` (RFC 9449 §7.1), when the layer
    /// accepts DPoP: a proof must come with it.
    DpopToken(Cow<'a, str>),
    /// The request is malformed (RFC 6750 `invalid_request`): repeated header,
    /// bad syntax, or a token sent in more than one way.
    Malformed(&'static str),
}

/// Takes the one access token out of a request, checking it is an RFC 6750
/// `b64token` (a token that is not is `Malformed`, so verifiers only see `b64token`s).
/// `Authorization: DPoP` counts only when `dpop` is true; otherwise it is another
/// scheme, as `Basic` is.
pub(crate) fn extract<'a>(
    sources: &[TokenSource],
    headers: &'a HeaderMap,
    uri: &'a Uri,
    dpop: bool,
) -> Extracted<'a> {
    let mut found = Extracted::None;
    for source in sources {
        let next = match source {
            TokenSource::AuthorizationHeader => from_authorization(headers, dpop),
            TokenSource::Header(name) => from_header(headers, name),
            TokenSource::Cookie(name) => from_cookie(headers, name),
            TokenSource::Query(name) => from_query(uri, name),
        };
        match next {
            Extracted::None => {}
            Extracted::Malformed(_) => return next,
            Extracted::Token(_) | Extracted::DpopToken(_) if !matches!(found, Extracted::None) => {
                return Extracted::Malformed("more than one access token in the request");
            }
            Extracted::Token(_) | Extracted::DpopToken(_) => found = next,
        }
    }
    found
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
///
/// Branch-free folds over the bytes, so the compiler vectorises them: this runs on every
/// request over tokens of a kilobyte or so.
pub(crate) fn is_b64token(token: &[u8]) -> bool {
    let padding = token.iter().rev().take_while(|&&b| b == b'=').count();
    let body = &token[..token.len() - padding];
    !body.is_empty()
        && body.iter().fold(0u8, |bad, &b| {
            let alpha = (b | 0x20).wrapping_sub(b'a') < 26;
            // '-', '.', '/' and the digits are one run of ASCII, 0x2D to 0x39: five
            // tests instead of eight.
            let dash_to_nine = b.wrapping_sub(b'-') < 13;
            bad | u8::from(!(alpha | dash_to_nine | (b == b'+') | (b == b'_') | (b == b'~')))
        }) == 0
}

fn from_authorization(headers: &HeaderMap, dpop: bool) -> Extracted<'_> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Extracted::None;
    };
    if values.next().is_some() {
        return Extracted::Malformed("more than one Authorization header");
    }
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(space) => (&bytes[..space], &bytes[space..]),
        None => (bytes, &[][..]),
    };
    let is_dpop = dpop && scheme.eq_ignore_ascii_case(b"dpop");
    if !is_dpop && !scheme.eq_ignore_ascii_case(b"bearer") {
        // Another scheme (Basic, DPoP when it is not accepted, ...): no credentials
        // here. RFC 6750 §3.1 says such a request gets a challenge without an error code.
        return Extracted::None;
    }
    let token = trim_ascii_spaces(rest);
    if token.is_empty() {
        return Extracted::Malformed("empty access token");
    }
    // RFC 9449 §7.1: the DPoP scheme's token has the syntax of a bearer token.
    match token_from_bytes(token) {
        Extracted::Token(token) if is_dpop => Extracted::DpopToken(token),
        other => other,
    }
}

fn from_header<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Extracted<'a> {
    let mut values = headers.get_all(name).iter();
    let Some(value) = values.next() else {
        return Extracted::None;
    };
    if values.next().is_some() {
        return Extracted::Malformed("token header repeated");
    }
    let token = trim_ascii_spaces(value.as_bytes());
    if token.is_empty() {
        return Extracted::Malformed("empty bearer token");
    }
    token_from_bytes(token)
}

fn from_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Extracted<'a> {
    let mut found = None;
    for value in headers.get_all(COOKIE) {
        for pair in value.as_bytes().split(|&b| b == b';') {
            let pair = trim_ascii_spaces(pair);
            let Some(eq) = pair.iter().position(|&b| b == b'=') else {
                continue;
            };
            if &pair[..eq] != name.as_bytes() {
                continue;
            }
            if found.is_some() {
                return Extracted::Malformed("token cookie repeated");
            }
            let mut token = &pair[eq + 1..];
            if token.len() >= 2 && token[0] == b'"' && token[token.len() - 1] == b'"' {
                token = &token[1..token.len() - 1];
            }
            found = Some(token);
        }
    }
    match found {
        None => Extracted::None,
        Some([]) => Extracted::Malformed("empty bearer token"),
        Some(token) => token_from_bytes(token),
    }
}

fn from_query<'a>(uri: &'a Uri, name: &str) -> Extracted<'a> {
    let Some(query) = uri.query() else {
        return Extracted::None;
    };
    let mut found = None;
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != name {
            continue;
        }
        if found.is_some() {
            return Extracted::Malformed("access token parameter repeated");
        }
        found = Some(value);
    }
    let Some(raw) = found else {
        return Extracted::None;
    };
    if raw.is_empty() {
        return Extracted::Malformed("empty bearer token");
    }
    if !raw.contains(['%', '+']) {
        return token_from_bytes(raw.as_bytes());
    }
    // application/x-www-form-urlencoded: `+` is a space, `%XX` a byte.
    let mut decoded = Vec::with_capacity(raw.len());
    let mut bytes = raw.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => decoded.push(b' '),
            b'%' => {
                let hex = [bytes.next(), bytes.next()];
                let [Some(hi), Some(lo)] = hex else {
                    return Extracted::Malformed("malformed access token parameter");
                };
                match (hex_value(hi), hex_value(lo)) {
                    (Some(hi), Some(lo)) => decoded.push(hi << 4 | lo),
                    _ => return Extracted::Malformed("malformed access token parameter"),
                }
            }
            _ => decoded.push(b),
        }
    }
    if !is_b64token(&decoded) {
        return Extracted::Malformed(MALFORMED_TOKEN);
    }
    match String::from_utf8(decoded) {
        Ok(token) => Extracted::Token(Cow::Owned(token)),
        Err(_) => Extracted::Malformed(MALFORMED_TOKEN),
    }
}

/// The value of one hexadecimal digit (either case).
pub(crate) fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn token_from_bytes(token: &[u8]) -> Extracted<'_> {
    if !is_b64token(token) {
        return Extracted::Malformed(MALFORMED_TOKEN);
    }
    match std::str::from_utf8(token) {
        Ok(token) => Extracted::Token(Cow::Borrowed(token)),
        Err(_) => Extracted::Malformed(MALFORMED_TOKEN),
    }
}

fn trim_ascii_spaces(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|&b| b != b' ').unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| b != b' ')
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// Not public API: the extraction, reachable for the `token_extraction` fuzz target and
/// its seed test (`fuzz/properties/token_extraction.rs`). May change in any release.
#[doc(hidden)]
pub mod fuzzing {
    use std::borrow::Cow;

    use http::{HeaderMap, Uri};

    use super::{Extracted, TokenSource};

    /// What the layer takes from a request: `Ok(None)` no bearer credentials,
    /// `Ok(Some(token))` one token (a `b64token`), `Err(reason)` an `invalid_request`.
    pub fn extract<'a>(
        sources: &[TokenSource],
        headers: &'a HeaderMap,
        uri: &'a Uri,
    ) -> Result<Option<Cow<'a, str>>, &'static str> {
        match super::extract(sources, headers, uri, false) {
            Extracted::None => Ok(None),
            Extracted::Token(token) | Extracted::DpopToken(token) => Ok(Some(token)),
            Extracted::Malformed(reason) => Err(reason),
        }
    }

    /// Whether `token` is an RFC 6750 `b64token`, as the layer checks it.
    pub fn is_b64token(token: &[u8]) -> bool {
        super::is_b64token(token)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn auth(values: &[&[u8]]) -> Extracted<'static> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        let headers = Box::leak(Box::new(headers));
        extract(
            &[TokenSource::AuthorizationHeader],
            headers,
            Box::leak(Box::new(Uri::from_static("/"))),
            false,
        )
    }

    fn auth_with_dpop(value: &'static [u8]) -> Extracted<'static> {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_bytes(value).unwrap());
        let headers = Box::leak(Box::new(headers));
        extract(
            &[TokenSource::AuthorizationHeader],
            headers,
            Box::leak(Box::new(Uri::from_static("/"))),
            true,
        )
    }

    #[test]
    fn the_dpop_scheme_counts_only_when_accepted() {
        assert_eq!(
            auth_with_dpop(b"DPoP abc.def"),
            Extracted::DpopToken(Cow::Owned("abc.def".into()))
        );
        assert_eq!(
            auth_with_dpop(b"dpop   abc"),
            Extracted::DpopToken(Cow::Owned("abc".into()))
        );
        assert_eq!(auth_with_dpop(b"Bearer abc"), token("abc"));
        assert!(matches!(
            auth_with_dpop(b"DPoP a b"),
            Extracted::Malformed(_)
        ));
        assert!(matches!(auth_with_dpop(b"DPoP"), Extracted::Malformed(_)));
        assert_eq!(auth_with_dpop(b"DPoPabc"), Extracted::None);
        assert_eq!(auth(&[b"DPoP abc"]), Extracted::None);
    }

    fn token(t: &str) -> Extracted<'static> {
        Extracted::Token(Cow::Owned(t.to_owned()))
    }

    #[test]
    fn authorization_header() {
        assert_eq!(auth(&[b"Bearer abc.def-_~+/=="]), token("abc.def-_~+/=="));
        assert_eq!(auth(&[b"bearer abc"]), token("abc"));
        assert_eq!(auth(&[b"BEARER    abc"]), token("abc"));
        assert_eq!(auth(&[]), Extracted::None);
        assert_eq!(auth(&[b"Basic dXNlcjpwYXNz"]), Extracted::None);
        assert_eq!(auth(&[b"Bearerabc"]), Extracted::None);
        assert!(matches!(auth(&[b"Bearer"]), Extracted::Malformed(_)));
        assert!(matches!(auth(&[b"Bearer   "]), Extracted::Malformed(_)));
        assert!(matches!(auth(&[b"Bearer a b"]), Extracted::Malformed(_)));
        assert!(matches!(auth(&[b"Bearer a=b"]), Extracted::Malformed(_)));
        assert!(matches!(
            auth(&[b"Bearer \xff\xfe"]),
            Extracted::Malformed(_)
        ));
        assert!(matches!(auth(&[b"Bearer a\tb"]), Extracted::Malformed(_)));
        assert!(matches!(
            auth(&[b"Bearer a", b"Bearer a"]),
            Extracted::Malformed(_)
        ));
        assert!(matches!(
            auth(&[b"Basic x", b"Bearer a"]),
            Extracted::Malformed(_)
        ));
    }

    #[test]
    fn b64token_syntax() {
        assert!(is_b64token(b"a"));
        assert!(is_b64token(b"a=="));
        assert!(!is_b64token(b"=="));
        assert!(!is_b64token(b""));
        assert!(!is_b64token(b"a=b"));
        assert!(!is_b64token(b"a\"b"));
        assert!(!is_b64token(b"a,b"));
        // Every byte, at the start, in the middle and at the end of a token, against
        // the grammar's character class written out.
        for b in 0..=255u8 {
            let allowed = b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
            for token in [[b, b'a', b'a'], [b'a', b, b'a'], [b'a', b'a', b]] {
                let padded_end = b == b'=' && token[2] == b'=';
                assert_eq!(is_b64token(&token), allowed || padded_end, "{token:?}");
            }
        }
    }

    #[test]
    fn other_sources() {
        let uri: Uri = "/x?a=1&access_token=tok%2Fen&b".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, HeaderValue::from_static("theme=dark; at=\"ck\""));
        headers.append("x-token", HeaderValue::from_static("hdr"));
        let query = [TokenSource::Query("access_token".into())];
        assert_eq!(extract(&query, &headers, &uri, false), token("tok/en"));
        let cookie = [TokenSource::Cookie("at".into())];
        assert_eq!(extract(&cookie, &headers, &uri, false), token("ck"));
        let header = [TokenSource::Header(HeaderName::from_static("x-token"))];
        assert_eq!(extract(&header, &headers, &uri, false), token("hdr"));
        // Two ways at once: invalid_request (RFC 6750 §3.1).
        let both = [cookie[0].clone(), header[0].clone()];
        assert!(matches!(
            extract(&both, &headers, &uri, false),
            Extracted::Malformed(_)
        ));
        headers.append(COOKIE, HeaderValue::from_static("at=again"));
        assert!(matches!(
            extract(&cookie, &headers, &uri, false),
            Extracted::Malformed(_)
        ));
        let repeated: Uri = "/?access_token=a&access_token=b".parse().unwrap();
        assert!(matches!(
            extract(&query, &headers, &repeated, false),
            Extracted::Malformed(_)
        ));
    }
}
