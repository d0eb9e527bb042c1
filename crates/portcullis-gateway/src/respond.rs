//! The gateway's own answers, for what is not authentication: no route, an ambiguous
//! path, a body too large, upstream failures. gRPC callers get trailers-only responses,
//! like the `portcullis` layers give them for authentication failures.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

use crate::Body;
use crate::metrics::Reason;

/// Why the gateway answered itself instead of the upstream, outside authentication
/// (whose refusals the `portcullis` layers build).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    NoRoute,
    BadPath(&'static str),
    /// The client certificate header came from a peer that is not a trusted proxy.
    UntrustedCertificateHeader,
    /// The request target's host and the `Host` header differ (routes name hosts).
    AmbiguousHost,
    BodyTooLarge,
    UpstreamError,
    UpstreamTimeout,
    /// An HTTP/2 extended CONNECT (RFC 8441) for a protocol the route does not allow:
    /// unlike an HTTP/1.1 `Upgrade`, it cannot be ignored.
    UpgradeNotAllowed,
}

/// gRPC status codes the gateway uses.
mod grpc {
    pub(super) const INVALID_ARGUMENT: u8 = 3;
    pub(super) const DEADLINE_EXCEEDED: u8 = 4;
    pub(super) const RESOURCE_EXHAUSTED: u8 = 8;
    pub(super) const UNIMPLEMENTED: u8 = 12;
    pub(super) const UNAVAILABLE: u8 = 14;
}

impl Refusal {
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Refusal::NoRoute => Reason::NoRoute,
            Refusal::BadPath(_) => Reason::BadPath,
            Refusal::UntrustedCertificateHeader | Refusal::AmbiguousHost => Reason::InvalidRequest,
            Refusal::BodyTooLarge => Reason::BodyTooLarge,
            Refusal::UpstreamError => Reason::UpstreamError,
            Refusal::UpstreamTimeout => Reason::UpstreamTimeout,
            Refusal::UpgradeNotAllowed => Reason::UpgradeNotAllowed,
        }
    }

    /// HTTP status, gRPC status and a short client-safe message.
    fn parts(&self) -> (StatusCode, u8, &'static str) {
        match self {
            Refusal::NoRoute => (StatusCode::NOT_FOUND, grpc::UNIMPLEMENTED, "no route"),
            Refusal::BadPath(why) => (StatusCode::BAD_REQUEST, grpc::INVALID_ARGUMENT, why),
            Refusal::UntrustedCertificateHeader => (
                StatusCode::BAD_REQUEST,
                grpc::INVALID_ARGUMENT,
                "a client certificate header from a peer that is not a trusted proxy",
            ),
            Refusal::AmbiguousHost => (
                StatusCode::BAD_REQUEST,
                grpc::INVALID_ARGUMENT,
                "the Host header and the request target name different hosts",
            ),
            Refusal::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                grpc::RESOURCE_EXHAUSTED,
                "the request body is too large",
            ),
            Refusal::UpstreamError => (
                StatusCode::BAD_GATEWAY,
                grpc::UNAVAILABLE,
                "the upstream failed",
            ),
            Refusal::UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                grpc::DEADLINE_EXCEEDED,
                "the upstream did not answer in time",
            ),
            Refusal::UpgradeNotAllowed => (
                StatusCode::NOT_IMPLEMENTED,
                grpc::UNIMPLEMENTED,
                "this route does not carry that protocol",
            ),
        }
    }

    /// The response for a plain HTTP caller, or a trailers-only gRPC response (the
    /// library's, as its layers answer).
    pub(crate) fn into_response(self, grpc: bool) -> Response<Body> {
        let (status, grpc_status, message) = self.parts();
        if grpc {
            return portcullis::grpc::trailers_only(grpc_status, message);
        }
        let mut response = Response::new(full(format!("{message}\n")));
        *response.status_mut() = status;
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        response
    }
}

pub(crate) fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A plain response from the operations endpoints.
pub(crate) fn plain(
    status: StatusCode,
    content_type: &'static str,
    text: impl Into<Bytes>,
) -> Response<Body> {
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_refusals() {
        let r = Refusal::NoRoute.into_response(false);
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
        let r = Refusal::UpstreamTimeout.into_response(true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["grpc-status"], "4");
        assert_eq!(r.headers()["content-type"], "application/grpc");
    }
}
