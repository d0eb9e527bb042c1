//! The decision service: the gateway's policy answering a proxy in front of the
//! upstream instead of proxying. Two front doors share it: an HTTP endpoint ([`http_endpoint`]:
//! nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`, Envoy's HTTP
//! ext_authz) and Envoy's ext_authz over gRPC ([`ext_authz`]:
//! `envoy.service.auth.v3.Authorization/Check`, also Istio `CUSTOM`, Contour, Envoy
//! Gateway).
//!
//! Each rebuilds the original request from what its protocol says, and runs the route
//! table and the same `portcullis` layers as the proxy, with [`Decide`] at the end
//! instead of the upstream. Refusals are the library's, status and challenge as the
//! proxy would send them.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{AUTHORIZATION, UPGRADE};
use http::{HeaderMap, HeaderName, Request, Response, StatusCode};
use portcullis::Authentication;
use portcullis_jwt::Claims;
use tower_service::Service;

use crate::Body;
use crate::access_log::RecordIdentity;
use crate::auth::IssuerSet;
use crate::config::ForwardConfig;
use crate::metrics::Reason;
use crate::proxy::{Outcome, ProxyCore, call, insert_claim_headers};
use crate::respond::{Refusal, full};

pub(crate) mod ext_authz;
pub(crate) mod http_endpoint;
mod protobuf_json;
mod record;

/// The end of a decision route: `200`, with the claim headers when the route is
/// authenticated.
#[derive(Debug, Clone)]
pub(crate) struct Decide {
    core: Arc<ProxyCore>,
    anonymous: bool,
}

impl Decide {
    pub(crate) fn new(core: Arc<ProxyCore>, anonymous: bool) -> Decide {
        Decide { core, anonymous }
    }
}

impl<B> Service<Request<B>> for Decide {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Ready<Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let mut response = Response::new(full(""));
        let reason = if self.anonymous {
            Reason::Anonymous
        } else {
            if let Some(claims) = request.extensions().get::<Claims>() {
                insert_claim_headers(response.headers_mut(), &self.core.config.forward, claims);
                // For the gRPC front door's dynamic metadata (the HTTP one has no use for
                // it): a reference-count bump.
                response.extensions_mut().insert(claims.clone());
            }
            Reason::Authorized
        };
        response.extensions_mut().insert(Outcome(reason));
        ready(Ok(response))
    }
}

/// An authenticated decision route: the same layers as the proxy's, then [`Decide`].
pub(crate) type ProtectedDecision =
    Authentication<RecordIdentity<portcullis::RequireScopes<Decide>>, IssuerSet>;

/// One route's decision service.
#[derive(Debug, Clone)]
pub(crate) enum DecisionRoute {
    Anonymous(Decide),
    Protected(ProtectedDecision),
}

impl DecisionRoute {
    /// Decides `request` (any body: the HTTP front door's, or none for gRPC).
    pub(crate) async fn decide<B: Send + 'static>(self, request: Request<B>) -> Response<Body> {
        match self {
            DecisionRoute::Anonymous(service) => call(service, request).await,
            DecisionRoute::Protected(service) => call(service, request).await,
        }
    }
}

/// The inbound headers the upstream must not see, as the proxy removes them: the
/// look-alikes of every header the gateway sets, and `Authorization` unless forwarded.
/// Empty (no allocation) for a clean request.
pub(crate) fn headers_to_remove(headers: &HeaderMap, forward: &ForwardConfig) -> Vec<HeaderName> {
    let mut remove: Vec<HeaderName> = headers
        .keys()
        .filter(|name| forward.is_spoofed(name))
        .cloned()
        .collect();
    if !forward.forward_authorization && headers.contains_key(AUTHORIZATION) {
        remove.push(AUTHORIZATION);
    }
    remove
}

/// Those of `remove` that the decision does not set: a header being set replaces the
/// inbound copies already, and one also named for removal could be removed after it is
/// set.
pub(crate) fn not_set<'a>(
    remove: &'a [HeaderName],
    set: &'a HeaderMap,
) -> impl Iterator<Item = &'a HeaderName> {
    remove.iter().filter(|name| !set.contains_key(*name))
}

