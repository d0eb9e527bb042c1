//! gRPC: refusals of requests with `content-type: application/grpc*` are trailers-only
//! gRPC responses (HTTP 200 with `grpc-status` 16 `UNAUTHENTICATED`, 7
//! `PERMISSION_DENIED` or 14 `UNAVAILABLE`, a percent-encoded `grpc-message`, and the
//! `www-authenticate` challenge as metadata). The layers do this by themselves; put
//! them in `tonic::transport::Server::builder().layer(..)`.
//!
//! Handlers read the claims from the request's extensions, which tonic carries over:
//! `request.extensions().get::<Claims>()`, or [`RequestExt::claims`] with feature
//! `tonic`.

#[cfg(feature = "tonic")]
pub use self::tonic_ext::RequestExt;

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
