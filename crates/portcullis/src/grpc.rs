//! gRPC: refusals of requests with `content-type: application/grpc*` are trailers-only
//! gRPC responses (HTTP 200 with `grpc-status` 16 `UNAUTHENTICATED`, 7
//! `PERMISSION_DENIED` or 14 `UNAVAILABLE`, a percent-encoded `grpc-message`, and the
//! `www-authenticate` challenge as metadata). The layers do this by themselves; put
//! them in `tonic::transport::Server::builder().layer(..)`.
//!
//! Handlers read the claims from the request's extensions, which tonic carries over:
//! `request.extensions().get::<Claims>()`, or [`RequestExt::claims`] with feature
//! `tonic`.

use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, Response};

use crate::ResponseBody;

#[cfg(feature = "tonic")]
pub use self::tonic_ext::RequestExt;

/// Whether a request is a gRPC request: `content-type: application/grpc`, or one of
/// its variants (`application/grpc+proto`, `application/grpc-web`...). Its refusals
/// must be trailers-only responses, since gRPC clients ignore the HTTP status.
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// A trailers-only gRPC response: HTTP 200, `content-type: application/grpc`,
/// `grpc-status: code` and `message` as a percent-encoded `grpc-message`. What the
/// layers answer gRPC callers with, for answers of your own (a gateway's "no route").
pub fn trailers_only<B: ResponseBody>(code: u8, message: &str) -> Response<B> {
    let mut response = Response::new(B::empty());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", HeaderValue::from(u16::from(code)));
    if let Ok(message) = HeaderValue::from_str(&percent_encode(message)) {
        headers.insert("grpc-message", message);
    }
    response
}

/// gRPC's `grpc-message` encoding: bytes outside `0x20..=0x7E`, and `%`, as `%XX`.
fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for b in message.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(feature = "tonic")]
mod tonic_ext {
    use portcullis_jwt::Claims;

    /// Reading the verified claims from a `tonic::Request`.
    pub trait RequestExt {
        /// The claims the authentication layer verified, if any.
        fn claims(&self) -> Option<&Claims>;
    }

    impl<T> RequestExt for tonic::Request<T> {
        fn claims(&self) -> Option<&Claims> {
            self.extensions().get::<Claims>()
        }
    }
}

#[cfg(feature = "tonic")]
impl<S: tonic::server::NamedService, R> tonic::server::NamedService for crate::RequireScopes<S, R> {
    /// Per-service scopes: `add_service(require.layer(MyServiceServer::new(..)))`.
    const NAME: &'static str = S::NAME;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_encoded() {
        assert_eq!(percent_encode("100% ok\né"), "100%25 ok%0A%C3%A9");
        let response = trailers_only::<String>(12, "no route\n");
        assert_eq!(response.status(), http::StatusCode::OK);
        assert_eq!(response.headers()["grpc-status"], "12");
        assert_eq!(response.headers()["grpc-message"], "no route%0A");
        assert!(response.body().is_empty());
    }

    #[test]
    fn grpc_requests_by_content_type() {
        let mut headers = HeaderMap::new();
        assert!(!is_grpc(&headers));
        for (value, grpc) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc-web", true),
            ("application/json", false),
        ] {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(value));
            assert_eq!(is_grpc(&headers), grpc, "{value}");
        }
    }
}
