//! The HTTP decision endpoint (nginx `auth_request`, Traefik ForwardAuth, Caddy
//! `forward_auth`, Envoy's HTTP ext_authz).
//!
//! A decision request says what the original request was (method, URI, host: in
//! headers, or in its own request line); the original's headers (`Authorization`,
//! `DPoP`, cookies) come along. Answers are `200` with the claim headers for the proxy
//! to copy upstream, or the library's refusal; never a `2xx` for a refusal, which the
//! proxy in front would read as "allow" (so never a gRPC trailers-only answer either).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method, Request, Response, Uri};

use super::record::{DecisionRecord, FrontDoor};
use super::{headers_to_remove, not_set, route_and_decide};
use crate::Body;
use crate::config::{DecisionSource, HttpDecisionConfig};
use crate::proxy::GatewayState;
use crate::respond::Refusal;

/// How an HTTP authorization service tells Envoy which request headers to remove
/// before forwarding (the gRPC API's `headers_to_remove`).
const ENVOY_HEADERS_TO_REMOVE: HeaderName =
    HeaderName::from_static("x-envoy-auth-headers-to-remove");

/// The original request a decision request describes, or why it describes none.
fn original<B>(
    decision: &HttpDecisionConfig,
    request: Request<B>,
) -> Result<Request<B>, &'static str> {
    let (mut parts, body) = request.into_parts();
    let header = |name: &Option<http::HeaderName>| {
        name.as_ref()
            .and_then(|name| parts.headers.get(name))
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let (method, target) = match decision.source {
        DecisionSource::RequestLine => {
            let path_and_query = parts.uri.path_and_query().map_or("/", |pq| pq.as_str());
            let rest = path_and_query
                .strip_prefix(decision.path_prefix.as_str())
                .filter(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
                .ok_or("the decision path is not under the configured prefix")?;
            let rest = if rest.is_empty() || rest.starts_with('?') {
                format!("/{rest}")
            } else {
                rest.to_owned()
            };
            (parts.method.clone(), rest)
        }
        DecisionSource::Forwarded | DecisionSource::Original => {
            let method = header(&decision.method_header)
                .ok_or("the original method is missing")?
                .parse::<Method>()
                .map_err(|_| "the original method is malformed")?;
            let target = header(&decision.uri_header).ok_or("the original URI is missing")?;
            (method, target)
        }
    };
    let uri: Uri = target
        .parse()
        .map_err(|_| "the original URI is malformed")?;
    if uri.scheme().is_some() || !uri.path().starts_with('/') {
        return Err("the original URI must be a path (origin-form)");
    }
    if let Some(host) = header(&decision.host_header) {
        let host = HeaderValue::from_str(&host).map_err(|_| "the original host is malformed")?;
        parts.headers.insert(HOST, host);
    }
    for name in [
        &decision.method_header,
        &decision.uri_header,
        &decision.host_header,
    ]
    .into_iter()
    .flatten()
    {
        parts.headers.remove(name);
    }
    // A decision is read by the proxy in front as a status: never answer as gRPC
    // (trailers-only, HTTP 200), whatever the original request was.
    parts.headers.remove(CONTENT_TYPE);
    parts.method = method;
    parts.uri = uri;
    Ok(Request::from_parts(parts, body))
}

/// One decision request: the original rebuilt, routed and decided as the proxy would.
pub(crate) async fn handle<B: Send + 'static>(
    shared: Arc<GatewayState>,
    request: Request<B>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let mut record = DecisionRecord::start(FrontDoor::Http);
    let Some(decision) = (shared.core.config.decision.as_ref()).and_then(|d| d.http.as_ref())
    else {
        return Ok(Refusal::NoRoute.into_response(false));
    };
    let forward = &shared.core.config.forward;
    let (route, mut response, remove) = match original(decision, request) {
        Err(why) => (
            None,
            shared.core.refuse(Refusal::BadPath(why), false),
            Vec::new(),
        ),
        Ok(mut request) => {
            record.original(&shared, &mut request);
            // Envoy removes what the decision names; the other proxies have their own
            // settings for it (docs/decision/).
            let remove = if decision.source == DecisionSource::RequestLine {
                headers_to_remove(request.headers(), forward)
            } else {
                Vec::new()
            };
            let (route, response) = route_and_decide(&shared, request, peer).await;
            (route, response, remove)
        }
    };
    if response.status().is_success() {
        let names: Vec<&str> = not_set(&remove, response.headers())
            .map(HeaderName::as_str)
            .collect();
        if !names.is_empty()
            && let Ok(value) = HeaderValue::from_str(&names.join(", "))
        {
            response
                .headers_mut()
                .insert(ENVOY_HEADERS_TO_REMOVE, value);
        }
    }
    record.finish(&shared, route, peer.ip(), &response);
    Ok(response)
}
