//! Envoy's external authorization over gRPC (`envoy.service.auth.v3.Authorization/Check`,
//! the v3 API that Envoy, Istio `CUSTOM` providers, Contour and Envoy Gateway speak).
//!
//! A `CheckRequest` describes the original request in `attributes.request.http`:
//! method, path with query, host and headers. The gateway rebuilds that request,
//! bounded as its own listeners bound a header block, and decides it exactly as the
//! HTTP endpoint does (the route table, then the route's `portcullis` layers). The
//! answer is a `CheckResponse`:
//!
//! - allowed: `google.rpc.Status` `OK` and an `OkHttpResponse` whose `headers` are the
//!   claim headers (overwriting any inbound copy) and whose `headers_to_remove` names
//!   the inbound look-alikes of the headers the gateway owns, and `Authorization`
//!   unless `[forward] authorization = "forward"`;
//! - refused: the status Envoy reads as "deny" (`UNAUTHENTICATED`, `PERMISSION_DENIED`,
//!   `UNAVAILABLE`, `INVALID_ARGUMENT`) and a `DeniedHttpResponse` with the exact HTTP
//!   status, `WWW-Authenticate`, `Retry-After` and `DPoP-Nonce` of the refusal and its
//!   one-line body. Envoy answers a gRPC caller's refusal itself, as trailers-only with
//!   the gRPC status of that HTTP status (401 `UNAUTHENTICATED`, 403
//!   `PERMISSION_DENIED`, 503 `UNAVAILABLE`), so the refusal is always built as HTTP;
//! - both: `dynamic_metadata` with the `decision`, the `reason` (the metrics label),
//!   the `route`, and, when a token was verified, its `claims` (for Envoy RBAC and
//!   access logs).
//!
//! A malformed check is refused, never allowed: no HTTP attributes, an unparsable
//! method or path, a header block over the limit (431).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::address::Address;
use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue as EnvoyHeader, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::authorization_server::{
    Authorization, AuthorizationServer,
};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::{BoolValue, Struct, Value, value::Kind};
use envoy_types::pb::google::rpc;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri};
use http_body_util::BodyExt;
use portcullis_jwt::Claims;
use tower_service::Service;

use super::protobuf_json::json_object;
use super::record::{DecisionRecord, FrontDoor};
use super::{headers_to_remove, not_set, route_and_decide};
use crate::Body;
use crate::config::{ForwardConfig, Limits};
use crate::metrics::Reason;
use crate::proxy::{ClientAddr, GatewayState, Outcome};
use crate::respond::{Refusal, full};

/// The `google.rpc.Code` values a `CheckResponse` carries.
mod code {
    pub(super) const OK: i32 = 0;
    pub(super) const INVALID_ARGUMENT: i32 = 3;
    pub(super) const PERMISSION_DENIED: i32 = 7;
    pub(super) const UNAVAILABLE: i32 = 14;
    pub(super) const UNAUTHENTICATED: i32 = 16;
}

/// The largest `CheckRequest` decoded: the header block the gateway's own listeners
/// accept, and room for the rest of the attributes (addresses, a peer certificate,
/// context extensions). Larger messages are refused by tonic (`RESOURCE_EXHAUSTED`),
/// which Envoy, with `failure_mode_allow: false`, answers as a denial.
fn max_message_bytes(limits: &Limits) -> usize {
    limits.header_block_bytes() + 64 * 1024
}

