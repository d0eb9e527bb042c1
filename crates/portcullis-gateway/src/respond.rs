//! The gateway's own answers: RFC 6750 challenges, and gRPC trailers-only errors for gRPC
//! callers.
//!
//! This mirrors what the `portcullis` layers answer; once that crate is merged, its
//! response builders replace this module so the gateway and the library answer alike.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};

use crate::Body;
use crate::metrics::Reason;

/// Why the gateway answered itself instead of the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Rejection {
    NoRoute,
    BadPath(&'static str),
    InvalidRequest(&'static str),
    MissingToken,
    InvalidToken(&'static str),
    InsufficientScope(String),
    ClaimMismatch,
    Unavailable(Duration),
    BodyTooLarge,
    UpstreamError,
    UpstreamTimeout,
}

/// gRPC status codes the gateway uses.
mod grpc {
    pub(super) const INVALID_ARGUMENT: u8 = 3;
    pub(super) const DEADLINE_EXCEEDED: u8 = 4;
    pub(super) const PERMISSION_DENIED: u8 = 7;
    pub(super) const RESOURCE_EXHAUSTED: u8 = 8;
    pub(super) const UNIMPLEMENTED: u8 = 12;
    pub(super) const UNAVAILABLE: u8 = 14;
    pub(super) const UNAUTHENTICATED: u8 = 16;
}

impl Rejection {
    pub(crate) fn reason(&self) -> Reason {
        match self {
            Rejection::NoRoute => Reason::NoRoute,
            Rejection::BadPath(_) => Reason::BadPath,
            Rejection::InvalidRequest(_) => Reason::InvalidRequest,
            Rejection::MissingToken => Reason::MissingToken,
            Rejection::InvalidToken(_) => Reason::InvalidToken,
            Rejection::InsufficientScope(_) => Reason::InsufficientScope,
            Rejection::ClaimMismatch => Reason::ClaimMismatch,
            Rejection::Unavailable(_) => Reason::IssuerUnavailable,
            Rejection::BodyTooLarge => Reason::BodyTooLarge,
            Rejection::UpstreamError => Reason::UpstreamError,
            Rejection::UpstreamTimeout => Reason::UpstreamTimeout,
        }
    }

    /// HTTP status, gRPC status and a short client-safe message.
    fn parts(&self) -> (StatusCode, u8, &str) {
        match self {
            Rejection::NoRoute => (StatusCode::NOT_FOUND, grpc::UNIMPLEMENTED, "no route"),
            Rejection::BadPath(why) => (StatusCode::BAD_REQUEST, grpc::INVALID_ARGUMENT, why),
            Rejection::InvalidRequest(why) => (StatusCode::BAD_REQUEST, grpc::UNAUTHENTICATED, why),
            Rejection::MissingToken => (
                StatusCode::UNAUTHORIZED,
                grpc::UNAUTHENTICATED,
                "a bearer token is required",
            ),
            Rejection::InvalidToken(why) => (StatusCode::UNAUTHORIZED, grpc::UNAUTHENTICATED, why),
            Rejection::InsufficientScope(_) => (
                StatusCode::FORBIDDEN,
                grpc::PERMISSION_DENIED,
                "the token lacks a required scope",
            ),
            Rejection::ClaimMismatch => (
                StatusCode::FORBIDDEN,
                grpc::PERMISSION_DENIED,
                "the token does not meet the route's claim requirement",
            ),
            Rejection::Unavailable(_) => (
                StatusCode::SERVICE_UNAVAILABLE,
                grpc::UNAVAILABLE,
                "the token issuer is unavailable",
            ),
            Rejection::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                grpc::RESOURCE_EXHAUSTED,
                "the request body is too large",
            ),
            Rejection::UpstreamError => (
                StatusCode::BAD_GATEWAY,
                grpc::UNAVAILABLE,
                "the upstream failed",
            ),
            Rejection::UpstreamTimeout => (
                StatusCode::GATEWAY_TIMEOUT,
                grpc::DEADLINE_EXCEEDED,
                "the upstream did not answer in time",
            ),
        }
    }

    /// The RFC 6750 challenge, if this rejection carries one.
    fn challenge(&self, realm: &str, metadata: Option<&str>) -> Option<String> {
        let metadata = metadata
            .map(|url| format!(", resource_metadata=\"{}\"", quote_safe(url)))
            .unwrap_or_default();
        let with_error = |code: &str, description: &str| {
            format!(
                "Bearer realm=\"{realm}\"{metadata}, error=\"{code}\", error_description=\"{}\"",
                quote_safe(description)
            )
        };
        match self {
            Rejection::MissingToken => Some(format!("Bearer realm=\"{realm}\"{metadata}")),
            Rejection::InvalidRequest(why) => Some(with_error("invalid_request", why)),
            Rejection::InvalidToken(why) => Some(with_error("invalid_token", why)),
            Rejection::InsufficientScope(scope) => Some(format!(
                "{}, scope=\"{}\"",
                with_error("insufficient_scope", "the token lacks a required scope"),
                quote_safe(scope)
            )),
            Rejection::ClaimMismatch => Some(with_error(
                "insufficient_scope",
                "the token does not meet the route's claim requirement",
            )),
            _ => None,
        }
    }

    /// The response for a plain HTTP caller, or a trailers-only gRPC response.
    pub(crate) fn into_response(
        self,
        realm: &str,
        metadata: Option<&str>,
        grpc: bool,
    ) -> Response<Body> {
        let (status, grpc_status, message) = self.parts();
        let challenge = self.challenge(realm, metadata);
        let mut builder = Response::builder();
        if let Some(challenge) = challenge
            && let Ok(value) = HeaderValue::from_str(&challenge)
        {
            builder = builder.header(header::WWW_AUTHENTICATE, value);
        }
        if let Rejection::Unavailable(retry) = self {
            builder = builder.header(header::RETRY_AFTER, retry.as_secs().max(1));
        }
        let response = if grpc {
            builder
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/grpc")
                .header("grpc-status", u16::from(grpc_status))
                .header("grpc-message", message)
                .body(empty())
        } else {
            builder
                .status(status)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(full(format!("{message}\n")))
        };
        response.unwrap_or_else(|_| {
            let mut fallback = Response::new(empty());
            *fallback.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            fallback
        })
    }
}

/// Descriptions are static ASCII we write ourselves, but keep the quoting honest anyway.
fn quote_safe(text: &str) -> String {
    text.chars()
        .filter(|c| *c != '"' && *c != '\\' && (' '..='~').contains(c))
        .collect()
}

pub(crate) fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed()
}

pub(crate) fn empty() -> Body {
    full(Bytes::new())
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
    fn challenges() {
        let r = Rejection::InsufficientScope("read write".into()).into_response("api", None, false);
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\", error=\"insufficient_scope\", \
             error_description=\"the token lacks a required scope\", scope=\"read write\""
        );
        let r = Rejection::MissingToken.into_response("api", None, false);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"api\""
        );
        let r = Rejection::Unavailable(Duration::from_secs(5)).into_response("api", None, false);
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
    }

    #[test]
    fn grpc_is_trailers_only() {
        let r = Rejection::MissingToken.into_response("api", None, true);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["grpc-status"], "16");
        assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
        let r = Rejection::InsufficientScope("w".into()).into_response("api", None, true);
        assert_eq!(r.headers()["grpc-status"], "7");
    }
}
