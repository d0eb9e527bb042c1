//! Routing by host, then by method and path: the most specific host first (exact, then
//! the longest `*.suffix`, then routes for any host), and within one the path rules of
//! [`Router`]. A request whose host's routes match none of its paths falls through to
//! less specific hosts' routes; a route for any host serves every host.

use std::collections::HashMap;

use http::{HeaderMap, Method, Uri};

use crate::config::{HostMatch, RouteConfig};
use crate::respond::Refusal;
use crate::router::Router;

/// The routes of one host (or of any host), with their indexes in the configuration.
#[derive(Debug)]
struct Table {
    router: Router,
    routes: Vec<usize>,
}

impl Table {
    fn new(routes: &[RouteConfig], indexes: Vec<usize>) -> Table {
        let router = Router::from_paths(indexes.iter().map(|&i| {
            let route = &routes[i];
            (route.path.clone(), route.methods.clone())
        }));
        Table {
            router,
            routes: indexes,
        }
    }

    fn find(&self, method: &Method, path: &str) -> Option<usize> {
        self.router
            .find(method, path)
            .and_then(|i| self.routes.get(i).copied())
    }
}

/// The compiled routing table, by host.
#[derive(Debug)]
pub(crate) struct HostRouter {
    exact: HashMap<String, Table>,
    /// Longest suffix first.
    suffixes: Vec<(String, Table)>,
    any: Table,
}

impl HostRouter {
    pub(crate) fn new(routes: &[RouteConfig]) -> HostRouter {
        let mut exact: HashMap<String, Vec<usize>> = HashMap::new();
        let mut suffixes: Vec<(String, Vec<usize>)> = Vec::new();
        let mut any = Vec::new();
        for (index, route) in routes.iter().enumerate() {
            match &route.host {
                None => any.push(index),
                Some(HostMatch::Exact(host)) => exact.entry(host.clone()).or_default().push(index),
                Some(HostMatch::Suffix(suffix)) => {
                    match suffixes.iter_mut().find(|(s, _)| s == suffix) {
                        Some((_, indexes)) => indexes.push(index),
                        None => suffixes.push((suffix.clone(), vec![index])),
                    }
                }
            }
        }
        suffixes.sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
        HostRouter {
            exact: exact
                .into_iter()
                .map(|(host, indexes)| (host, Table::new(routes, indexes)))
                .collect(),
            suffixes: suffixes
                .into_iter()
                .map(|(suffix, indexes)| (suffix, Table::new(routes, indexes)))
                .collect(),
            any: Table::new(routes, any),
        }
    }

    /// Whether any route names a host (if none does, the host is never read).
    fn by_host(&self) -> bool {
        !self.exact.is_empty() || !self.suffixes.is_empty()
    }

    /// The route for a request, by its host (`uri`'s authority, else `Host`), method
    /// and path: `Ok(None)` when none matches. Refused when routes name hosts and the
    /// request names two (an HTTP/2 `:authority`, or an HTTP/1.1 absolute URI, beside a
    /// different `Host`): the gateway and the upstream could each believe another.
    pub(crate) fn find(
        &self,
        uri: &Uri,
        headers: &HeaderMap,
        method: &Method,
        path: &str,
    ) -> Result<Option<usize>, Refusal> {
        if self.by_host()
            && let Some(host) = request_host(uri, headers)?
        {
            let host = host.as_str();
            if let Some(index) = self.exact.get(host).and_then(|t| t.find(method, path)) {
                return Ok(Some(index));
            }
            for (suffix, table) in &self.suffixes {
                if host.len() > suffix.len()
                    && host.ends_with(suffix.as_str())
                    && let Some(index) = table.find(method, path)
                {
                    return Ok(Some(index));
                }
            }
        }
        Ok(self.any.find(method, path))
    }
}

/// The host a request is for, as routes compare it: lower case, without the port or a
/// trailing dot. `None` when there is none, or it is not a host name; refused when the
/// request target and `Host` both name one and they differ.
fn request_host(uri: &Uri, headers: &HeaderMap) -> Result<Option<String>, Refusal> {
    let normal = |host: &str| {
        let host = host.strip_suffix('.').unwrap_or(host);
        (!host.is_empty()).then(|| host.to_ascii_lowercase())
    };
    let from_header = headers
        .get(http::header::HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<http::uri::Authority>().ok())
        .and_then(|authority| normal(authority.host()));
    match uri
        .authority()
        .and_then(|authority| normal(authority.host()))
    {
        None => Ok(from_header),
        Some(target) => match from_header {
            Some(header) if header != target => Err(Refusal::AmbiguousHost),
            _ => Ok(Some(target)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(router: &HostRouter, host: &str, path: &str) -> Option<usize> {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, host.parse().unwrap());
        router
            .find(&Uri::from_static("/"), &headers, &Method::GET, path)
            .unwrap()
    }

    #[test]
    fn the_most_specific_host_wins_then_any_host() {
        let config = crate::Config::from_toml(
            r#"
            [server]
            listen = ["127.0.0.1:0"]
            [upstream]
            url = "http://127.0.0.1:9"
            [[routes]]
            path_prefix = "/"
            require = "anonymous"
            [[routes]]
            path_prefix = "/"
            host = "*.example.com"
            require = "anonymous"
            [[routes]]
            path_prefix = "/"
            host = "*.eu.example.com"
            require = "anonymous"
            [[routes]]
            path = "/only"
            host = "API.example.com"
            require = "anonymous"
            "#,
            "test.toml",
        )
        .unwrap();
        let router = HostRouter::new(&config.routes);
        assert_eq!(find(&router, "api.example.com", "/only"), Some(3));
        assert_eq!(find(&router, "API.Example.com.:8443", "/only"), Some(3));
        // The exact host has no route for this path: the wildcard's.
        assert_eq!(find(&router, "api.example.com", "/other"), Some(1));
        assert_eq!(find(&router, "a.eu.example.com", "/x"), Some(2));
        assert_eq!(find(&router, "a.b.example.com", "/x"), Some(1));
        // A wildcard never matches the domain itself.
        assert_eq!(find(&router, "example.com", "/x"), Some(0));
        assert_eq!(find(&router, "other.test", "/x"), Some(0));
        // HTTP/2's :authority (the URI's) is the host.
        let uri: Uri = "https://api.example.com/only".parse().unwrap();
        assert_eq!(
            router.find(&uri, &HeaderMap::new(), &Method::GET, "/only"),
            Ok(Some(3))
        );
        // Two hosts named: refused, whichever the routes would pick.
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, "other.test".parse().unwrap());
        assert_eq!(
            router.find(&uri, &headers, &Method::GET, "/only"),
            Err(Refusal::AmbiguousHost)
        );
        headers.insert(http::header::HOST, "API.example.com:443".parse().unwrap());
        assert_eq!(
            router.find(&uri, &headers, &Method::GET, "/only"),
            Ok(Some(3))
        );
    }
}