/// One HTTP/2 request on a gRPC decision listener: `Authorization/Check`, served by
/// the code tonic generated from Envoy's protos; anything else is `UNIMPLEMENTED`.
pub(crate) async fn handle<B>(
    shared: Arc<GatewayState>,
    mut request: Request<B>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError> + Send + 'static,
{
    request.extensions_mut().insert(ClientAddr(peer));
    let limit = max_message_bytes(&shared.core.config.limits);
    let mut server = AuthorizationServer::from_arc(shared).max_decoding_message_size(limit);
    let ready = std::future::poll_fn(|cx| {
        <AuthorizationServer<GatewayState> as Service<Request<B>>>::poll_ready(&mut server, cx)
    });
    if let Err(never) = ready.await {
        match never {}
    }
    let response = match server.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // A unary answer: collected (message and trailers) into a body the listeners can
    // send, since tonic's is not `Sync`.
    let (parts, body) = response.into_parts();
    let body: Body = match body.collect().await {
        Ok(collected) => collected.map_err(|never| match never {}).boxed(),
        Err(status) => {
            tracing::warn!(%status, "ext_authz response failed");
            return Ok(portcullis::grpc::trailers_only(
                // 13: INTERNAL, for a code that is not one (tonic has none such).
                u8::try_from(i32::from(status.code())).unwrap_or(13),
                status.message(),
            ));
        }
    };
    Ok(Response::from_parts(parts, body))
}

#[tonic::async_trait]
impl Authorization for GatewayState {
    async fn check(
        &self,
        request: tonic::Request<CheckRequest>,
    ) -> Result<tonic::Response<CheckResponse>, tonic::Status> {
        // Put there by `handle`; without it the proxy's address is unknown, and the
        // certificate header could not be judged.
        let Some(ClientAddr(peer)) = request.extensions().get::<ClientAddr>().copied() else {
            return Err(tonic::Status::internal("no peer address"));
        };
        Ok(tonic::Response::new(
            decide(self, request.into_inner(), peer).await,
        ))
    }
}

/// Why a `CheckRequest` describes no request the gateway will decide.
#[derive(Debug, PartialEq, Eq)]
enum Malformed {
    /// 400, `INVALID_ARGUMENT`.
    Invalid(&'static str),
    /// The header block is over the listeners' limit: 431, as the proxy answers.
    TooLarge,
}

/// Decides one check: the original rebuilt, routed and decided as the proxy would.
async fn decide(shared: &GatewayState, check: CheckRequest, peer: SocketAddr) -> CheckResponse {
    let mut record = DecisionRecord::start(FrontDoor::ExtAuthzGrpc);
    let config = &shared.core.config;
    // The client of the original request, as Envoy saw it; else Envoy itself.
    let client = downstream_address(&check).unwrap_or(peer.ip());
    let (route, response, remove) = match original(check, config.limits.header_block_bytes()) {
        Err(Malformed::TooLarge) => (None, headers_too_large(), Vec::new()),
        Err(Malformed::Invalid(why)) => (
            None,
            shared.core.refuse(Refusal::BadPath(why), false),
            Vec::new(),
        ),
        Ok(mut request) => {
            record.original(shared, &mut request);
            let remove = headers_to_remove(request.headers(), &config.forward);
            let (route, response) = route_and_decide(shared, request, peer).await;
            (route, response, remove)
        }
    };
    let reason = record.finish(shared, route, client, &response);
    let route = route
        .and_then(|i| config.routes.get(i))
        .map(|r| r.name.as_str());
    check_response(response, reason, route, remove, &config.forward).await
}

/// The downstream client's address in `check` (`attributes.source`), if Envoy sent one.
fn downstream_address(check: &CheckRequest) -> Option<IpAddr> {
    let address = check
        .attributes
        .as_ref()?
        .source
        .as_ref()?
        .address
        .as_ref()?;
    match address.address.as_ref()? {
        Address::SocketAddress(socket) => socket.address.parse().ok(),
        _ => None,
    }
}

/// The original request of `check`: method, path with query, host and headers, with
/// the header block bounded as the gateway's listeners bound theirs (the HTTP/2 header
/// list size: each header's name and value and 32 bytes).
fn original(check: CheckRequest, max_header_bytes: usize) -> Result<Request<()>, Malformed> {
    let http = check
        .attributes
        .and_then(|attributes| attributes.request)
        .and_then(|request| request.http)
        .ok_or(Malformed::Invalid(
            "the check request has no HTTP request attributes",
        ))?;
    if http.method.is_empty() {
        return Err(Malformed::Invalid("the original method is missing"));
    }
    let method = Method::from_bytes(http.method.as_bytes())
        .map_err(|_| Malformed::Invalid("the original method is malformed"))?;
    let uri: Uri = http
        .path
        .parse()
        .map_err(|_| Malformed::Invalid("the original URI is malformed"))?;
    if uri.scheme().is_some() || !uri.path().starts_with('/') {
        return Err(Malformed::Invalid(
            "the original URI must be a path (origin-form)",
        ));
    }
    let mut headers = HeaderMap::new();
    let mut size = 0usize;
    let mut add = |name: &str, value: &[u8]| {
        size = size.saturating_add(name.len() + value.len() + 32);
        if size > max_header_bytes {
            return Err(Malformed::TooLarge);
        }
        // Envoy lists the pseudo-headers too; the attributes say them already.
        if name.starts_with(':') {
            return Ok(());
        }
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Malformed::Invalid("a header name is malformed"))?;
        let value = HeaderValue::from_bytes(value)
            .map_err(|_| Malformed::Invalid("a header value is malformed"))?;
        headers.append(name, value);
        Ok(())
    };
    // `header_map` (with `encode_raw_headers: true`) keeps repeated headers apart;
    // `headers` has them joined with commas.
    match http.header_map.filter(|map| !map.headers.is_empty()) {
        Some(map) => {
            for header in &map.headers {
                let value = if header.raw_value.is_empty() {
                    header.value.as_bytes()
                } else {
                    &header.raw_value
                };
                add(&header.key, value)?;
            }
        }
        None => {
            for (name, value) in &http.headers {
                add(name, value.as_bytes())?;
            }
        }
    }
    if !http.host.is_empty() {
        let host = HeaderValue::from_str(&http.host)
            .map_err(|_| Malformed::Invalid("the original host is malformed"))?;
        headers.insert(HOST, host);
    }
    // Refusals are built as HTTP answers, whatever the original was: Envoy turns them
    // into gRPC statuses for gRPC callers itself.
    headers.remove(CONTENT_TYPE);
    let mut request = Request::new(());
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.headers_mut() = headers;
    Ok(request)
}

fn headers_too_large() -> Response<Body> {
    let mut response = Response::new(full("request header fields too large\n"));
    *response.status_mut() = StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
    response
        .extensions_mut()
        .insert(Outcome(Reason::InvalidRequest));
    response
}

/// The `CheckResponse` for the decision `response`.
async fn check_response(
    response: Response<Body>,
    reason: Reason,
    route: Option<&str>,
    remove: Vec<HeaderName>,
    forward: &ForwardConfig,
) -> CheckResponse {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let claims = parts.extensions.get::<Claims>();
    let dynamic_metadata = Some(metadata(reason, route, claims));
    if status.is_success() {
        let headers = parts
            .headers
            .iter()
            .filter(|(name, _)| forward.owned_headers().any(|owned| owned == *name))
            .map(|(name, value)| header_option(name, value, false))
            .collect();
        let headers_to_remove = not_set(&remove, &parts.headers)
            .map(|name| name.as_str().to_owned())
            .collect();
        return CheckResponse {
            status: Some(rpc_status(code::OK, String::new())),
            http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
                headers,
                headers_to_remove,
                ..OkHttpResponse::default()
            })),
            dynamic_metadata,
        };
    }
    // The library's refusals and the gateway's are one short line.
    let body = match body.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes()).into_owned(),
        Err(_) => String::new(),
    };
    let mut headers = Vec::with_capacity(parts.headers.len());
    for name in parts.headers.keys().filter(|name| **name != CONTENT_LENGTH) {
        // The first value replaces Envoy's own (its local reply's content type); the
        // others follow it (a `Bearer` and a `DPoP` challenge).
        for (i, value) in parts.headers.get_all(name).iter().enumerate() {
            headers.push(header_option(name, value, i > 0));
        }
    }
    let code = match status {
        StatusCode::UNAUTHORIZED => code::UNAUTHENTICATED,
        StatusCode::SERVICE_UNAVAILABLE => code::UNAVAILABLE,
        StatusCode::BAD_REQUEST | StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            code::INVALID_ARGUMENT
        }
        _ => code::PERMISSION_DENIED,
    };
    CheckResponse {
        status: Some(rpc_status(code, body.trim_end().to_owned())),
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                // Envoy's `type.v3.StatusCode` numbers are the HTTP codes.
                code: i32::from(status.as_u16()),
            }),
            headers,
            body,
        })),
        dynamic_metadata,
    }
}

