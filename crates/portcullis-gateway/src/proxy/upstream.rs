//! The hop to the upstream: the route's innermost service, and the request sent on.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis::grpc::is_grpc;
use portcullis_jwt::Claims;
use tower_service::Service;

use super::headers::{rewrite_headers, strip_hop_by_hop};
use super::upgrade::{self, Tunnels};
use crate::config::{Config, ConfigFileError, UpstreamConfig, UpstreamProtocol, UpstreamTls};
use crate::metrics::Reason;
use crate::respond::Refusal;
use crate::{Body, BoxError};

/// The hop to the upstream: clients and the configuration. Shared by every route.
#[derive(Debug)]
pub(crate) struct ProxyCore {
    pub(crate) config: Config,
    /// One pair per upstream, as [`Config::upstreams`].
    clients: Vec<UpstreamClients>,
    /// The upgraded connections (WebSockets) of every route.
    pub(crate) tunnels: Tunnels,
}

/// An upstream's HTTP/1.1 and HTTP/2 clients, each with its own connection pool.
#[derive(Debug)]
struct UpstreamClients {
    http1: Client<UpstreamConnector, Body>,
    http2: Client<UpstreamConnector, Body>,
}

impl UpstreamClients {
    /// The clients for `upstream`; reads its CA and client certificate files.
    fn new(upstream: &UpstreamConfig) -> Result<UpstreamClients, ConfigFileError> {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(upstream.connect_timeout));
        connector.set_nodelay(true);
        // The scheme was checked with the configuration; TLS is decided per URL.
        connector.enforce_http(false);
        let tls = crate::tls::client_config(
            upstream.tls.as_ref().unwrap_or(&UpstreamTls::default()),
            &upstream.at,
        )?;
        // ALPN per client: `http/1.1` for one, `h2` (gRPC) for the other.
        let http1 = HttpsConnectorBuilder::new()
            .with_tls_config(tls.clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector.clone());
        let http2 = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http2()
            .wrap_connector(connector);
        Ok(UpstreamClients {
            http1: Client::builder(TokioExecutor::new()).build(http1),
            http2: Client::builder(TokioExecutor::new())
                .http2_only(true)
                .build(http2),
        })
    }
}

/// TCP, and TLS for `https://` upstreams.
type UpstreamConnector = HttpsConnector<HttpConnector>;

impl ProxyCore {
    /// The clients for every upstream; reads their CA and client certificate files.
    /// `tunnels` counts the upgraded connections per route; its signals, which outlive
    /// a reload, close them at shutdown.
    pub(crate) fn new(config: Config, tunnels: Tunnels) -> Result<ProxyCore, ConfigFileError> {
        let clients = config
            .upstreams
            .iter()
            .map(UpstreamClients::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ProxyCore {
            tunnels,
            config,
            clients,
        })
    }

    /// The gateway's own refusal, tagged with its reason for the metrics.
    pub(crate) fn refuse(&self, rejection: Refusal, grpc: bool) -> Response<Body> {
        let reason = rejection.reason();
        let mut response = rejection.into_response(grpc);
        response.extensions_mut().insert(Outcome(reason));
        response
    }
}

/// The client's address, put in the request's extensions for `X-Forwarded-For`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) SocketAddr);

/// How the gateway itself decided, in the response's extensions (the `portcullis`
/// layers put a `portcullis::Rejection` there when they refuse).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Outcome(pub(crate) Reason);

/// The innermost service of every route: forwards the request, with the verified
/// claims the authentication layer left in its extensions.
#[derive(Debug, Clone)]
pub(crate) struct Proxy {
    core: Arc<ProxyCore>,
    anonymous: bool,
    /// The route's index in the configuration: its upstream and path rewrite.
    route: usize,
}

impl Proxy {
    pub(crate) fn new(core: Arc<ProxyCore>, anonymous: bool, route: usize) -> Proxy {
        Proxy {
            core,
            anonymous,
            route,
        }
    }
}

impl Service<Request<Incoming>> for Proxy {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Incoming>) -> Self::Future {
        let core = self.core.clone();
        let anonymous = self.anonymous;
        let route = self.route;
        Box::pin(async move {
            let grpc = is_grpc(request.headers());
            let claims = if anonymous {
                None
            } else {
                request.extensions().get::<Claims>().cloned()
            };
            let reason = if anonymous {
                Reason::Anonymous
            } else {
                Reason::Authorized
            };
            let policy = core
                .config
                .routes
                .get(route)
                .and_then(|r| r.upgrade.as_ref());
            let forwarded = match upgrade::requested(&request, policy) {
                Some(asked) => upgrade::proxy(&core, route, policy, request, claims, asked).await,
                None => forward(&core, route, request, claims.as_ref(), grpc, None).await,
            };
            Ok(match forwarded {
                Ok(mut response) => {
                    response.extensions_mut().insert(Outcome(reason));
                    response
                }
                Err(rejection) => core.refuse(rejection, grpc),
            })
        })
    }
}

