//! One request through the gateway: operations endpoints, routing, authentication,
//! and the route's service. `upstream` is the hop to the upstream, `headers` what the
//! upstream is sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use portcullis::grpc::is_grpc;
use portcullis::{
    Authentication, ClientCertificate, MetadataService, RejectionKind, RequireScopes,
};
use tower_http::cors::{Cors, CorsLayer};
use tower_layer::Layer as _;
use tower_service::Service;
use tracing::Instrument as _;
use tracing::field::Empty;

use crate::Body;
use crate::access_log::{AccessRecord, IdentitySlot, RecordIdentity};
use crate::auth::IssuerSet;
use crate::config::Config;
use crate::host_router::HostRouter;
use crate::metrics::{Metrics, Reason};
use crate::respond::{self, Refusal};
use crate::router::unsafe_path;

mod cors;
mod headers;
mod trace;
mod upgrade;
mod upstream;

pub(crate) use headers::insert_claim_headers;

pub(crate) use upgrade::{TunnelSignals, Tunnels};
pub(crate) use upstream::{ClientAddr, Outcome, Proxy, ProxyCore};

/// An authenticated route: authentication, then the route's requirement (scopes and
/// claim conditions; trivially satisfied when the route sets none), then the proxy.
pub(crate) type Protected = Authentication<RecordIdentity<RequireScopes<Proxy>>, IssuerSet>;

/// One route's service.
#[derive(Debug, Clone)]
pub(crate) enum RouteService {
    Anonymous(Proxy),
    Protected(Protected),
    /// Either, behind the route's CORS policy (`[routes.cors]`): preflights answered
    /// before authentication, every other answer (refusals too) given CORS headers.
    AnonymousCors(Cors<Proxy>),
    ProtectedCors(Cors<Protected>),
}

impl RouteService {
    /// The route's service with its CORS policy, if it has one.
    pub(crate) fn with_cors(self, cors: Option<&CorsLayer>) -> RouteService {
        let Some(cors) = cors else { return self };
        match self {
            RouteService::Anonymous(s) => RouteService::AnonymousCors(cors.layer(s)),
            RouteService::Protected(s) => RouteService::ProtectedCors(cors.layer(s)),
            with_cors => with_cors,
        }
    }
}

/// Drives an infallible tower service for one request.
pub(crate) async fn call<S, B, R>(mut service: S, request: Request<B>) -> R
where
    S: Service<Request<B>, Response = R, Error = Infallible>,
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

/// Where the gateway serves its RFC 9728 document, and the library's service for it.
#[derive(Debug)]
pub(crate) struct MetadataEndpoint {
    pub(crate) path: String,
    pub(crate) service: MetadataService,
}

