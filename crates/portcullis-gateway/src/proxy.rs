//! One request through the gateway: operations endpoints, routing, authentication,
//! header rewriting, and the hop to the upstream.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use base64::Engine as _;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use portcullis::grpc::is_grpc;
use portcullis::{Authentication, MetadataService, RejectionKind, RequireScopes};
use portcullis_jwt::Claims;
use tower_service::Service;

use crate::access_log::{AccessRecord, IdentitySlot, RecordIdentity};
use crate::auth::IssuerSet;
use crate::config::{Config, ForwardConfig, UpstreamProtocol};
use crate::metrics::{Metrics, Reason};
use crate::respond::{self, Refusal};
use crate::router::{Router, unsafe_path};
use crate::{Body, BoxError};

/// The hop to the upstream: clients and the configuration. GatewayState by every route.
#[derive(Debug)]
pub(crate) struct ProxyCore {
    pub(crate) config: Config,
    http1: Client<HttpConnector, Body>,
    http2: Client<HttpConnector, Body>,
}

impl ProxyCore {
    pub(crate) fn new(config: Config) -> ProxyCore {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(config.upstream.connect_timeout));
        connector.set_nodelay(true);
        let http1 = Client::builder(TokioExecutor::new()).build(connector.clone());
        let http2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        ProxyCore {
            config,
            http1,
            http2,
        }
    }

    /// The gateway's own refusal, tagged with its reason for the metrics.
    fn refuse(&self, rejection: Refusal, grpc: bool) -> Response<Body> {
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
}

impl Proxy {
    pub(crate) fn new(core: Arc<ProxyCore>, anonymous: bool) -> Proxy {
        Proxy { core, anonymous }
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
            Ok(match forward(&core, request, claims.as_ref(), grpc).await {
                Ok(mut response) => {
                    response.extensions_mut().insert(Outcome(reason));
                    response
                }
                Err(rejection) => core.refuse(rejection, grpc),
            })
        })
    }
}

/// An authenticated route: authentication, then the route's requirement (scopes and
/// claim conditions; trivially satisfied when the route sets none), then the proxy.
pub(crate) type Protected = Authentication<RecordIdentity<RequireScopes<Proxy>>, IssuerSet>;

/// One route's service.
#[derive(Debug, Clone)]
pub(crate) enum RouteService {
    Anonymous(Proxy),
    Protected(Protected),
}

