//! Route matching, compiled once at start-up.
//!
//! A route matches when both its method set and its path match. Among the routes that
//! match, the most specific kind wins: **exact** paths, then **patterns** (those with
//! more literal segments first, then in file order), then the **longest prefix**. Within
//! one kind, the first route in the file wins. A request no route matches is denied.
//!
//! Paths are compared in RFC 3986 §6.2.2 normal form, both the configured ones and the
//! request's: a percent-encoded unreserved character is the character (`/%61dmin` is
//! `/admin`, as the upstream will read it), and other escapes have upper-case hex.

use std::borrow::Cow;
use std::collections::HashMap;

use http::Method;

/// How a route's path is matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The path itself, and nothing else.
    Exact(String),
    /// Matches the prefix itself and anything below it on a segment boundary: `/api`
    /// matches `/api` and `/api/x` but not `/apix`. A prefix ending in `/` matches
    /// anything starting with it.
    Prefix(String),
    /// Segments, each a literal or a `{param}`.
    Pattern(Vec<Segment>),
}

/// One segment of a [`PathMatch::Pattern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// This segment exactly.
    Literal(String),
    /// `{name}`: any one non-empty segment.
    Param,
}

fn check_path(path: &str) -> Result<(), String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with '/'"));
    }
    if let Some(reason) = unsafe_path(path) {
        return Err(format!("{path:?}: {reason}"));
    }
    Ok(())
}

impl PathMatch {
    /// An exact path, checked as configuration is.
    ///
    /// # Errors
    /// The reason the path is refused.
    pub fn exact(path: &str) -> Result<PathMatch, String> {
        check_path(path)?;
        if path.contains(['{', '}']) {
            return Err(format!(
                "{path:?} has braces; use path_pattern for parameters"
            ));
        }
        Ok(PathMatch::Exact(normalise(path).into_owned()))
    }

    /// A prefix, checked as configuration is.
    ///
    /// # Errors
    /// The reason the path is refused.
    pub fn prefix(path: &str) -> Result<PathMatch, String> {
        check_path(path)?;
        if path.contains(['{', '}']) {
            return Err(format!(
                "{path:?} has braces; use path_pattern for parameters"
            ));
        }
        Ok(PathMatch::Prefix(normalise(path).into_owned()))
    }

    /// A pattern with `{param}` segments, checked as configuration is.
    ///
    /// # Errors
    /// The reason the path is refused.
    pub fn pattern(path: &str) -> Result<PathMatch, String> {
        check_path(path)?;
        let path = normalise(path);
        let segments = path[1..]
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') && segment.ends_with('}') && segment.len() > 2 {
                    let name = &segment[1..segment.len() - 1];
                    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        return Ok(Segment::Param);
                    }
                }
                if segment.contains(['{', '}']) {
                    return Err(format!(
                        "segment {segment:?}: a parameter is a whole segment like {{id}}"
                    ));
                }
                Ok(Segment::Literal(segment.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if !segments.contains(&Segment::Param) {
            return Err(format!("{path:?} has no {{param}}; use path instead"));
        }
        Ok(PathMatch::Pattern(segments))
    }
}

/// Why a request path is refused before routing, if it is: paths the upstream might
/// normalise differently from the gateway (dot segments, encoded slashes), so that a
/// rule for `/admin` cannot be walked around with `/public/../admin`.
pub fn unsafe_path(path: &str) -> Option<&'static str> {
    if path.contains('\\') {
        return Some("backslashes are refused");
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Some("dot segments are refused");
    }
    // Per request: compared in place, case-insensitively, without a lowercase copy.
    let encoded = |w: &[u8]| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'f') | (b'5', b'c') | (b'2', b'e') | (b'0', b'0')
            )
    };
    if path.as_bytes().windows(3).any(encoded) {
        return Some("encoded slashes, dots or NUL are refused");
    }
    None
}

/// The compiled routing table.
#[derive(Debug)]
pub struct Router {
    exact: HashMap<String, Vec<usize>>,
    /// Sorted: more literal segments first, then file order.
    patterns: Vec<(Vec<Segment>, usize)>,
    /// Sorted: longest first, then file order.
    prefixes: Vec<(String, usize)>,
    methods: Vec<Option<Vec<Method>>>,
}

impl Router {
    /// A table of routes given by path and methods (`None`: any method), in file
    /// order; [`Router::find`] answers with indexes into it.
    pub fn from_paths(
        routes: impl IntoIterator<Item = (PathMatch, Option<Vec<Method>>)>,
    ) -> Router {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut patterns = Vec::new();
        let mut prefixes = Vec::new();
        let mut methods = Vec::new();
        for (index, (path, route_methods)) in routes.into_iter().enumerate() {
            match path {
                PathMatch::Exact(path) => exact.entry(path).or_default().push(index),
                PathMatch::Pattern(segments) => patterns.push((segments, index)),
                PathMatch::Prefix(prefix) => prefixes.push((prefix, index)),
            }
            methods.push(route_methods);
        }
        patterns.sort_by_key(|(segments, index)| {
            let literals = segments
                .iter()
                .filter(|s| matches!(s, Segment::Literal(_)))
                .count();
            (usize::MAX - literals, *index)
        });
        prefixes.sort_by_key(|(prefix, index)| (usize::MAX - prefix.len(), *index));
        Router {
            exact,
            patterns,
            prefixes,
            methods,
        }
    }