/// Everything a request needs, shared by all connections.
#[derive(Debug)]
pub(crate) struct GatewayState {
    pub(crate) core: Arc<ProxyCore>,
    pub(crate) router: HostRouter,
    pub(crate) routes: Vec<RouteService>,
    /// The same routes ending in a decision instead of the upstream (`[decision]`;
    /// empty without it).
    pub(crate) decisions: Vec<crate::decision::DecisionRoute>,
    /// The RFC 9728 document, when configured.
    pub(crate) metadata: Option<MetadataEndpoint>,
    pub(crate) issuers: IssuerSet,
    pub(crate) metrics: Arc<Metrics>,
    /// Whether `/healthz`, `/readyz` and `/metrics` are served on the main listeners.
    pub(crate) operations_on_main: bool,
    /// The store shared by replicas (`[store]`).
    pub(crate) store: Option<crate::store::SharedStore>,
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
            let store = shared.store.as_ref().map_or("", |s| s.readiness());
            Some(if waiting.is_empty() {
                respond::plain(
                    StatusCode::OK,
                    "text/plain; charset=utf-8",
                    format!("ready\n{store}"),
                )
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
        "/metrics" => {
            let mut text = shared.metrics.render(
                shared.issuers.not_ready().is_empty(),
                &shared.issuers.counters(),
            );
            if let Some(store) = &shared.store {
                store.render_metrics(&mut text);
                shared.issuers.render_shared_tier(&mut text);
            }
            shared
                .core
                .tunnels
                .render(&mut text, &shared.core.config.routes);
            Some(respond::plain(
                StatusCode::OK,
                "text/plain; version=0.0.4; charset=utf-8",
                text,
            ))
        }
        _ => None,
    }
}

/// The operations listener's service.
pub(crate) async fn handle_operations(
    shared: Arc<GatewayState>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    // The admin endpoint is served on the operations listener only, never the main one.
    if request.uri().path() == crate::store::ADMIN_PATH
        && let Some(store) = &shared.store
    {
        return Ok(crate::store::handle_admin(store, request).await);
    }
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

/// What the access log keeps of a request: its method and path (never the query), and
/// where the layers leave the identity.
pub(crate) type AccessKept = (http::Method, String, IdentitySlot);

/// What every front door records of an answered request: the metrics, and the
/// access-log line when `access` was kept. Returns the reason, the route's name and
/// the elapsed microseconds, for the caller's own trace event.
pub(crate) fn record_answer<'a>(
    shared: &'a GatewayState,
    route: Option<usize>,
    start: Instant,
    response: &Response<Body>,
    access: Option<&AccessKept>,
    client: std::net::IpAddr,
    trace_id: &str,
) -> (Reason, &'a str, u64) {
    let reason = reason_of(response);
    let elapsed = start.elapsed();
    shared.metrics.record(route, reason, elapsed);
    let route_name = route
        .and_then(|i| shared.core.config.routes.get(i))
        .map_or("", |r| r.name.as_str());
    let elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
    if let Some((method, path, identity)) = access {
        AccessRecord {
            method,
            path,
            client,
            route: route_name,
            decision: reason.decision(),
            reason: reason.label(),
            status: response.status().as_u16(),
            elapsed_us,
            identity: identity.claims(),
            trace_id,
        }
        .log();
    }
    (reason, route_name, elapsed_us)
}

/// Why a response was what it was, from its extensions.
pub(crate) fn reason_of(response: &Response<Body>) -> Reason {
    if let Some(Outcome(reason)) = response.extensions().get::<Outcome>() {
        return *reason;
    }
    match response.extensions().get::<portcullis::Rejection>() {
        Some(rejection) => match rejection.kind() {
            RejectionKind::MissingToken => Reason::MissingToken,
            RejectionKind::InvalidToken => Reason::InvalidToken,
            RejectionKind::InvalidDpopProof => Reason::InvalidDpopProof,
            RejectionKind::UseDpopNonce => Reason::DpopNonceRequired,
            RejectionKind::InsufficientScope => Reason::InsufficientScope,
            RejectionKind::InsufficientClaims => Reason::ClaimMismatch,
            RejectionKind::InsufficientRole => Reason::InsufficientRole,
            RejectionKind::InsufficientUserAuthentication => Reason::InsufficientUserAuthentication,
            RejectionKind::Unavailable => Reason::IssuerUnavailable,
            _ => Reason::InvalidRequest,
        },
        None => Reason::InvalidRequest,
    }
}

impl GatewayState {
    /// The route of `request`, exactly as every front door picks it: ambiguous paths
    /// refused, the route table's match or `NoRoute`, then the client certificate a
    /// trusted proxy forwarded put in the request's extensions.
    pub(crate) fn route<B>(
        &self,
        request: &mut Request<B>,
        peer: SocketAddr,
    ) -> Result<usize, Refusal> {
        let path = request.uri().path();
        if let Some(why) = unsafe_path(path) {
            return Err(Refusal::BadPath(why));
        }
        let index = self.find_route(request)?.ok_or(Refusal::NoRoute)?;
        take_client_certificate(&self.core.config, request, peer)?;
        Ok(index)
    }
}

impl GatewayState {
    /// The route table's match for `request`. A CORS preflight asks about the method
    /// it names, so it goes to that method's route when the route has a CORS policy
    /// (else it is an `OPTIONS` like any other); a WebSocket over HTTP/2 (extended
    /// CONNECT) goes where its HTTP/1.1 form, a GET, would.
    fn find_route<B>(&self, request: &Request<B>) -> Result<Option<usize>, Refusal> {
        let path = request.uri().path();
        let find = |method: &http::Method| {
            self.router
                .find(request.uri(), request.headers(), method, path)
        };
        if let Some(asked) = cors::preflight_method(request)
            && let Some(index) = find(&asked)?
            && self
                .core
                .config
                .routes
                .get(index)
                .is_some_and(|r| r.cors.is_some())
        {
            return Ok(Some(index));
        }
        if upgrade::is_extended_connect(request) {
            return find(&http::Method::GET);
        }
        find(request.method())
    }
}

/// Puts the client certificate a trusted proxy forwarded into the request's extensions
/// (RFC 8705 certificate-bound tokens), unless the gateway's own TLS verified one. Refused if the header came from any other peer,
/// or twice: anyone can send a header, so it is believed only from the proxy that
/// terminated TLS.
fn take_client_certificate<B>(
    config: &Config,
    request: &mut Request<B>,
    peer: SocketAddr,
) -> Result<(), Refusal> {
    let Some(mtls) = &config.mtls else {
        return Ok(());
    };
    // The certificate this gateway's own TLS verified comes first: a header cannot
    // replace it, and is removed so the upstream does not read it either.
    if request.extensions().get::<ClientCertificate>().is_some() {
        request.headers_mut().remove(&mtls.header);
        return Ok(());
    }
    let mut values = request.headers().get_all(&mtls.header).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Ok(()),
        (Some(value), None) => value,
        (Some(_), Some(_)) => return Err(Refusal::UntrustedCertificateHeader),
    };
    if !mtls.trusted_proxies.iter().any(|n| n.contains(peer.ip())) {
        return Err(Refusal::UntrustedCertificateHeader);
    }
    if let Some(certificate) = ClientCertificate::from_header(mtls.format, value) {
        request.extensions_mut().insert(certificate);
    }
    Ok(())
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
    if let Some(metadata) = &shared.metadata
        && request.uri().path() == metadata.path
    {
        let response = call(metadata.service.clone(), request).await;
        return Ok(response.map(|body| body.map_err(|never| match never {}).boxed()));
    }
    let mut own_span = None;
    let trace = shared.core.config.tracing.as_ref().map(|config| {
        let started = !trace::has_valid_traceparent(request.headers());
        let trace = trace::ensure(request.headers_mut(), config);
        if config.otlp.is_some() {
            own_span = Some(trace::take_over(request.headers_mut(), trace, started));
        }
        trace.to_hex()
    });
    // Disabled (and free) unless a subscriber wants debug spans of this crate. With an
    // exporter, the span's ids are the ones the upstream is told.
    let span = tracing::debug_span!(
        "request",
        trace_id = trace.as_deref(),
        span_id = own_span.as_ref().map(|own| own.span_id.as_str()),
        parent_span_id = own_span.as_ref().and_then(|own| own.parent_id.as_deref()),
        sampled = own_span.as_ref().map(|own| own.sampled),
        route = Empty,
        decision = Empty,
        reason = Empty,
        status = Empty,
        issuer = Empty,
        key_id = Empty,
    );
    // Who the token was, for the access log and the span, only when one of them reads it.
    let identity = (shared.core.config.access_log || !span.is_disabled()).then(|| {
        let slot = IdentitySlot::default();
        request.extensions_mut().insert(slot.clone());
        slot
    });
    // Only what the access log reads is kept: the method and the path, never the query.
    let access = identity
        .as_ref()
        .filter(|_| shared.core.config.access_log)
        .map(|slot| {
            (
                request.method().clone(),
                request.uri().path().to_owned(),
                slot.clone(),
            )
        });
    let grpc = is_grpc(request.headers());
    let route = shared.route(&mut request, peer);
    let (route, response) = match route {
        Err(rejection) => (None, shared.core.refuse(rejection, grpc)),
        Ok(index) => {
            request.extensions_mut().insert(ClientAddr(peer));
            // tower-http answers every OPTIONS as a preflight; one that is not goes
            // past the CORS layer, to the route's own.
            let preflight = cors::preflight_method(&request).is_some();
            let through_cors = request.method() != http::Method::OPTIONS || preflight;
            let mut response = async {
                match shared.routes[index].clone() {
                    RouteService::Anonymous(service) => call(service, request).await,
                    RouteService::Protected(service) => call(service, request).await,
                    RouteService::AnonymousCors(service) if through_cors => {
                        call(service, request).await
                    }
                    RouteService::ProtectedCors(service) if through_cors => {
                        call(service, request).await
                    }
                    RouteService::AnonymousCors(service) => {
                        call(service.into_inner(), request).await
                    }
                    RouteService::ProtectedCors(service) => {
                        call(service.into_inner(), request).await
                    }
                }
            }
            .instrument(span.clone())
            .await;
            // Answered by the CORS layer itself (no outcome, no rejection): a preflight
            // on a route with a CORS policy, not a refusal.
            if preflight
                && response.extensions().get::<Outcome>().is_none()
                && response
                    .extensions()
                    .get::<portcullis::Rejection>()
                    .is_none()
            {
                response
                    .extensions_mut()
                    .insert(Outcome(Reason::CorsPreflight));
            }
            (Some(index), response)
        }
    };
    let (reason, route_name, elapsed_us) = record_answer(
        &shared,
        route,
        start,
        &response,
        access.as_ref(),
        peer.ip(),
        trace.as_deref().unwrap_or(""),
    );
    if !span.is_disabled() {
        span.record("route", route_name);
        span.record("decision", reason.decision());
        span.record("reason", reason.label());
        span.record("status", response.status().as_u16());
        if let Some(claims) = identity.as_ref().and_then(IdentitySlot::claims) {
            span.record("issuer", claims.issuer().unwrap_or(""));
            if let portcullis_jwt::VerifiedBy::Jwt {
                key_id: Some(key_id),
                ..
            } = claims.verified_by()
            {
                span.record("key_id", &**key_id);
            }
        }
    }
    if reason.decision() != "deny" {
        tracing::debug!(
            route = route_name,
            decision = reason.decision(),
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