async fn call<S, R>(mut service: S, request: Request<Incoming>) -> R
where
    S: Service<Request<Incoming>, Response = R, Error = Infallible>,
{
    let ready = std::future::poll_fn(|cx| service.poll_ready(cx)).await;
    let result = match ready {
        Ok(()) => service.call(request).await,
        Err(never) => match never {},
    };
    match result {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub(crate) struct GatewayState {
    pub(crate) core: Arc<ProxyCore>,
    pub(crate) router: Router,
    pub(crate) routes: Vec<RouteService>,
    /// The RFC 9728 document, when configured.
    pub(crate) metadata: Option<MetadataService>,
    pub(crate) issuers: IssuerSet,
    pub(crate) metrics: Metrics,
    /// Whether `/healthz`, `/readyz` and `/metrics` are served on the main listeners.
    pub(crate) operations_on_main: bool,
}

/// The operations endpoints.
pub(crate) fn operations(shared: &GatewayState, path: &str) -> Option<Response<Body>> {
    match path {
        "/healthz" => Some(respond::plain(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            "ok\n",
        )),
        "/readyz" => {
            let waiting = shared.issuers.not_ready();
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
            shared.metrics.render(
                shared.issuers.not_ready().is_empty(),
                &shared.issuers.counters(),
            ),
        )),
        _ => None,
    }
}

/// The operations listener's service.
pub(crate) async fn handle_operations(
    shared: Arc<GatewayState>,
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

/// Why a response was what it was, from its extensions.
fn reason_of(response: &Response<Body>) -> Reason {
    if let Some(Outcome(reason)) = response.extensions().get::<Outcome>() {
        return *reason;
    }
    match response.extensions().get::<portcullis::Rejection>() {
        Some(rejection) => match rejection.kind() {
            RejectionKind::MissingToken => Reason::MissingToken,
            RejectionKind::InvalidToken => Reason::InvalidToken,
            RejectionKind::InsufficientScope => Reason::InsufficientScope,
            RejectionKind::InsufficientClaims => Reason::ClaimMismatch,
            RejectionKind::Unavailable => Reason::IssuerUnavailable,
            _ => Reason::InvalidRequest,
        },
        None => Reason::InvalidRequest,
    }
}

/// The main listeners' service.
pub(crate) async fn handle(
    shared: Arc<GatewayState>,
    mut request: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let start = Instant::now();
    if shared.operations_on_main
        && let Some(response) = operations(&shared, request.uri().path())
    {
        return Ok(response);
    }
    if let (Some(resource), Some(metadata)) =
        (&shared.core.config.protected_resource, &shared.metadata)
        && request.uri().path() == resource.path
    {
        let response = call(metadata.clone(), request).await;
        return Ok(response.map(|body| body.map_err(|never| match never {}).boxed()));
    }
    // Only what the access log reads is kept: the method and the path, never the query.
    let access = shared.core.config.access_log.then(|| {
        let slot = IdentitySlot::default();
        request.extensions_mut().insert(slot.clone());
        (
            request.method().clone(),
            request.uri().path().to_owned(),
            slot,
        )
    });
    let grpc = is_grpc(request.headers());
    let path = request.uri().path();
    let route = if let Some(why) = unsafe_path(path) {
        Err(Refusal::BadPath(why))
    } else {
        shared
            .router
            .find(request.method(), path)
            .ok_or(Refusal::NoRoute)
    };
    let (route, response) = match route {
        Err(rejection) => (None, shared.core.refuse(rejection, grpc)),
        Ok(index) => {
            request.extensions_mut().insert(ClientAddr(peer));
            let response = match shared.routes[index].clone() {
                RouteService::Anonymous(service) => call(service, request).await,
                RouteService::Protected(service) => call(service, request).await,
            };
            (Some(index), response)
        }
    };
    let reason = reason_of(&response);
    let elapsed = start.elapsed();
    shared.metrics.record(route, reason, elapsed);
    let route_name = route
        .and_then(|i| shared.core.config.routes.get(i))
        .map_or("", |r| r.name.as_str());
    let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if let Some((method, path, identity)) = &access {
        AccessRecord {
            method,
            path,
            client: peer.ip(),
            route: route_name,
            decision: reason.decision(),
            reason: reason.label(),
            status: response.status().as_u16(),
            elapsed_us,
            identity: identity.claims(),
        }
        .log();
    }
    if reason.decision() == "allow" {
        tracing::debug!(
            route = route_name,
            decision = "allow",
            reason = reason.label(),
            status = response.status().as_u16(),
            elapsed_us,
            "request"
        );
    } else {
        tracing::info!(
            route = route_name,
            decision = reason.decision(),
            reason = reason.label(),
            grpc,
            elapsed_us,
            "request refused"
        );
    }
    Ok(response)
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
    // Claim headers and their look-alikes (`x_auth_subject` for `x-auth-subject`). An
    // empty Vec does not allocate, so a clean request pays only the comparisons.
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| forward.is_spoofed(name))
        .cloned()
        .collect();
    for name in spoofed {
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
    core: &ProxyCore,
    request: Request<Incoming>,
    claims: Option<&Claims>,
    grpc: bool,
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
    let (mut parts, body) = request.into_parts();
    let uri = upstream_uri(config, &parts.uri).ok_or(Refusal::UpstreamError)?;
    let original_host = parts.headers.remove(header::HOST).or_else(|| {
        parts
            .uri
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    });
    rewrite_headers(&mut parts.headers, &config.forward, claims);
    if let Some(peer) = peer {
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
    let client = if use_http2 { &core.http2 } else { &core.http1 };
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
    fn look_alike_claim_headers_go() {
        let forward = ForwardConfig {
            forward_authorization: false,
            claims: vec![
                ("sub".to_owned(), HeaderName::from_static("x-auth-subject")),
                ("tid".to_owned(), HeaderName::from_static("x_tenant")),
            ],
            array_separator: ",".to_owned(),
            payload_header: Some(HeaderName::from_static("x-auth-claims")),
        };
        let mut headers = HeaderMap::new();
        for name in [
            "x-auth-subject",
            "x_auth_subject",
            "x_auth-subject",
            "X_AUTH_SUBJECT",
            "x-tenant",
            "x_tenant",
            "x_auth_claims",
            "x_forwarded_for",
            "x_forwarded_proto",
            "x-forwarded-host_",
        ] {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_static("spoof"),
            );
        }
        headers.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.1"));
        headers.insert("x_other", HeaderValue::from_static("kept"));
        rewrite_headers(&mut headers, &forward, None);
        let mut left: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        left.sort_unstable();
        assert_eq!(left, ["x-forwarded-for", "x-forwarded-host_", "x_other"]);
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