fn rpc_status(code: i32, message: String) -> rpc::Status {
    rpc::Status {
        code,
        message,
        details: Vec::new(),
    }
}

/// One header for Envoy, replacing the values it has under that name or appended to
/// them. Envoy's ext_authz client reads the deprecated `append` flag, not
/// `append_action` (`copyHeaderFieldIntoResponse` in `ext_authz_grpc_impl.cc`), so
/// both are set and agree; and it reads `value`, never `raw_value`.
#[allow(deprecated)]
fn header_option(name: &HeaderName, value: &HeaderValue, append: bool) -> HeaderValueOption {
    let (append, append_action) = if append {
        (
            Some(BoolValue { value: true }),
            HeaderAppendAction::AppendIfExistsOrAdd,
        )
    } else {
        (None, HeaderAppendAction::OverwriteIfExistsOrAdd)
    };
    HeaderValueOption {
        header: Some(EnvoyHeader {
            key: name.as_str().to_owned(),
            // Claim values are UTF-8 text (a header value may be any bytes, a
            // protobuf string may not).
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
            raw_value: Vec::new(),
        }),
        append,
        append_action: append_action.into(),
        keep_empty_value: false,
    }
}

/// The dynamic metadata of a decision (under `envoy.filters.http.ext_authz` in Envoy).
fn metadata(reason: Reason, route: Option<&str>, claims: Option<&Claims>) -> Struct {
    let mut fields = std::collections::HashMap::new();
    let text = |s: &str| Value {
        kind: Some(Kind::StringValue(s.to_owned())),
    };
    fields.insert("decision".to_owned(), text(reason.decision()));
    fields.insert("reason".to_owned(), text(reason.label()));
    if let Some(route) = route {
        fields.insert("route".to_owned(), text(route));
    }
    // The verified payload, read again here for its members' values (the verifier
    // streamed it and kept the text).
    if let Some(claims) = claims.and_then(|c| json_object(c.payload_json())) {
        fields.insert(
            "claims".to_owned(),
            Value {
                kind: Some(Kind::StructValue(claims)),
            },
        );
    }
    Struct { fields }
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::core::v3::HeaderMap as EnvoyHeaderMap;
    use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
    use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
        HttpRequest, Request as AttributeRequest,
    };
    use http::header::AUTHORIZATION;

    fn check(http: HttpRequest) -> CheckRequest {
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(AttributeRequest {
                    http: Some(http),
                    ..AttributeRequest::default()
                }),
                ..AttributeContext::default()
            }),
        }
    }

    fn get(path: &str, headers: &[(&str, &str)]) -> HttpRequest {
        HttpRequest {
            method: "GET".to_owned(),
            path: path.to_owned(),
            host: "api.example".to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            ..HttpRequest::default()
        }
    }

    #[test]
    fn the_original_comes_from_the_http_attributes() {
        let request = original(
            check(get(
                "/items/7?full=1",
                &[
                    (":authority", "api.example"),
                    (":path", "/items/7?full=1"),
                    ("authorization", "Bearer abc"),
                    ("content-type", "application/grpc"),
                ],
            )),
            65536,
        )
        .unwrap();
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.uri(), "/items/7?full=1");
        assert_eq!(request.headers()[HOST], "api.example");
        assert_eq!(request.headers()[AUTHORIZATION], "Bearer abc");
        assert!(!request.headers().contains_key(CONTENT_TYPE));
        assert_eq!(request.headers().len(), 2);
    }

    #[test]
    fn raw_headers_keep_repeated_values_apart() {
        let mut http = get("/", &[("authorization", "ignored when raw headers come")]);
        http.header_map = Some(EnvoyHeaderMap {
            headers: vec![
                EnvoyHeader {
                    key: "dpop".to_owned(),
                    value: String::new(),
                    raw_value: b"one".to_vec(),
                },
                EnvoyHeader {
                    key: "dpop".to_owned(),
                    value: String::new(),
                    raw_value: b"two".to_vec(),
                },
            ],
        });
        let request = original(check(http), 65536).unwrap();
        assert_eq!(request.headers().get_all("dpop").iter().count(), 2);
        assert!(!request.headers().contains_key(AUTHORIZATION));
    }

    #[test]
    fn malformed_checks_are_refused() {
        let missing = CheckRequest { attributes: None };
        assert!(matches!(
            original(missing, 65536),
            Err(Malformed::Invalid(_))
        ));
        for (method, path) in [
            ("", "/"),
            ("G ET", "/"),
            ("GET", "http://a/b"),
            ("GET", "x"),
        ] {
            let mut http = get(path, &[]);
            http.method = method.to_owned();
            assert!(
                matches!(original(check(http), 65536), Err(Malformed::Invalid(_))),
                "{method} {path}"
            );
        }
        let bad_name = get("/", &[("bad name", "x")]);
        assert!(matches!(
            original(check(bad_name), 65536),
            Err(Malformed::Invalid(_))
        ));
        let big = "x".repeat(1000);
        let many: Vec<(String, String)> = (0..70).map(|i| (format!("h{i}"), big.clone())).collect();
        let mut http = get("/", &[]);
        http.headers = many.into_iter().collect();
        assert_eq!(
            original(check(http), 65536).unwrap_err(),
            Malformed::TooLarge
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever Envoy (or anyone on the port) sends, the check is read without
            /// panicking, and a request comes out only within the header bound.
            #[test]
            fn any_check_is_read_or_refused(
                method in "[A-Z]{0,8}|[ -~]{0,8}",
                path in "/[ -~]{0,40}|[ -~]{0,40}",
                host in "[ -~]{0,20}",
                headers in prop::collection::vec(("[:a-z_-]{0,12}|[ -~]{0,12}", "[ -~]{0,64}|\\PC{0,16}"), 0..24),
                limit in 0usize..2048,
            ) {
                let http = HttpRequest {
                    method,
                    path,
                    host,
                    headers: headers.into_iter().collect(),
                    ..HttpRequest::default()
                };
                if let Ok(request) = original(check(http), limit) {
                    let size: usize = request
                        .headers()
                        .iter()
                        .map(|(n, v)| n.as_str().len() + v.len() + 32)
                        .sum();
                    // The host is Envoy's own field, set after the bound.
                    let host = request.headers().get(HOST).map_or(0, |h| h.len() + 36);
                    prop_assert!(size <= limit + host);
                    prop_assert!(request.uri().path().starts_with('/'));
                    prop_assert!(!request.headers().contains_key(CONTENT_TYPE));
                }
            }
        }
    }

    /// Two challenges (a `Bearer` and a `DPoP` one) both reach the client: Envoy sets
    /// the first and appends the second.
    #[tokio::test]
    async fn repeated_refusal_headers_are_appended() {
        let mut response = Response::new(full("invalid_token: expired\n"));
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        let headers = response.headers_mut();
        headers.append(
            "www-authenticate",
            HeaderValue::from_static("Bearer realm=\"a\""),
        );
        headers.append(
            "www-authenticate",
            HeaderValue::from_static("DPoP algs=\"ES256\""),
        );
        headers.insert(CONTENT_LENGTH, HeaderValue::from_static("23"));
        let forward = ForwardConfig {
            forward_authorization: false,
            claims: Vec::new(),
            array_separator: ",".to_owned(),
            payload_header: None,
        };
        let answer =
            check_response(response, Reason::InvalidToken, None, Vec::new(), &forward).await;
        assert_eq!(answer.status.unwrap().code, code::UNAUTHENTICATED);
        let Some(HttpResponse::DeniedResponse(denied)) = answer.http_response else {
            panic!("a denial")
        };
        #[allow(deprecated)]
        let seen: Vec<(&str, &str, bool)> = denied
            .headers
            .iter()
            .map(|option| {
                let header = option.header.as_ref().unwrap();
                let append = option.append.as_ref().is_some_and(|a| a.value);
                (header.key.as_str(), header.value.as_str(), append)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("www-authenticate", "Bearer realm=\"a\"", false),
                ("www-authenticate", "DPoP algs=\"ES256\"", true),
            ]
        );
        assert_eq!(denied.body, "invalid_token: expired\n");
    }
}
