//! One request through the gateway: operations endpoints, routing, authentication,
//! header rewriting, and the hop to the upstream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis_issuer::VerifyErrorKind;
use portcullis_jwt::Claims;

use crate::auth::{self, Authenticate, Credentials, Shortfall};
use crate::config::{Config, ForwardConfig, Requirement, UpstreamProtocol};
use crate::metrics::{Metrics, Reason};
use crate::respond::{self, Rejection};
use crate::router::{Router, unsafe_path};
use crate::{Body, BoxError};

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) router: Router,
    pub(crate) auth: Arc<dyn Authenticate>,
    pub(crate) metrics: Metrics,
    /// Whether `/healthz`, `/readyz` and `/metrics` are served on the main listeners.
    pub(crate) operations_on_main: bool,
    http1: Client<HttpConnector, Body>,
    http2: Client<HttpConnector, Body>,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        auth: Arc<dyn Authenticate>,
        metrics: Metrics,
        operations_on_main: bool,
    ) -> Shared {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.upstream.connect_timeout));
        connector.set_nodelay(true);
        let http1 = Client::builder(TokioExecutor::new()).build(connector.clone());
        let http2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        Shared {
            router: Router::new(&config.routes),
            config,
            auth,
            metrics,
            operations_on_main,
            http1,
            http2,
        }
    }
}

/// `application/grpc`, `application/grpc+proto`, `application/grpc-web`...
fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The operations endpoints.
pub(crate) fn operations(shared: &Shared, path: &str) -> Option<Response<Body>> {
    match path {
        "/healthz" => Some(respond::plain(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n",
        )),
        "/readyz" => {
            let waiting = shared.auth.not_ready();
            Some(if waiting.is_empty() {
                respond::plain(StatusCode::OK, "text/plain; charset=utf-8", "ready\n")
            } else {
                respond::plain(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain; charset=utf-8",
                    format!(
                        "not ready: waiting for the keys of {}\n",
                        waiting.join(", ")
                    ),
                )
            })
        }
        "/metrics" => Some(respond::plain(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            shared
                .metrics
                .render(shared.auth.not_ready().is_empty(), &shared.auth.counters()),
        )),
        _ => None,
    }
}

/// The operations listener's service.
pub(crate) async fn handle_operations(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    Ok(
        operations(&shared, request.uri().path()).unwrap_or_else(|| {
            respond::plain(
                StatusCode::NOT_FOUND,
                "text/plain; charset=utf-8",
                "not found\n",
            )
        }),
    )
}

/// The main listeners' service.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let start = Instant::now();
    if shared.operations_on_main
        && let Some(response) = operations(&shared, request.uri().path())
    {
        return Ok(response);
    }
    if let Some(metadata) = &shared.config.protected_resource
        && request.uri().path() == metadata.path
    {
        return Ok(respond::plain(
            StatusCode::OK,
            "application/json",
            metadata.document.clone(),
        ));
    }
    let grpc = is_grpc(request.headers());
    let (route, outcome) = decide(&shared, &request).await;
    let (reason, response) = match outcome {
        Err(rejection) => (rejection.reason(), rejection),
        Ok((reason, claims)) => {
            match forward(&shared, request, claims.as_ref(), peer, grpc).await {
                Ok(response) => {
                    let elapsed = start.elapsed();
                    shared.metrics.record(route, reason, elapsed);
                    tracing::debug!(
                        route = route_name(&shared, route),
                        decision = "allow",
                        reason = reason.label(),
                        status = response.status().as_u16(),
                        elapsed_us = elapsed.as_micros() as u64,
                        "request"
                    );
                    return Ok(response);
                }
                Err(rejection) => (rejection.reason(), rejection),
            }
        }
    };
    let elapsed = start.elapsed();
    shared.metrics.record(route, reason, elapsed);
    tracing::info!(
        route = route_name(&shared, route),
        decision = reason.decision(),
        reason = reason.label(),
        grpc,
        elapsed_us = elapsed.as_micros() as u64,
        "request refused"
    );
    let metadata = shared
        .config
        .protected_resource
        .as_ref()
        .map(|m| m.url.as_str());
    Ok(response.into_response(&shared.config.realm, metadata, grpc))
}

fn route_name(shared: &Shared, route: Option<usize>) -> &str {
    route
        .and_then(|i| shared.config.routes.get(i))
        .map_or("", |r| r.name.as_str())
}

type Decision = Result<(Reason, Option<Claims>), Rejection>;

/// Routing and authentication: who may pass, and as whom.
async fn decide(shared: &Shared, request: &Request<Incoming>) -> (Option<usize>, Decision) {
    let path = request.uri().path();
    if let Some(why) = unsafe_path(path) {
        return (None, Err(Rejection::BadPath(why)));
    }
    let Some(index) = shared.router.find(request.method(), path) else {
        return (None, Err(Rejection::NoRoute));
    };
    let requirement = &shared.config.routes[index].requirement;
    if matches!(requirement, Requirement::Anonymous) {
        return (Some(index), Ok((Reason::Anonymous, None)));
    }
    let token = match auth::bearer(request.headers()) {
        Credentials::None => return (Some(index), Err(Rejection::MissingToken)),
        Credentials::Invalid(why) => return (Some(index), Err(Rejection::InvalidRequest(why))),
        Credentials::Bearer(token) => token,
    };
    let claims = match shared.auth.authenticate(token).await {
        Ok(claims) => claims,
        Err(error) => {
            let rejection = match error.kind() {
                VerifyErrorKind::Unavailable => Rejection::Unavailable(
                    error
                        .retry_after()
                        .unwrap_or(std::time::Duration::from_secs(5)),
                ),
                _ => Rejection::InvalidToken(error.description()),
            };
            return (Some(index), Err(rejection));
        }
    };
    match auth::check(requirement, &claims) {
        Ok(()) => (Some(index), Ok((Reason::Authorized, Some(claims)))),
        Err(Shortfall::Scope(scope)) => (Some(index), Err(Rejection::InsufficientScope(scope))),
        Err(Shortfall::Claim) => (Some(index), Err(Rejection::ClaimMismatch)),
    }
}

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    // `TE: trailers` is what gRPC needs end to end; any other TE is hop-by-hop.
    let te_trailers = headers
        .get(header::TE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    if !te_trailers {
        headers.remove(header::TE);
    }
}