    fn method_ok(&self, index: usize, method: &Method) -> bool {
        self.methods[index]
            .as_ref()
            .is_none_or(|methods| methods.contains(method))
    }

    /// The index of the route for this request, if any.
    pub fn find(&self, method: &Method, path: &str) -> Option<usize> {
        let path = &*normalise(path);
        if let Some(candidates) = self.exact.get(path)
            && let Some(index) = candidates.iter().find(|i| self.method_ok(**i, method))
        {
            return Some(*index);
        }
        if !self.patterns.is_empty() {
            let count = path.split('/').count() - 1;
            for (segments, index) in &self.patterns {
                if segments.len() == count
                    && self.method_ok(*index, method)
                    && pattern_matches(segments, path)
                {
                    return Some(*index);
                }
            }
        }
        self.prefixes
            .iter()
            .find(|(prefix, index)| prefix_matches(prefix, path) && self.method_ok(*index, method))
            .map(|(_, index)| *index)
    }
}

/// RFC 3986 §6.2.2.1 and §6.2.2.2: percent-encoded unreserved characters decoded,
/// other escapes with upper-case hex digits. An upstream reads `/%61dmin` as `/admin`;
/// matched as written, it would miss the rules for `/admin` and fall to a looser route.
/// Borrows when there is nothing to change, as for almost every request.
fn normalise(path: &str) -> Cow<'_, str> {
    let bytes = path.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut i = memchr_percent(bytes, 0);
    while let Some(at) = i {
        let (Some(&hi), Some(&lo)) = (bytes.get(at + 1), bytes.get(at + 2)) else {
            break;
        };
        if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() {
            let byte = hex(hi) << 4 | hex(lo);
            let unreserved =
                byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~');
            if unreserved || hi.is_ascii_lowercase() || lo.is_ascii_lowercase() {
                out.push_str(&path[copied..at]);
                if unreserved {
                    out.push(char::from(byte));
                } else {
                    out.push('%');
                    out.push(char::from(hi.to_ascii_uppercase()));
                    out.push(char::from(lo.to_ascii_uppercase()));
                }
                copied = at + 3;
            }
            i = memchr_percent(bytes, at + 3);
        } else {
            i = memchr_percent(bytes, at + 1);
        }
    }
    if copied == 0 {
        return Cow::Borrowed(path);
    }
    out.push_str(&path[copied..]);
    Cow::Owned(out)
}

fn memchr_percent(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b == b'%')
        .map(|i| from + i)
}

fn hex(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => (digit | 0x20) - b'a' + 10,
    }
}

fn pattern_matches(segments: &[Segment], path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.split('/')
        .zip(segments)
        .all(|(actual, expected)| match expected {
            Segment::Literal(literal) => actual == literal,
            Segment::Param => !actual.is_empty(),
        })
}

fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => prefix.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(path: PathMatch, methods: Option<&[&str]>) -> (PathMatch, Option<Vec<Method>>) {
        (
            path,
            methods.map(|m| m.iter().map(|m| m.parse().unwrap()).collect()),
        )
    }

    #[test]
    fn precedence_exact_pattern_prefix() {
        let routes = [
            route(PathMatch::prefix("/api").unwrap(), None),
            route(PathMatch::prefix("/api/items").unwrap(), None),
            route(PathMatch::pattern("/api/items/{id}").unwrap(), None),
            route(PathMatch::exact("/api/items/special").unwrap(), None),
            route(PathMatch::pattern("/api/{kind}/{id}").unwrap(), None),
            route(PathMatch::exact("/api/items/42").unwrap(), Some(&["POST"])),
        ];
        let router = Router::from_paths(routes);
        let get = Method::GET;
        assert_eq!(router.find(&get, "/api/items/special"), Some(3));
        assert_eq!(router.find(&get, "/api/items/7"), Some(2));
        assert_eq!(router.find(&get, "/api/other/7"), Some(4));
        assert_eq!(router.find(&get, "/api/items"), Some(1));
        assert_eq!(router.find(&get, "/api/items/7/parts"), Some(1));
        assert_eq!(router.find(&get, "/api"), Some(0));
        assert_eq!(router.find(&get, "/apix"), None);
        assert_eq!(router.find(&get, "/"), None);
        // Method mismatch on the exact route falls through to the pattern.
        assert_eq!(router.find(&get, "/api/items/42"), Some(2));
        assert_eq!(router.find(&Method::POST, "/api/items/42"), Some(5));
    }

    #[test]
    fn empty_segment_does_not_fill_a_parameter() {
        let routes = [route(PathMatch::pattern("/u/{id}").unwrap(), None)];
        let router = Router::from_paths(routes);
        assert_eq!(router.find(&Method::GET, "/u/"), None);
        assert_eq!(router.find(&Method::GET, "/u/x"), Some(0));
    }

    #[test]
    fn unsafe_paths() {
        assert!(unsafe_path("/public/../admin").is_some());
        assert!(unsafe_path("/a/%2E%2E/b").is_some());
        assert!(unsafe_path("/a%2fb").is_some());
        assert!(unsafe_path("/a/./b").is_some());
        assert!(unsafe_path("/a/b.c/..d").is_none());
    }

    /// Found by the `router` fuzz target: `/%61dmin/users` fell through the `/admin`
    /// rule to the catch-all, while the upstream serves it as `/admin/users`.
    #[test]
    fn encoded_unreserved_characters_route_as_themselves() {
        let routes = [
            route(PathMatch::prefix("/admin").unwrap(), None),
            route(PathMatch::prefix("/").unwrap(), None),
            route(PathMatch::exact("/a%2ab/~x").unwrap(), None),
            route(PathMatch::pattern("/u/{id}/%7Eedit").unwrap(), None),
        ];
        let router = Router::from_paths(routes);
        let get = Method::GET;
        for path in [
            "/admin/users",
            "/%61dmin/users",
            "/%61%64%6D%69%6E",
            "/admi%6e",
        ] {
            assert_eq!(router.find(&get, path), Some(0), "{path}");
        }
        for path in ["/a%2Ab/~x", "/a%2ab/%7ex", "/%61%2A%62/%7E%78"] {
            assert_eq!(router.find(&get, path), Some(2), "{path}");
        }
        assert_eq!(router.find(&get, "/u/7/~edit"), Some(3));
        assert_eq!(router.find(&get, "/u/%37/%7eedit"), Some(3));
        // Not an escape, or not an unreserved one: left as it is.
        assert_eq!(router.find(&get, "/admin%"), Some(1));
        assert_eq!(router.find(&get, "/admin%6"), Some(1));
        assert_eq!(router.find(&get, "/adm%zzin"), Some(1));
        assert_eq!(router.find(&get, "/admin%2Fx"), Some(1));
        assert_eq!(normalise("/a%20b%2f%41%4a"), "/a%20b%2FAJ");
        assert!(matches!(normalise("/plain/path%20"), Cow::Borrowed(_)));
    }

    #[test]
    fn bad_patterns() {
        assert!(PathMatch::pattern("/a/x{id}").is_err());
        assert!(PathMatch::pattern("/a/b").is_err());
        assert!(PathMatch::exact("a").is_err());
        assert!(PathMatch::exact("/a/{id}").is_err());
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn router() -> Router {
            Router::from_paths([
                route(PathMatch::exact("/a/b").unwrap(), None),
                route(PathMatch::pattern("/a/{x}").unwrap(), Some(&["GET"])),
                route(PathMatch::prefix("/a").unwrap(), None),
                route(PathMatch::prefix("/z/").unwrap(), None),
            ])
        }

        proptest! {
            /// Paths are drawn as a head that reaches each route's boundary (or just
            /// misses it) and a random tail, so every arm below is reached often.
            #[test]
            fn matching_never_panics_and_respects_boundaries(
                head in prop::sample::select(vec!["", "/", "/a", "/a/", "/a/b", "/a/b/", "/ab", "/z", "/z/", "/zz/"]),
                tail in "[/a-z%.{}]{0,16}",
                get in any::<bool>(),
            ) {
                let router = router();
                let path = format!("{head}{tail}");
                let method = if get { Method::GET } else { Method::POST };
                let _ = unsafe_path(&path);
                let _ = PathMatch::pattern(&path);
                let _ = PathMatch::prefix(&path);
                let under_a = path == "/a" || path.starts_with("/a/");
                let one_segment_under_a = path
                    .strip_prefix("/a/")
                    .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'));
                let found = router.find(&method, &path);
                match found {
                    Some(0) => prop_assert_eq!(path.as_str(), "/a/b"),
                    Some(1) => prop_assert!(get && one_segment_under_a && path != "/a/b"),
                    Some(2) => prop_assert!(under_a && !(get && one_segment_under_a) && path != "/a/b"),
                    Some(3) => prop_assert!(path.starts_with("/z/")),
                    None => prop_assert!(!under_a && !path.starts_with("/z/")),
                    Some(other) => prop_assert!(false, "no route {}", other),
                }
                // And the other way round: the most specific route that applies wins.
                if path == "/a/b" {
                    prop_assert_eq!(found, Some(0));
                } else if get && one_segment_under_a {
                    prop_assert_eq!(found, Some(1));
                }
            }

            #[test]
            fn dot_segments_are_always_caught(prefix in "[a-z/]{0,8}", suffix in "[a-z/]{0,8}", dots in prop::sample::select(vec!["..", ".", "%2e%2e", "%2E.", ".%2e"])) {
                let path = format!("/{prefix}/{dots}/{suffix}");
                prop_assert!(unsafe_path(&path).is_some(), "{}", path);
            }
        }
    }
}