/// Whether the original asks to switch protocols (`Upgrade`, whether or not the proxy
/// in front passed `Connection` on) to one its route does not allow (`upgrades`). The
/// gateway's proxy would not switch there, but the proxy in front switches on any
/// `2xx` decision, so the decision refuses it. `h2c` is not counted: it would switch
/// the client's own connection to the proxy in front (to HTTP/2), not open a tunnel to
/// the upstream, and clients such as `curl --http2` offer it on every cleartext
/// request.
pub(crate) fn upgrade_not_allowed<B>(
    request: &Request<B>,
    policy: Option<&crate::config::UpgradePolicy>,
) -> bool {
    let offered = request.headers().get_all(UPGRADE);
    let tunnelling = |value: &http::HeaderValue| {
        value.to_str().map_or(true, |value| {
            value
                .split(',')
                .map(str::trim)
                .any(|protocol| !protocol.is_empty() && !is_h2c(protocol))
        })
    };
    if !offered.iter().any(tunnelling) {
        return false;
    }
    let Some(policy) = policy else { return true };
    !offered.iter().all(|value| {
        value.to_str().is_ok_and(|value| {
            value
                .split(',')
                .map(str::trim)
                .filter(|protocol| !protocol.is_empty() && !is_h2c(protocol))
                .all(|protocol| policy.allows(protocol))
        })
    })
}

fn is_h2c(protocol: &str) -> bool {
    protocol.eq_ignore_ascii_case("h2c")
}

/// Routes the rebuilt original `request` as the proxy would and decides it: the
/// route's index, if any, and the decision (403 for no route, the refusal otherwise).
pub(crate) async fn route_and_decide<B: Send + 'static>(
    shared: &crate::proxy::GatewayState,
    mut request: Request<B>,
    peer: std::net::SocketAddr,
) -> (Option<usize>, Response<Body>) {
    match shared.route(&mut request, peer) {
        Err(Refusal::NoRoute) => (None, forbidden()),
        Err(refusal) => (None, shared.core.refuse(refusal, false)),
        Ok(index) => (Some(index), decide_on_route(shared, index, request).await),
    }
}

/// Decides `request` on route `index`: its layers, then, once they allow it, the
/// route's upgrade policy ([`upgrade_not_allowed`]), as the proxy refuses an upgrade
/// only after authentication.
pub(crate) async fn decide_on_route<B: Send + 'static>(
    shared: &crate::proxy::GatewayState,
    index: usize,
    request: Request<B>,
) -> Response<Body> {
    let policy = (shared.core.config.routes.get(index)).and_then(|route| route.upgrade.as_ref());
    let refuse_upgrade = upgrade_not_allowed(&request, policy);
    let Some(route) = shared.decisions.get(index) else {
        return forbidden();
    };
    let response = route.clone().decide(request).await;
    if refuse_upgrade && response.status().is_success() {
        let mut response = Response::new(full("this route does not carry that protocol\n"));
        *response.status_mut() = StatusCode::FORBIDDEN;
        response
            .extensions_mut()
            .insert(Outcome(Reason::UpgradeNotAllowed));
        return response;
    }
    response
}

/// An unmatched request: denied, and as 403, not the proxy's 404 (a proxy in front
/// reads anything but 2xx, 401 and 403 as its own error).
pub(crate) fn forbidden() -> Response<Body> {
    let mut response = Response::new(full("no route\n"));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.extensions_mut().insert(Outcome(Reason::NoRoute));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_upgrade_is_refused_unless_the_route_allows_each_protocol() {
        let request = |upgrade: Option<&str>| {
            let mut request = Request::builder().uri("/ws");
            if let Some(upgrade) = upgrade {
                request = request.header(UPGRADE, upgrade);
            }
            request.body(()).unwrap()
        };
        let websocket = crate::config::UpgradePolicy {
            protocols: vec!["websocket".to_owned()],
            max_lifetime: Duration::from_secs(60),
            close_at_token_expiry: true,
        };
        assert!(!upgrade_not_allowed(&request(None), None));
        assert!(upgrade_not_allowed(&request(Some("websocket")), None));
        assert!(!upgrade_not_allowed(
            &request(Some("WebSocket")),
            Some(&websocket)
        ));
        assert!(upgrade_not_allowed(
            &request(Some("foo/2")),
            Some(&websocket)
        ));
        assert!(upgrade_not_allowed(
            &request(Some("websocket, foo")),
            Some(&websocket)
        ));
        // Not a tunnel: the client's own connection to the proxy in front.
        assert!(!upgrade_not_allowed(&request(Some("h2c")), None));
        assert!(!upgrade_not_allowed(
            &request(Some("H2C")),
            Some(&websocket)
        ));
        assert!(!upgrade_not_allowed(
            &request(Some("websocket, h2c")),
            Some(&websocket)
        ));
        assert!(upgrade_not_allowed(&request(Some("h2c, websocket")), None));
    }
}