/// Rewrites the inbound headers for the upstream: removes what clients must not set
/// (claim headers, always), strips or keeps `Authorization`, and adds claim headers.
pub(crate) fn rewrite_headers(
    headers: &mut HeaderMap,
    forward: &ForwardConfig,
    claims: Option<&Claims>,
) {
    strip_hop_by_hop(headers);
    for name in forward.owned_headers() {
        headers.remove(name);
    }
    if !forward.forward_authorization {
        headers.remove(header::AUTHORIZATION);
    }
    let Some(claims) = claims else { return };
    for (claim, name) in &forward.claims {
        if let Some(value) = claims
            .get(claim)
            .and_then(|v| claim_value(v, &forward.array_separator))
        {
            headers.insert(name.clone(), value);
        }
    }
    if let Some(name) = &forward.payload_header {
        let encoded =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.payload_json());
        if let Ok(value) = HeaderValue::try_from(encoded) {
            headers.insert(name.clone(), value);
        }
    }
}

/// A claim as a header value: strings as they are, arrays joined, objects as JSON.
/// `None` for null and for values a header cannot carry (control characters).
fn claim_value(value: &serde_json::Value, separator: &str) -> Option<HeaderValue> {
    fn scalar(value: &serde_json::Value) -> Option<String> {
        match value {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
    let text = match value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(scalar)
            .collect::<Vec<_>>()
            .join(separator),
        other => scalar(other)?,
    };
    HeaderValue::from_bytes(text.as_bytes()).ok()
}

fn upstream_uri(config: &Config, original: &Uri) -> Option<Uri> {
    let path_and_query = original.path_and_query().map_or("/", |pq| pq.as_str());
    let upstream = &config.upstream;
    let path_and_query = if upstream.base_path.is_empty() {
        path_and_query.to_owned()
    } else {
        format!("{}{path_and_query}", upstream.base_path)
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

/// Sends the request upstream and returns its response.
async fn forward(
    shared: &Shared,
    request: Request<Incoming>,
    claims: Option<&Claims>,
    peer: SocketAddr,
    grpc: bool,
) -> Result<Response<Body>, Rejection> {
    let config = &shared.config;
    let limit = config.limits.max_request_body;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(Rejection::BodyTooLarge);
    }
    let (mut parts, body) = request.into_parts();
    let uri = upstream_uri(config, &parts.uri).ok_or(Rejection::UpstreamError)?;
    let original_host = parts.headers.remove(header::HOST).or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    rewrite_headers(&mut parts.headers, &config.forward, claims);
    let forwarded_for = HeaderName::from_static("x-forwarded-for");
    let peer_ip = peer.ip().to_string();
    let chain = match parts
        .headers
        .get(&forwarded_for)
        .and_then(|v| v.to_str().ok())
    {
        Some(previous) => format!("{previous}, {peer_ip}"),
        None => peer_ip,
    };
    if let Ok(value) = HeaderValue::try_from(chain) {
        parts.headers.insert(forwarded_for, value);
    }
    parts.headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static("http"),
    );
    if let Some(host) = original_host {
        parts
            .headers
            .insert(HeaderName::from_static("x-forwarded-host"), host);
    }
    let use_http2 = match config.upstream.protocol {
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
        &shared.http2
    } else {
        &shared.http1
    };
    let response = match tokio::time::timeout(
        config.limits.request_timeout,
        client.request(upstream_request),
    )
    .await
    {
        Err(_) => return Err(Rejection::UpstreamTimeout),
        Ok(Err(error)) => {
            if is_length_limit(&error) {
                return Err(Rejection::BodyTooLarge);
            }
            tracing::warn!(error = %error, "upstream request failed");
            return Err(Rejection::UpstreamError);
        }
        Ok(Ok(response)) => response,
    };
    let (mut parts, body) = response.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    Ok(Response::from_parts(
        parts,
        body.map_err(BoxError::from).boxed(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_go() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        headers.insert("x-private", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("5"));
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert!(!headers.contains_key("x-private"));
        assert!(!headers.contains_key(header::CONNECTION));
        assert!(!headers.contains_key("keep-alive"));
        assert_eq!(headers[header::TE], "trailers");
        assert!(headers.contains_key("x-kept"));
        headers.insert(header::TE, HeaderValue::from_static("gzip"));
        strip_hop_by_hop(&mut headers);
        assert!(!headers.contains_key(header::TE));
    }

    #[test]
    fn claim_values_as_headers() {
        let json = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap();
        assert_eq!(claim_value(&json(r#""alice""#), ",").unwrap(), "alice");
        assert_eq!(claim_value(&json(r#"["a","b",3]"#), ",").unwrap(), "a,b,3");
        assert_eq!(claim_value(&json("true"), ",").unwrap(), "true");
        assert_eq!(claim_value(&json(r#"{"a":1}"#), ",").unwrap(), r#"{"a":1}"#);
        assert!(claim_value(&json("null"), ",").is_none());
        assert!(claim_value(&json(r#""a\nb""#), ",").is_none());
    }
}