/// The upstream's URL for a request: its base path, then the request's path less the
/// route's `strip_prefix` segments, and the query.
fn upstream_uri(upstream: &UpstreamConfig, strip_segments: usize, original: &Uri) -> Option<Uri> {
    let path = strip_leading_segments(original.path(), strip_segments);
    let query = original.query().map_or(String::new(), |q| format!("?{q}"));
    let path_and_query = if upstream.base_path.is_empty() && strip_segments == 0 {
        original
            .path_and_query()
            .map_or("/", |pq| pq.as_str())
            .to_owned()
    } else {
        format!("{}{path}{query}", upstream.base_path)
    };
    Uri::builder()
        .scheme(upstream.scheme.clone())
        .authority(upstream.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .ok()
}

fn is_length_limit(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        current = e.source();
    }
    false
}

/// `path` without its first `count` segments: `/api/v1/x` less 1 is `/v1/x`, `/api`
/// less 1 is `/`. Segments are counted, not compared: the router matched the path in
/// normal form, so `/%61pi/x` (which it read as `/api/x`) loses `/%61pi` too.
fn strip_leading_segments(path: &str, count: usize) -> &str {
    let mut rest = path;
    for _ in 0..count {
        rest = match rest.get(1..).and_then(|after| after.find('/')) {
            Some(slash) => &rest[slash + 1..],
            None => "",
        };
    }
    if rest.is_empty() { "/" } else { rest }
}

/// Sends the request to its route's upstream and returns the response. With `upgrade`
/// (the protocols offered, which the route allows), the request asks the upstream to
/// switch, over HTTP/1.1, and a `101` keeps the headers that say to what.
pub(super) async fn forward(
    core: &ProxyCore,
    route: usize,
    request: Request<Incoming>,
    claims: Option<&Claims>,
    grpc: bool,
    upgrade: Option<&HeaderValue>,
) -> Result<Response<Body>, Refusal> {
    let config = &core.config;
    let peer = request.extensions().get::<ClientAddr>().map(|c| c.0);
    let limit = config.limits.max_request_body;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(Refusal::BodyTooLarge);
    }
    let over_tls = request
        .extensions()
        .get::<crate::tls::Terminated>()
        .is_some();
    let (mut parts, body) = request.into_parts();
    let route = config.routes.get(route).ok_or(Refusal::UpstreamError)?;
    let upstream = config
        .upstreams
        .get(route.upstream)
        .ok_or(Refusal::UpstreamError)?;
    let clients = core
        .clients
        .get(route.upstream)
        .ok_or(Refusal::UpstreamError)?;
    let uri =
        upstream_uri(upstream, route.strip_segments, &parts.uri).ok_or(Refusal::UpstreamError)?;
    let original_host = parts.headers.remove(header::HOST).or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    rewrite_headers(&mut parts.headers, &config.forward, claims);
    if let Some(peer) = peer {
        let forwarded_for = HeaderName::from_static("x-forwarded-for");
        let chain = match parts
            .headers
            .get(&forwarded_for)
            .and_then(|v| v.to_str().ok())
        {
            Some(previous) => format!("{previous}, {}", peer.ip()),
            None => peer.ip().to_string(),
        };
        if let Ok(value) = HeaderValue::try_from(chain) {
            parts.headers.insert(forwarded_for, value);
        }
    }
    parts.headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(if over_tls { "https" } else { "http" }),
    );
    if let Some(host) = original_host {
        parts
            .headers
            .insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    if let Some(protocols) = upgrade {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocols.clone());
    }
    let use_http2 = upgrade.is_none()
        && match upstream.protocol {
            UpstreamProtocol::Http2 => true,
            UpstreamProtocol::Http1 => false,
            UpstreamProtocol::Auto => grpc,
        };
    parts.version = if use_http2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    parts.uri = uri;
    let body: Body = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
        .map_err(BoxError::from)
        .boxed();
    let upstream_request = Request::from_parts(parts, body);
    let client = if use_http2 {
        &clients.http2
    } else {
        &clients.http1
    };
    let response = match tokio::time::timeout(
        config.limits.request_timeout,
        client.request(upstream_request),
    )
    .await
    {
        Err(_) => return Err(Refusal::UpstreamTimeout),
        Ok(Err(error)) => {
            if is_length_limit(&error) {
                return Err(Refusal::BodyTooLarge);
            }
            tracing::warn!(error = %error, "upstream request failed");
            return Err(Refusal::UpstreamError);
        }
        Ok(Ok(response)) => response,
    };
    let (mut parts, body) = response.into_parts();
    let switched_to = (upgrade.is_some() && parts.status == http::StatusCode::SWITCHING_PROTOCOLS)
        .then(|| parts.headers.get(header::UPGRADE).cloned())
        .flatten();
    strip_hop_by_hop(&mut parts.headers);
    if let Some(protocol) = switched_to {
        parts
            .headers
            .insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        parts.headers.insert(header::UPGRADE, protocol);
    }
    Ok(Response::from_parts(
        parts,
        body.map_err(BoxError::from).boxed(),
    ))
}

#[cfg(test)]
mod tests {
    use super::strip_leading_segments;

    #[test]
    fn leading_segments_are_counted_off() {
        for (path, count, stripped) in [
            ("/api/v1/x", 1, "/v1/x"),
            ("/api/v1/x", 2, "/x"),
            ("/api", 1, "/"),
            ("/api/", 1, "/"),
            ("/%61pi/x", 1, "/x"),
            ("/a/b", 0, "/a/b"),
            ("/a", 3, "/"),
        ] {
            assert_eq!(
                strip_leading_segments(path, count),
                stripped,
                "{path} less {count}"
            );
        }
    }
}
